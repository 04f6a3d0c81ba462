// Each end of the link fed bytes the other would never send: the server
// drops the back-end (and gives back everything it held) or answers an
// error, never crashes; the client refuses a bad hello and breaks the link
// on a bad reply.
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cstring>
#include <thread>
#include <vector>

#include "backend/link/link_client.hpp"
#include "backend/link/local_link_provider.hpp"
#include "backend/link/packet_io.hpp"
#include "link_fixture.hpp"

namespace xenolith::backend::link::test {
namespace {

constexpr DomId kHostileGuest = 5;

template <class T>
std::vector<std::byte> bytes(const T& v) {
    std::vector<std::byte> b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
}

Header header(MsgType t, std::uint16_t count = 0, std::uint32_t id = 7) {
    return Header{static_cast<std::uint16_t>(t), count, id};
}

// A server with one writable pin and one binding already held by a
// well-formed request, then fed one hostile packet by hand.
class HostileClientTest : public ::testing::Test {
protected:
    LocalGrantTable table{kHostileGuest, 0, 16, 16};
    LocalLinkProvider provider{table};
    SocketPair sp;
    LinkServer server{sp.server, provider};
    std::byte in[kMaxMessage];

    void SetUp() override {
        Received r;
        recv_packet(sp.client, in, false, &r);  // the hello
        ASSERT_EQ(r.nfds, 1u);
        table.grant(1, 1, false);
        MapRequest m{};
        m.h = header(MsgType::map, 1);
        m.domid = kHostileGuest;
        m.writable = 1;
        auto b = bytes(m);
        const GrantRef ref = 1;
        b.resize(b.size() + 4);
        std::memcpy(b.data() + sizeof m, &ref, 4);
        ASSERT_EQ(exchange(b).size(), sizeof(MapReply) + 8);
        BindRequest br{};
        br.h = header(MsgType::bind);
        br.remote = kHostileGuest;
        br.remote_port = provider.alloc_unbound();
        ASSERT_EQ(exchange(bytes(br)).size(), sizeof(BindReply));
        ASSERT_EQ(table.pins_held(), 1u);
        ASSERT_EQ(provider.bound(), 1u);
    }
    // Sends a packet, lets the server handle it, returns its reply (if any).
    std::vector<std::byte> exchange(const std::vector<std::byte>& pkt, std::span<const int> fds = {}) {
        EXPECT_EQ(send_packet(sp.client, pkt.data(), pkt.size(), fds, false), 0);
        server.handle();
        Received r;
        recv_packet(sp.client, in, true, &r);
        if (r.len <= 0) return {};
        return std::vector<std::byte>(in, in + r.len);
    }
    void expect_dropped() {
        EXPECT_FALSE(server.connected());
        EXPECT_EQ(table.pins_held(), 0u);
        EXPECT_EQ(table.flags(1), GTF_permit_access);
        EXPECT_EQ(provider.bound(), 0u);
        server.handle();  // and stays quiet
    }
};

TEST_F(HostileClientTest, short_packet_drops_the_back_end) {
    exchange(std::vector<std::byte>(3));
    expect_dropped();
}

TEST_F(HostileClientTest, unknown_type_drops_the_back_end) {
    exchange(bytes(header(static_cast<MsgType>(999))));
    expect_dropped();
}

TEST_F(HostileClientTest, server_only_types_drop_the_back_end) {
    Hello h{};
    h.h = header(MsgType::hello);
    exchange(bytes(h));
    expect_dropped();
}

TEST_F(HostileClientTest, huge_count_drops_the_back_end) {
    MapRequest m{};
    m.h = header(MsgType::map, 0xffff);
    m.domid = kHostileGuest;
    auto b = bytes(m);
    b.resize(sizeof m + 4 * 100);  // far fewer refs than claimed
    exchange(b);
    expect_dropped();
}

TEST_F(HostileClientTest, count_and_length_disagreeing_drops_the_back_end) {
    MapRequest m{};
    m.h = header(MsgType::map, 2);
    m.domid = kHostileGuest;
    auto b = bytes(m);
    b.resize(sizeof m + 4 * 3);
    exchange(b);
    expect_dropped();
}

TEST_F(HostileClientTest, oversized_packet_drops_the_back_end) {
    exchange(std::vector<std::byte>(kMaxMessage + 100));
    expect_dropped();
}

TEST_F(HostileClientTest, bogus_unmap_handles_drop_the_back_end) {
    Release r{};
    r.h = header(MsgType::unmap);
    r.handle = 12345;
    exchange(bytes(r));
    expect_dropped();
}

TEST_F(HostileClientTest, releasing_a_map_as_a_copy_drops_the_back_end) {
    Release r{};
    r.h = header(MsgType::copy_release);
    r.handle = 0;  // the map batch of SetUp
    exchange(bytes(r));
    expect_dropped();
}

TEST_F(HostileClientTest, double_unmap_drops_the_back_end) {
    Release r{};
    r.h = header(MsgType::unmap);
    r.handle = 0;
    exchange(bytes(r));
    EXPECT_TRUE(server.connected());
    EXPECT_EQ(table.pins_held(), 0u);
    exchange(bytes(r));
    expect_dropped();
}

TEST_F(HostileClientTest, fds_sent_to_the_server_drop_the_back_end_and_are_closed) {
    int efd = ::eventfd(0, EFD_CLOEXEC);
    Release r{};
    r.h = header(MsgType::unmap);
    r.handle = 0;
    exchange(bytes(r), std::span<const int>(&efd, 1));
    expect_dropped();
    ::close(efd);
}

TEST_F(HostileClientTest, unbinding_a_port_never_bound_drops_the_back_end) {
    Unbind u{};
    u.h = header(MsgType::unbind);
    u.port = 4242;
    exchange(bytes(u));
    expect_dropped();
}

TEST_F(HostileClientTest, bad_copy_side_flags_drop_the_back_end) {
    CopyOpWire op{};
    op.source.foreign = 7;
    op.len = 1;
    auto b = bytes(header(MsgType::copy, 1));
    auto o = bytes(op);
    b.insert(b.end(), o.begin(), o.end());
    exchange(b);
    expect_dropped();
}

TEST_F(HostileClientTest, a_back_end_that_never_reads_replies_is_dropped_not_waited_for) {
    MapRequest m{};
    m.h = header(MsgType::map, 1);
    m.domid = kHostileGuest + 1;  // answered with bad_domain each time
    auto b = bytes(m);
    b.resize(sizeof m + 4);
    for (int i = 0; i < 100000 && server.connected(); ++i) {
        if (send_packet(sp.client, b.data(), b.size(), {}, true) != 0) break;
        server.handle();
    }
    server.handle();
    expect_dropped();
}

TEST_F(HostileClientTest, wrong_domain_is_an_answer_not_a_drop) {
    MapRequest m{};
    m.h = header(MsgType::map, 1);
    m.domid = kHostileGuest + 1;
    auto b = bytes(m);
    b.resize(sizeof m + 4);
    auto rep = exchange(b);
    ASSERT_EQ(rep.size(), sizeof(MapReply));
    MapReply mr;
    std::memcpy(&mr, rep.data(), sizeof mr);
    EXPECT_EQ(mr.status, GNTST_bad_domain);
    EXPECT_EQ(mr.h.id, 7u);
    EXPECT_TRUE(server.connected());
}

// A fake server answering one request with `reply` (and fds).
class HostileServerTest : public ::testing::Test {
protected:
    LocalGrantTable table{kHostileGuest, 0, 16, 16};
    SocketPair sp;

