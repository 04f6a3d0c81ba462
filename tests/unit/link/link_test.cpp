// The link from both ends over a LocalGrantTable: maps (read-only really
// read-only, all or nothing, Xen's status codes, nothing left pinned),
// copies, events both ways, and a sandboxed back-end process that dies
// holding mappings and bindings.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "backend/link/link_client.hpp"
#include "backend/link/local_link_provider.hpp"
#include "backend/sandbox/backend_process.hpp"
#include "link_fixture.hpp"

namespace xenolith::backend::link::test {
namespace {

constexpr DomId kGuest = 5;
constexpr DomId kBackend = 0;

class LinkTest : public ::testing::Test {
protected:
    LocalGrantTable table{kGuest, kBackend, 64, 64};
    LocalLinkProvider provider{table};
    SocketPair sp;
    LinkServer server{sp.server, provider};
    ServerThread loop{server};
    std::unique_ptr<LinkClient> client;

    void SetUp() override {
        auto c = LinkClient::connect(sp.client);
        ASSERT_TRUE(c.ok()) << c.error().what;
        client = std::move(*c);
    }
    std::size_t pins() { return loop.with([&] { return table.pins_held(); }); }
    std::uint16_t flags(GrantRef ref) { return loop.with([&] { return table.flags(ref); }); }
    void grant(GrantRef ref, std::size_t frame, bool readonly) {
        loop.with([&] { table.grant(ref, frame, readonly); });
    }
    bool released() { return loop.until([&] { return table.pins_held() == 0; }); }
};

TEST_F(LinkTest, hello_names_the_front_end_and_its_memory) {
    EXPECT_EQ(client->frontend(), kGuest);
    EXPECT_EQ(client->memory_bytes(), 64 * kXenPageSize);
    EXPECT_TRUE(client->linked());
}

TEST_F(LinkTest, readonly_map_shows_the_guest_page_and_marks_reading_until_unmap) {
    grant(3, 10, true);
    std::memset(table.page(10), 0x5a, kXenPageSize);
    auto [m, st] = client->grants().map(kGuest, std::vector<GrantRef>{3}, false);
    ASSERT_EQ(st, GNTST_okay);
    EXPECT_EQ(m.pages(), 1u);
    EXPECT_EQ(m.data()[100], std::byte{0x5a});
    table.page(10)[7] = std::byte{0x11};
    EXPECT_EQ(m.data()[7], std::byte{0x11}) << "shared memory, not a copy";
    EXPECT_EQ(flags(3), GTF_permit_access | GTF_readonly | GTF_reading);
    EXPECT_EQ(pins(), 1u);
    m.reset();
    ASSERT_TRUE(released());
    EXPECT_EQ(flags(3), GTF_permit_access | GTF_readonly);
}

TEST_F(LinkTest, writable_batch_is_contiguous_and_writes_reach_the_guest) {
    // Frames out of order and with a gap: three runs in one reservation.
    const std::vector<GrantRef> refs{1, 2, 3, 4};
    const std::size_t frames[] = {20, 21, 7, 30};
    for (std::size_t i = 0; i < refs.size(); ++i) grant(refs[i], frames[i], false);
    auto [m, st] = client->grants().map(kGuest, refs, true);
    ASSERT_EQ(st, GNTST_okay);
    ASSERT_EQ(m.pages(), 4u);
    for (std::size_t i = 0; i < refs.size(); ++i) {
        m.data()[i * kXenPageSize + 1] = std::byte(0x40 + i);
        EXPECT_EQ(table.page(frames[i])[1], std::byte(0x40 + i));
        EXPECT_EQ(flags(refs[i]), GTF_permit_access | GTF_reading | GTF_writing);
    }
    m.reset();
    ASSERT_TRUE(released());
    for (GrantRef r : refs) EXPECT_EQ(flags(r), GTF_permit_access);
}

TEST_F(LinkTest, map_failures_carry_xens_codes_and_pin_nothing) {
    grant(1, 1, false);
    grant(2, 2, true);
    auto code = [&](DomId d, std::vector<GrantRef> refs, bool w) {
        return client->grants().map(d, refs, w).second;
    };
    EXPECT_EQ(code(kGuest, {9}, false), GNTST_general_error) << "not granted";
    EXPECT_EQ(code(kGuest + 1, {1}, false), GNTST_bad_domain);
    EXPECT_EQ(code(kGuest, {64}, false), GNTST_bad_gntref);
    EXPECT_EQ(code(kGuest, {0xffffffffu}, false), GNTST_bad_gntref);
    EXPECT_EQ(code(kGuest, {2}, true), GNTST_general_error) << "write to a read-only grant";
    EXPECT_EQ(code(kGuest, {}, false), GNTST_general_error);
    // All or nothing: the two good refs are given back.
    EXPECT_EQ(code(kGuest, {1, 2, 9}, false), GNTST_general_error);
    EXPECT_EQ(pins(), 0u);
    EXPECT_EQ(flags(1), GTF_permit_access);
    EXPECT_EQ(flags(2), GTF_permit_access | GTF_readonly);
    EXPECT_TRUE(client->linked());
}

TEST_F(LinkTest, pin_limit_is_the_maptrack_and_is_all_or_nothing) {
    loop.with([&] { table.set_pin_limit(2); });
    for (GrantRef r = 1; r <= 3; ++r) grant(r, r, false);
    auto [a, st] = client->grants().map(kGuest, std::vector<GrantRef>{1, 2}, false);
    ASSERT_EQ(st, GNTST_okay);
    EXPECT_EQ(client->grants().map(kGuest, std::vector<GrantRef>{3}, false).second, GNTST_no_space);
    EXPECT_EQ(pins(), 2u);
    a.reset();
    ASSERT_TRUE(released());
    auto [b, st2] = client->grants().map(kGuest, std::vector<GrantRef>{3}, false);
    EXPECT_EQ(st2, GNTST_okay);
}

TEST_F(LinkTest, copy_statuses_follow_gnttabop_copy) {
    grant(1, 1, false);
    grant(2, 2, true);
    std::memset(table.page(1), 0x33, kXenPageSize);
    std::memset(table.page(2), 0x44, kXenPageSize);
    std::byte buf[64]{};
    std::byte src[16];
    std::memset(src, 0x77, sizeof src);
    CopyOp ops[7];
    // 0: grant -> local
    ops[0].source = {true, kGuest, 2, 100, nullptr};
    ops[0].dest = {false, 0, 0, 0, buf};
    ops[0].len = 8;
    // 1: local -> grant
    ops[1].source = {false, 0, 0, 0, src};
    ops[1].dest = {true, kGuest, 1, 4000, nullptr};
    ops[1].len = 16;
    // 2: into a read-only grant
    ops[2].source = {false, 0, 0, 0, src};
    ops[2].dest = {true, kGuest, 2, 0, nullptr};
    ops[2].len = 4;
    // 3: past the end of the page
    ops[3].source = {true, kGuest, 1, 4090, nullptr};
    ops[3].dest = {false, 0, 0, 0, buf};
    ops[3].len = 8;
    // 4: another domain
    ops[4].source = {true, kGuest + 1, 1, 0, nullptr};
    ops[4].dest = {false, 0, 0, 0, buf};
    ops[4].len = 8;
    // 5: grant -> grant within the front end
    ops[5].source = {true, kGuest, 2, 0, nullptr};
    ops[5].dest = {true, kGuest, 1, 0, nullptr};
    ops[5].len = 32;
    // 6: a ref never granted
    ops[6].source = {true, kGuest, 40, 0, nullptr};
    ops[6].dest = {false, 0, 0, 0, buf};
    ops[6].len = 8;
    client->grants().copy(ops);
    EXPECT_EQ(ops[0].status, GNTST_okay);
    EXPECT_EQ(buf[0], std::byte{0x44});
    EXPECT_EQ(ops[1].status, GNTST_okay);
    EXPECT_EQ(table.page(1)[4000], std::byte{0x77});
    EXPECT_EQ(table.page(1)[4015], std::byte{0x77});
    EXPECT_EQ(ops[2].status, GNTST_general_error);
    EXPECT_EQ(table.page(2)[0], std::byte{0x44});
    EXPECT_EQ(ops[3].status, GNTST_bad_copy_arg);
    EXPECT_EQ(ops[4].status, GNTST_bad_domain);
    EXPECT_EQ(ops[5].status, GNTST_okay);
    EXPECT_EQ(table.page(1)[31], std::byte{0x44});
    EXPECT_EQ(ops[6].status, GNTST_general_error);
    ASSERT_TRUE(released());
    EXPECT_EQ(flags(1), GTF_permit_access);
    EXPECT_EQ(flags(2), GTF_permit_access | GTF_readonly);
}

TEST_F(LinkTest, copy_of_more_ops_than_one_message_holds) {
    grant(1, 1, false);
    std::vector<std::byte> bufs(300);
    std::vector<CopyOp> ops(300);
    for (std::size_t i = 0; i < ops.size(); ++i) {
        table.page(1)[i % kXenPageSize] = std::byte(i & 0xff);
        ops[i].source = {true, kGuest, 1, static_cast<std::uint16_t>(i), nullptr};
        ops[i].dest = {false, 0, 0, 0, &bufs[i]};
        ops[i].len = 1;
    }
    client->grants().copy(ops);
    for (std::size_t i = 0; i < ops.size(); ++i) {
        ASSERT_EQ(ops[i].status, GNTST_okay) << i;
        ASSERT_EQ(bufs[i], std::byte(i & 0xff)) << i;
    }
    EXPECT_TRUE(released());
}

// Not a benchmark (bench/ will have one): a figure for the report, and a
// check that a map and an unmap stay one message each way.
TEST_F(LinkTest, map_unmap_round_trip_cost) {
    grant(1, 1, false);
    const std::vector<GrantRef> refs{1};
    constexpr int kRounds = 2000;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRounds; ++i) {
        auto [m, st] = client->grants().map(kGuest, refs, false);
        ASSERT_EQ(st, GNTST_okay);
    }
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(released());
    std::printf("map+unmap of one page: %.1f us\n",
                std::chrono::duration<double, std::micro>(t1 - t0).count() / kRounds);
}

bool readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
}

