// The real xenolith-netback binary, launched as xenolithd launches it
// (sandbox, link, scoped xenstore connection, supervisor), driven through
// real rings by the host netfront harness, with a real TAP whose host side
// is an AF_PACKET socket, all in a network namespace of the test's own.
#include <signal.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "backend/harness/netfront_harness.hpp"
#include "backend/net/frame.hpp"
#include "net_front.hpp"  // make_frame

using namespace xenolith::backend;
using namespace xenolith::backend::harness;
using namespace std::chrono_literals;
using xenolith::backend::net::testing::make_frame;

namespace {

class NetbackProcess : public ::testing::Test {
protected:
    void SetUp() override {
        if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
        static const int netns = ::unshare(CLONE_NEWNET) == 0 ? 0 : errno;
        if (netns != 0) GTEST_SKIP() << "unshare(CLONE_NEWNET): " << std::strerror(netns);
    }

    NetHarnessOptions options(unsigned taps = 1) const {
        NetHarnessOptions o;
        o.binary = XENOLITH_NETBACK_BINARY;
        o.tap_queues = taps;
        o.restart.first_backoff = 10ms;
        o.restart.max_backoff = 50ms;
        return o;
    }
    std::unique_ptr<NetfrontHarness> start(const NetHarnessOptions& o) {
        auto h = NetfrontHarness::start(o);
        EXPECT_TRUE(h) << (h ? "" : h.error().what);
        return h ? std::move(h).value() : nullptr;
    }
    // A frame with `tag` in its payload's first bytes, to tell frames apart.
    static std::vector<std::byte> tagged(std::size_t payload, unsigned tag, bool tcp = false, std::uint16_t port = 1234) {
        auto f = make_frame(false, tcp, payload);
        std::size_t l4 = 34;
        f[l4] = std::byte(port >> 8);
        f[l4 + 1] = std::byte(port & 0xff);
        std::size_t data = l4 + (tcp ? 20 : 8);
        if (payload >= 4) std::memcpy(f.data() + data, &tag, 4);
        return f;
    }
    static unsigned tag_of(const std::vector<std::byte>& f, bool tcp = false) {
        unsigned t = 0;
        if (f.size() >= 34 + (tcp ? 20u : 8u) + 4) std::memcpy(&t, f.data() + 34 + (tcp ? 20 : 8), 4);
        return t;
    }
    // The guest -> host path works: one frame sent arrives intact.
    static void expect_guest_to_host(NetfrontHarness& h, unsigned tag, unsigned q = 0) {
        auto f = tagged(300, tag);
        ASSERT_TRUE(h.send(q, f).ok());
        ASSERT_TRUE(h.wait_tx_done());
        for (;;) {
            auto got = h.host_receive();
            ASSERT_TRUE(got) << "frame " << tag << " never reached the host";
            if (got->data == f) return;
        }
    }
    static void expect_host_to_guest(NetfrontHarness& h, unsigned tag) {
        auto f = tagged(300, tag);
        ASSERT_TRUE(h.host_send(f).ok());
        for (;;) {
            auto got = h.receive();
            ASSERT_TRUE(got) << "frame " << tag << " never reached the guest";
            if (got->data == f) return;
        }
    }
};

}  // namespace

TEST_F(NetbackProcess, guest_frame_when_sent_then_host_stack_receives_it) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    EXPECT_GT(h->backend_pid(), 0);
    EXPECT_EQ(h->read(h->backend_path() + "/feature-rx-copy"), "1");
    EXPECT_EQ(h->read(h->backend_path() + "/multi-queue-max-queues"), "1");
    expect_guest_to_host(*h, 0x1111);
    EXPECT_EQ(h->tx_errors(), 0u);
}

TEST_F(NetbackProcess, host_frame_when_sent_then_guest_receives_it) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    expect_host_to_guest(*h, 0x2222);
}

