// The console back-end with a ring in ordinary memory and no event
// channels: output reaches the log through the I/O thread in order, the
// ring side never waits for file or socket I/O, a full buffer leaves bytes
// in the guest's ring, and logs rotate at the size cap.
#include <gtest/gtest.h>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "console/console_backend.hpp"

namespace xenolith::console {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/console-test.XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The guest's half of the output ring.
struct FakeGuest {
    xencons_interface ring{};
    // Writes what fits; returns how many bytes did.
    std::size_t write(const std::string& data) {
        const XENCONS_RING_IDX cons = __atomic_load_n(&ring.out_cons, __ATOMIC_ACQUIRE);
        XENCONS_RING_IDX prod = ring.out_prod;
        std::size_t n = 0;
        while (n < data.size() && prod - cons < sizeof ring.out)
            ring.out[MASK_XENCONS_IDX(prod++, ring.out)] = data[n++];
        __atomic_store_n(&ring.out_prod, prod, __ATOMIC_RELEASE);
        return n;
    }
    std::size_t unread() const {
        return __atomic_load_n(&ring.out_prod, __ATOMIC_ACQUIRE) -
               __atomic_load_n(&ring.out_cons, __ATOMIC_ACQUIRE);
    }
};

std::unique_ptr<ConsoleBackend> make_backend(FakeGuest& g, const fs::path& log) {
    auto b = ConsoleBackend::create(&g.ring, log.string());
    EXPECT_TRUE(b) << (b ? "" : b.error().what);
    return std::move(*b);
}

std::uint64_t size_of(const fs::path& p) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    return ec ? 0 : n;
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cond();
}

TEST(ConsoleBackend, output_when_drained_then_logged_in_order_by_close) {
    TempDir dir;
    FakeGuest g;
    auto b = make_backend(g, dir.path / "guest-a.log");
    std::string expected;
    for (int i = 0; i < 200; ++i) {
        const std::string line = "line " + std::to_string(i) + "\n";
        ASSERT_EQ(g.write(line), line.size());
        b->drain();
        expected += line;
    }
    b->close();
    EXPECT_EQ(read_all(dir.path / "guest-a.log"), expected);
    EXPECT_EQ(g.unread(), 0u);
}

// A client that never reads holds the I/O side (the backlog send); before,
// it held the back-end's only lock and the vCPU draining the ring waited.
TEST(ConsoleBackend, stalled_client_when_guest_writes_then_drain_never_waits) {
    TempDir dir;
    const fs::path log = dir.path / "guest-b.log";
    FakeGuest g;
    auto b = make_backend(g, log);
    // 64 KiB of backlog while nobody is attached.
    const std::string chunk(1024, 'x');
    for (int i = 0; i < 64; ++i) {
        ASSERT_EQ(g.write(chunk), chunk.size());
        b->drain();
        ASSERT_TRUE(wait_until([&] { return g.unread() == 0; }, std::chrono::seconds(5)));
    }
    ASSERT_TRUE(wait_until([&] { return size_of(log) == 64 * 1024; }, std::chrono::seconds(5)));

    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    std::thread attacher([&] { b->attach(sv[0]); });  // sv[1] never reads
    // The backlog send has begun (and holds the I/O side) once bytes wait
    // unread at the client's end; a fixed sleep raced a loaded machine.
    ASSERT_TRUE(wait_until(
        [&] {
            int queued = 0;
            return ::ioctl(sv[1], FIONREAD, &queued) == 0 && queued > 0;
        },
        std::chrono::seconds(5)));

    // The guest keeps writing: more than the back-end can hold while its
    // I/O side waits: a chunk the I/O thread took before it blocked (at most
    // 64 KiB), 64 KiB pending and the ring.
    std::string later;
    for (int i = 0; later.size() < 160 * 1024; ++i) later += "later " + std::to_string(i) + "\n";
    std::size_t written = 0;
    Clock::duration longest{};
    while (written < later.size()) {
        const std::size_t n = g.write(later.substr(written));
        written += n;
        const auto t0 = Clock::now();
        b->drain();
        longest = std::max(longest, Clock::now() - t0);
        if (n == 0) break;  // the ring is full: the back-end holds back
    }
    // Blocking on the stalled client would take the backlog's 1 s give-up
    // or forever; 500 ms leaves room for a loaded CI machine.
    EXPECT_LT(longest, std::chrono::milliseconds(500)) << "drain waited for I/O";
    EXPECT_LT(written, later.size()) << "the buffers filled, then the guest's ring stays full";
    EXPECT_GT(g.unread(), 0u);

    attacher.join();  // the backlog send gives up after 1 s
    while (written < later.size()) {
        ASSERT_TRUE(wait_until([&] { return g.unread() < sizeof g.ring.out; },
                               std::chrono::seconds(5)));
        written += g.write(later.substr(written));
        b->drain();
    }
    b->close();
    EXPECT_EQ(read_all(log), std::string(64 * 1024, 'x') + later);
    ::close(sv[0]);
    ::close(sv[1]);
}

TEST(ConsoleBackend, attached_client_when_output_then_backlog_first_and_eof_at_close) {
    TempDir dir;
    FakeGuest g;
    auto b = make_backend(g, dir.path / "guest-c.log");
    g.write("before\n");
    b->drain();
    ASSERT_TRUE(wait_until([&] { return size_of(dir.path / "guest-c.log") == 7; },
                           std::chrono::seconds(5)));
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    b->attach(sv[0]);
    g.write("after\n");
    b->drain();
    b->close();
    std::string got;
    char buf[256];
    for (ssize_t n; (n = ::read(sv[1], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(got, "before\nafter\n");
    ::close(sv[0]);
    ::close(sv[1]);
}

TEST(ConsoleBackend, log_at_cap_when_written_then_rotated_keeping_ten) {
    TempDir dir;
    const fs::path log = dir.path / "guest-r.log";
    { std::ofstream(log, std::ios::binary) << std::string(kLogMaxBytes, 'o'); }
    for (unsigned n = 1; n <= kLogKeep; ++n)
        std::ofstream(log.string() + "." + std::to_string(n)) << "old-" << n << "\n";
    FakeGuest g;
    auto b = make_backend(g, log);
    g.write("fresh\n");
    b->drain();
    b->close();
    EXPECT_EQ(read_all(log), "fresh\n");
    EXPECT_EQ(size_of(log.string() + ".1"), kLogMaxBytes);
    for (unsigned n = 2; n <= kLogKeep; ++n)
        EXPECT_EQ(read_all(log.string() + "." + std::to_string(n)),
                  "old-" + std::to_string(n - 1) + "\n");
    EXPECT_FALSE(fs::exists(log.string() + "." + std::to_string(kLogKeep + 1)));
}

TEST(ConsoleBackend, log_below_cap_when_written_then_appended) {
    TempDir dir;
    const fs::path log = dir.path / "guest-s.log";
    { std::ofstream(log) << "kept\n"; }
    FakeGuest g;
    auto b = make_backend(g, log);
    g.write("more\n");
    b->drain();
    b->close();
    EXPECT_EQ(read_all(log), "kept\nmore\n");
    EXPECT_FALSE(fs::exists(log.string() + ".1"));
}

}  // namespace
}  // namespace xenolith::console