TEST_F(LinkTest, events_flow_both_ways_without_the_socket) {
    const Port gp = provider.alloc_unbound();
    EventChannels& ev = client->evtchn();
    EXPECT_EQ(ev.bind_interdomain(kGuest + 1, gp).second, -ESRCH);
    EXPECT_EQ(ev.bind_interdomain(kGuest, gp + 1).second, -EINVAL);
    auto [port, rc] = ev.bind_interdomain(kGuest, gp);
    ASSERT_EQ(rc, 0);
    EXPECT_EQ(ev.bind_interdomain(kGuest, gp).second, -EINVAL) << "already bound";
    EXPECT_FALSE(ev.pending());

    // Guest -> back-end: the provider's callback writes the pending eventfd.
    EXPECT_EQ(provider.guest_notify(gp), 0);
    ASSERT_TRUE(readable(ev.fd(), 2000));
    EXPECT_EQ(ev.pending(), port);
    EXPECT_FALSE(ev.pending());
    EXPECT_FALSE(readable(ev.fd(), 0));

    // Back-end -> guest: an eventfd write the server forwards.
    EXPECT_EQ(ev.notify(port), 0);
    ASSERT_TRUE(readable(provider.guest_fd(), 2000));
    EXPECT_EQ(provider.guest_pending(), gp);
    EXPECT_EQ(ev.notify(port + 100), -EINVAL);

    ev.unbind(port);
    ASSERT_TRUE(loop.until([&] { return provider.bound() == 0; }));
    EXPECT_EQ(provider.guest_notify(gp), -EINVAL);
    auto again = ev.bind_interdomain(kGuest, gp);
    EXPECT_EQ(again.second, 0) << "the guest's port is unbound again";
}