TEST_F(NetbackProcess, gso_tcpv4_both_ways_then_vnet_header_and_extra_info_carry_it) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    // Guest -> host: a 60 KB TCP frame with a GSO extra and a blank checksum.
    auto f = tagged(60000, 0x3333, true);
    FrameMeta meta;
    meta.flags = NETTXF_csum_blank;
    meta.gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
    meta.gso_size = 1448;
    ASSERT_TRUE(h->send(0, f, meta).ok());
    ASSERT_TRUE(h->wait_tx_done());
    std::optional<HostFrame> got;
    while ((got = h->host_receive()) && got->data.size() != f.size()) {
    }
    ASSERT_TRUE(got);
    EXPECT_EQ(got->vnet.gso_type, net::kVnetGsoTcpv4);
    EXPECT_EQ(got->vnet.gso_size, 1448);
    EXPECT_EQ(got->vnet.flags & net::kVnetNeedsCsum, net::kVnetNeedsCsum);
    EXPECT_EQ(got->vnet.csum_start, 34);
    EXPECT_EQ(got->vnet.csum_offset, 16);
    EXPECT_EQ(got->data, f);

    // Host -> guest: the TAP's TSO4 offload was set for this front end, so
    // the 30 KB GSO frame reaches the guest whole, with its GSO extra.
    auto g = tagged(30000, 0x4444, true, 4321);
    net::VnetHeader v{};
    v.flags = net::kVnetNeedsCsum;
    v.gso_type = net::kVnetGsoTcpv4;
    v.gso_size = 1448;
    v.hdr_len = 54;
    v.csum_start = 34;
    v.csum_offset = 16;
    ASSERT_TRUE(h->host_send(g, v).ok());
    std::optional<GuestFrame> in;
    while ((in = h->receive()) && in->data.size() != g.size()) {
    }
    ASSERT_TRUE(in);
    EXPECT_EQ(in->meta.gso_type, XEN_NETIF_GSO_TYPE_TCPV4);
    EXPECT_EQ(in->meta.gso_size, 1448);
    EXPECT_TRUE(in->meta.flags & NETRXF_csum_blank);
    EXPECT_FALSE(in->error);
    // The stack may have filled in the pseudo-header sum: compare the payload.
    EXPECT_EQ(std::vector<std::byte>(in->data.begin() + 54, in->data.end()),
              std::vector<std::byte>(g.begin() + 54, g.end()));
}

TEST_F(NetbackProcess, four_queues_when_negotiated_then_every_queue_carries_traffic) {
    auto h = start(options(4));
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->wait_backend_state(XenbusStateInitWait));
    EXPECT_EQ(h->read(h->backend_path() + "/multi-queue-max-queues"), "4");
    ASSERT_TRUE(h->connect(4).ok());
    for (unsigned q = 0; q < 4; ++q) ASSERT_TRUE(h->send(q, tagged(200, 0x500 + q)).ok());
    ASSERT_TRUE(h->wait_tx_done());
    std::set<unsigned> seen;
    while (seen.size() < 4) {
        auto got = h->host_receive();
        ASSERT_TRUE(got) << seen.size() << " of 4 queues' frames arrived";
        unsigned t = tag_of(got->data);
        if (t >= 0x500 && t < 0x504) seen.insert(t);
    }
    // Host -> guest: many flows, spread over the TAP's queues by hash.
    std::set<unsigned> queues, tags;
    for (unsigned i = 0; i < 32; ++i) ASSERT_TRUE(h->host_send(tagged(100, 0x600 + i, false, static_cast<std::uint16_t>(1000 + i * 37))).ok());
    while (tags.size() < 32) {
        auto in = h->receive();
        ASSERT_TRUE(in) << tags.size() << " of 32 frames arrived";
        unsigned t = tag_of(in->data);
        if (t >= 0x600 && t < 0x620) {
            tags.insert(t);
            queues.insert(in->queue);
        }
    }
    EXPECT_GT(queues.size(), 1u) << "every flow came through one queue";
}