    void send_hello(std::uint64_t bytes_claimed, int nfds = 1) {
        Hello h{};
        h.h = header(MsgType::hello);
        h.version = kVersion;
        h.frontend = kHostileGuest;
        h.memory_bytes = bytes_claimed;
        int fds[2] = {table.memfd(), table.memfd()};
        ASSERT_EQ(send_packet(sp.server, &h, sizeof h, std::span<const int>(fds, nfds), false), 0);
    }
};

TEST_F(HostileServerTest, hello_without_memory_is_refused) {
    send_hello(16 * kXenPageSize, 0);
    EXPECT_FALSE(LinkClient::connect(sp.client).ok());
}

TEST_F(HostileServerTest, hello_claiming_more_memory_than_the_file_is_refused) {
    send_hello(1024 * kXenPageSize);
    EXPECT_FALSE(LinkClient::connect(sp.client).ok());
}

TEST_F(HostileServerTest, hello_with_two_fds_is_refused) {
    send_hello(16 * kXenPageSize, 2);
    EXPECT_FALSE(LinkClient::connect(sp.client).ok());
}

// The client's map against a server answering `make(request id)`.
std::int16_t map_against(SocketPair& sp, std::function<std::vector<std::byte>(std::uint32_t)> make,
                         bool* linked) {
    auto c = LinkClient::connect(sp.client);
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return 0;
    std::thread fake([&] {
        std::byte buf[kMaxMessage];
        Received r;
        recv_packet(sp.server, buf, false, &r);
        Header h;
        std::memcpy(&h, buf, sizeof h);
        auto rep = make(h.id);
        send_packet(sp.server, rep.data(), rep.size(), {}, false);
    });
    auto st = (*c)->grants().map(kHostileGuest, std::vector<GrantRef>{1}, false).second;
    fake.join();
    *linked = (*c)->linked();
    return st;
}

TEST_F(HostileServerTest, reply_offset_outside_the_memory_breaks_the_link) {
    send_hello(16 * kXenPageSize);
    bool linked = true;
    auto st = map_against(sp, [](std::uint32_t id) {
        MapReply r{};
        r.h = header(MsgType::map_reply, 1, id);
        r.handle = 0;
        auto b = bytes(r);
        const std::uint64_t off = 16 * kXenPageSize;  // one past the end
        b.resize(b.size() + 8);
        std::memcpy(b.data() + sizeof r, &off, 8);
        return b;
    }, &linked);
    EXPECT_EQ(st, GNTST_general_error);
    EXPECT_FALSE(linked);
}

TEST_F(HostileServerTest, reply_with_the_wrong_id_breaks_the_link) {
    send_hello(16 * kXenPageSize);
    bool linked = true;
    auto st = map_against(sp, [](std::uint32_t id) {
        MapReply r{};
        r.h = header(MsgType::map_reply, 0, id + 1);
        r.status = GNTST_bad_gntref;
        return bytes(r);
    }, &linked);
    EXPECT_EQ(st, GNTST_general_error);
    EXPECT_FALSE(linked);
}

TEST_F(HostileServerTest, reply_with_a_positive_status_breaks_the_link) {
    send_hello(16 * kXenPageSize);
    bool linked = true;
    auto st = map_against(sp, [](std::uint32_t id) {
        MapReply r{};
        r.h = header(MsgType::map_reply, 0, id);
        r.status = 5;
        return bytes(r);
    }, &linked);
    EXPECT_EQ(st, GNTST_general_error);
    EXPECT_FALSE(linked);
}

}  // namespace
}  // namespace xenolith::backend::link::test