TEST_F(LinkTest, ports_per_back_end_are_bounded) {
    for (std::size_t i = 0; i < kMaxPortsPerLink; ++i)
        ASSERT_EQ(client->evtchn().bind_interdomain(kGuest, provider.alloc_unbound()).second, 0);
    EXPECT_EQ(client->evtchn().bind_interdomain(kGuest, provider.alloc_unbound()).second, -ENOSPC);
    EXPECT_EQ(provider.bound(), kMaxPortsPerLink);
}

TEST_F(LinkTest, dropping_the_client_releases_everything) {
    grant(1, 1, false);
    const Port gp = provider.alloc_unbound();
    ASSERT_EQ(client->evtchn().bind_interdomain(kGuest, gp).second, 0);
    auto [m, st] = client->grants().map(kGuest, std::vector<GrantRef>{1}, true);
    ASSERT_EQ(st, GNTST_okay);
    // The back-end's end goes away with the mapping and the port held.
    ::shutdown(sp.client, SHUT_RDWR);
    ASSERT_TRUE(loop.until([&] { return !server.connected(); }));
    EXPECT_EQ(pins(), 0u);
    EXPECT_EQ(flags(1), GTF_permit_access);
    EXPECT_EQ(provider.bound(), 0u);
    m.reset();  // its unmap finds the link gone
    EXPECT_FALSE(client->linked());
    EXPECT_EQ(client->grants().map(kGuest, std::vector<GrantRef>{1}, false).second, GNTST_general_error);
    EXPECT_EQ(client->evtchn().bind_interdomain(kGuest, gp).second, -EIO);
}