TEST_F(NetbackProcess, more_queues_than_taps_when_asked_then_closed_with_error) {
    auto h = start(options(2));
    ASSERT_TRUE(h);
    auto st = h->connect(3, {}, 3s);
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(h->wait_backend_state(XenbusStateClosed));
    auto err = h->read(h->backend_path() + "/error");
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("multi-queue-num-queues"), std::string::npos) << *err;
    EXPECT_EQ(h->deaths(), 0u);
    // A front end that then asks for what is offered is served.
    ASSERT_TRUE(h->reconnect(2).ok());
    expect_guest_to_host(*h, 0x777, 1);
}

TEST_F(NetbackProcess, process_killed_when_connected_then_closed_released_relaunched_and_reconnects) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    expect_guest_to_host(*h, 0x801);
    pid_t first = h->backend_pid();
    ASSERT_GT(first, 0);
    ASSERT_EQ(::kill(first, SIGKILL), 0);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (h->deaths() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(h->deaths(), 1u);
    EXPECT_TRUE(h->wait_backend_state(XenbusStateClosed));
    while ((h->backend_pid() <= 0 || h->backend_pid() == first) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    EXPECT_NE(h->backend_pid(), first);
    EXPECT_EQ(h->restarts(), 1u);
    ASSERT_TRUE(h->reconnect().ok());
    expect_guest_to_host(*h, 0x802);
    expect_host_to_guest(*h, 0x803);
}

TEST_F(NetbackProcess, lying_tx_index_when_published_then_closed_with_error_process_survives) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    pid_t pid = h->backend_pid();
    h->lie_tx_req_prod(0, 100000);
    EXPECT_TRUE(h->wait_backend_state(XenbusStateClosed, 2s)) << "state " << h->read(h->backend_path() + "/state").value_or("-") << " pid " << h->backend_pid() << " deaths " << h->deaths();
    auto err = h->read(h->backend_path() + "/error");
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("tx ring"), std::string::npos) << *err;
    EXPECT_EQ(h->deaths(), 0u);
    EXPECT_EQ(h->backend_pid(), pid);
    // The rings are let go of: nothing of the guest stays pinned.
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (h->pins_held() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(h->pins_held(), 0u);
    ASSERT_TRUE(h->reconnect().ok());
    expect_guest_to_host(*h, 0x901);
}

TEST_F(NetbackProcess, rate_limit_when_set_then_guest_transmit_holds_to_it) {
    auto o = options();
    o.rate = "20000,20000";  // 20 KB per 20 ms: 1 MB/s
    auto h = start(o);
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    const std::size_t frame = 1000, frames = 500;  // 500 KB: at least ~0.48 s
    auto f = tagged(frame - 42, 0xa00);
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < frames; ++i) ASSERT_TRUE(h->send(0, f, {}, 5s).ok());
    ASSERT_TRUE(h->wait_tx_done(5s));
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 450ms) << "faster than 1 MB/s";
    EXPECT_LE(took, 4s) << "far slower than 1 MB/s";
}

TEST_F(NetbackProcess, device_removed_when_online_zero_and_frontend_closes_then_exits_not_relaunched) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    h->write(h->backend_path() + "/online", "0");
    h->write(h->backend_path() + "/state", "5");  // libxl: Closing
    EXPECT_TRUE(h->wait_backend_state(XenbusStateClosing));
    h->set_frontend_state(XenbusStateClosed);
    EXPECT_TRUE(h->wait_backend_state(XenbusStateClosed));
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (h->backend_pid() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(h->backend_pid(), -1);
    EXPECT_EQ(h->restarts(), 0u) << "a finished back-end is not relaunched";
}

TEST_F(NetbackProcess, in_process_mode_when_connected_then_same_code_serves_both_ways) {
    auto o = options(2);
    o.in_process = true;
    auto h = start(o);
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect(2).ok());
    expect_guest_to_host(*h, 0xb01, 1);
    expect_host_to_guest(*h, 0xb02);
}