// A back-end in its own sandboxed process (fork_function: same binary,
// seccomp filter on), reporting through a pipe.
class SandboxedLinkTest : public ::testing::Test {
protected:
    LocalGrantTable table{kGuest, kBackend, 64, 64};
    LocalLinkProvider provider{table};
    SocketPair sp;
    std::unique_ptr<LinkServer> server;
    std::unique_ptr<ServerThread> loop;
    int report[2] = {-1, -1};

    void SetUp() override { ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0); }
    void TearDown() override {
        loop.reset();
        ::close(report[0]);
        if (report[1] >= 0) ::close(report[1]);
    }
    sandbox::BackendProcess start(std::function<int(LinkClient&, int)> body) {
        server = std::make_unique<LinkServer>(sp.server, provider);
        // The server thread starts after the fork: a child forked while
        // another thread holds a lock of ASan's allocator deadlocks in
        // its first allocation (the seccomp filter's).
        auto proc = sandbox::BackendProcess::fork_function(
            {"link-test", {sp.client, report[1]}, {}, {}}, [body] {
                auto c = LinkClient::connect(sandbox::kFirstPassedFd);
                if (!c.ok()) return 90;
                return body(**c, sandbox::kFirstPassedFd + 1);
            });
        EXPECT_TRUE(proc.ok()) << (proc.ok() ? "" : proc.error().what);
        loop = std::make_unique<ServerThread>(*server);
        ::close(sp.client);
        ::close(report[1]);
        report[1] = -1;
        return std::move(*proc);
    }
    // Waits for the child's one-byte report.
    char wait_report() {
        char c = 0;
        if (!readable(report[0], 5000) || ::read(report[0], &c, 1) != 1) return 0;
        return c;
    }
};

void say(int fd, char c) { (void)!::write(fd, &c, 1); }

TEST_F(SandboxedLinkTest, readonly_mapping_is_readonly_in_the_back_end) {
    table.grant(1, 5, true);
    std::memset(table.page(5), 0x21, kXenPageSize);
    auto proc = start([](LinkClient& c, int out) {
        if (c.grants().map(kGuest, std::vector<GrantRef>{1}, true).second != GNTST_general_error)
            return 1;
        auto [m, st] = c.grants().map(kGuest, std::vector<GrantRef>{1}, false);
        if (st != GNTST_okay || m.data()[9] != std::byte{0x21}) return 2;
        say(out, 'r');
        volatile std::byte* p = m.data();
        p[9] = std::byte{0x99};  // must fault
        say(out, 'w');
        return 3;
    });
    EXPECT_EQ(wait_report(), 'r');
    EXPECT_EQ(wait_report(), 0) << "the write went through";
    auto info = proc.wait();
#if defined(__SANITIZE_ADDRESS__)
    // ASan catches the fault itself and exits with an error.
    EXPECT_TRUE(info.signaled || info.code != 0) << info.describe();
#else
    EXPECT_TRUE(info.signaled) << info.describe();
    EXPECT_EQ(info.code, SIGSEGV) << info.describe();
#endif
    EXPECT_EQ(table.page(5)[9], std::byte{0x21});
    // The back-end died holding the mapping: the server gives it back.
    ASSERT_TRUE(loop->until([&] { return !server->connected(); }));
    EXPECT_EQ(loop->with([&] { return table.pins_held(); }), 0u);
    EXPECT_EQ(loop->with([&] { return table.flags(1); }), GTF_permit_access | GTF_readonly);
}

TEST_F(SandboxedLinkTest, back_end_death_releases_its_mappings_and_bindings) {
    for (GrantRef r = 1; r <= 8; ++r) table.grant(r, r, false);
    const Port gp = provider.alloc_unbound();
    auto proc = start([gp](LinkClient& c, int out) {
        auto [m, st] = c.grants().map(kGuest, std::vector<GrantRef>{1, 2, 3, 4, 5, 6, 7, 8}, true);
        if (st != GNTST_okay) return 1;
        auto [port, rc] = c.evtchn().bind_interdomain(kGuest, gp);
        if (rc != 0) return 2;
        // Events both ways across the process boundary.
        pollfd p{c.evtchn().fd(), POLLIN, 0};
        say(out, 'b');
        if (::poll(&p, 1, 5000) != 1 || c.evtchn().pending() != port) return 3;
        m.data()[0] = std::byte{0x66};
        if (c.evtchn().notify(port) != 0) return 4;
        ::pause();  // holds everything until killed
        return 5;
    });
    ASSERT_EQ(wait_report(), 'b');
    EXPECT_EQ(loop->with([&] { return table.pins_held(); }), 8u);
    for (GrantRef r = 1; r <= 8; ++r)
        EXPECT_EQ(loop->with([&] { return table.flags(r); }), GTF_permit_access | GTF_reading | GTF_writing);
    EXPECT_EQ(provider.bound(), 1u);
    EXPECT_EQ(provider.guest_notify(gp), 0);
    ASSERT_TRUE(readable(provider.guest_fd(), 5000));
    EXPECT_EQ(provider.guest_pending(), gp);
    EXPECT_EQ(table.page(1)[0], std::byte{0x66});

    proc.kill();
    proc.wait();
    ASSERT_TRUE(loop->until([&] { return !server->connected(); }));
    EXPECT_EQ(loop->with([&] { return table.pins_held(); }), 0u);
    for (GrantRef r = 1; r <= 8; ++r)
        EXPECT_EQ(loop->with([&] { return table.flags(r); }), GTF_permit_access);
    EXPECT_EQ(provider.bound(), 0u);
    EXPECT_EQ(provider.guest_notify(gp), -EINVAL);
}

}  // namespace
}  // namespace xenolith::backend::link::test
