// netback against a real TAP device, in a network namespace this test
// process makes for itself (no traffic leaves it). The host side is an
// AF_PACKET socket on the interface with PACKET_VNET_HDR, so it sees and
// sends the GSO and checksum metadata as the kernel's stack has it.
// Skipped where /dev/net/tun or CAP_NET_ADMIN is missing.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "backend/net/frame.hpp"
#include "backend/net/tap.hpp"
#include "net_front.hpp"

using namespace xenolith;
using namespace xenolith::backend;
using namespace xenolith::backend::net;
using namespace xenolith::backend::net::testing;

namespace {

class TapTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
        static const int netns = ::unshare(CLONE_NEWNET) == 0 ? 0 : errno;
        if (netns != 0) GTEST_SKIP() << "unshare(CLONE_NEWNET): " << std::strerror(netns);
    }

    // Creates `name`, up, without IPv6 (whose router solicitations and MLD
    // reports would land in the guest's buffers), and a packet socket on it.
    void make_tap(const std::string& name, TapOffload offload) {
        auto fds = open_tap(name, 1);
        ASSERT_TRUE(fds) << fds.error().what;
        tap_ = std::move(fds->front());
        ASSERT_TRUE(set_tap_offload(tap_.get(), offload));
        bring_up(name);
    }
    void bring_up(const std::string& name) {
        std::ofstream(std::string("/proc/sys/net/ipv6/conf/") + name + "/disable_ipv6") << "1";
        UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
        ASSERT_EQ(::ioctl(s.get(), SIOCGIFFLAGS, &ifr), 0);
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        ASSERT_EQ(::ioctl(s.get(), SIOCSIFFLAGS, &ifr), 0) << std::strerror(errno);
        ifindex_ = static_cast<int>(::if_nametoindex(name.c_str()));
        ASSERT_GT(ifindex_, 0);
        packet_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
        ASSERT_TRUE(packet_.valid()) << std::strerror(errno);
        int one = 1;
        ASSERT_EQ(::setsockopt(packet_.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one), 0);
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = htons(ETH_P_ALL);
        sll.sll_ifindex = ifindex_;
        ASSERT_EQ(::bind(packet_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);
    }

    // The next frame the interface received (what the back end wrote).
    std::optional<std::pair<VnetHeader, std::vector<std::byte>>> host_receive() {
        std::vector<std::byte> buf(kVnetHeaderSize + 70000);
        for (;;) {
            pollfd p{packet_.get(), POLLIN, 0};
            if (::poll(&p, 1, 2000) <= 0) return std::nullopt;
            sockaddr_ll from{};
            socklen_t len = sizeof from;
            ssize_t n = ::recvfrom(packet_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < static_cast<ssize_t>(kVnetHeaderSize)) return std::nullopt;
            if (from.sll_pkttype == PACKET_OUTGOING) continue;
            VnetHeader h;
            std::memcpy(&h, buf.data(), sizeof h);
            return std::pair{h, std::vector<std::byte>(buf.begin() + kVnetHeaderSize, buf.begin() + n)};
        }
    }
    // Sends a frame out of the interface: the TAP hands it to the back end.
    void host_send(const VnetHeader& h, std::span<const std::byte> frame) {
        std::vector<std::byte> buf(kVnetHeaderSize + frame.size());
        std::memcpy(buf.data(), &h, sizeof h);
        std::memcpy(buf.data() + kVnetHeaderSize, frame.data(), frame.size());
        ASSERT_EQ(::send(packet_.get(), buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()))
            << std::strerror(errno);
    }

    UniqueFd tap_, packet_;
    int ifindex_ = 0;
};

FrontendFeatures tap_all_features() {
    FrontendFeatures f;
    f.sg = f.gso_tcpv4 = f.gso_tcpv6 = f.csum = f.ipv6_csum = true;
    return f;
}

}  // namespace

TEST(TapName, vif_name_as_xen) { EXPECT_EQ(vif_name(7, 0), "vif7.0"); EXPECT_EQ(vif_name(65535, 12), "vif65535.12"); }

TEST(TapName, bad_names_then_error_names_device) {
    auto r = open_tap("a-name-longer-than-ifnamsiz", 1);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().what.find("a-name-longer"), std::string::npos);
    EXPECT_FALSE(open_tap("", 1));
}

TEST_F(TapTest, multi_queue_tap_then_one_fd_per_queue) {
    auto fds = open_tap("vif7.9", 3);
    ASSERT_TRUE(fds) << fds.error().what;
    EXPECT_EQ(fds->size(), 3u);
    EXPECT_TRUE(set_tap_offload(fds->front().get(), offload_for(tap_all_features())));
}

TEST_F(TapTest, two_queues_then_each_guest_queue_reaches_the_interface) {
    auto fds = open_tap("vif7.4", 2);
    ASSERT_TRUE(fds) << fds.error().what;
    bring_up("vif7.4");
    NetFront q0, q1;
    q0.start({}, (*fds)[0].get());
    q1.start({}, (*fds)[1].get());
    auto a = make_frame(false, false, 100), b = make_frame(false, true, 200);
    q0.put(2, 0, a);
    q1.put(2, 0, b);
    q0.send({NetFront::req(2, 0, static_cast<std::uint16_t>(a.size()), 1)});
    q1.send({NetFront::req(2, 0, static_cast<std::uint16_t>(b.size()), 1)});
    auto first = host_receive(), second = host_receive();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->second, a);
    EXPECT_EQ(second->second, b);
}

TEST_F(TapTest, guest_gso_frame_then_interface_receives_it_with_gso_metadata) {
    make_tap("vif7.0", offload_for(tap_all_features()));
    NetFront g;
    g.start(tap_all_features(), tap_.get());
    auto f = make_frame(false, true, 9000);
    std::vector<netif_tx_request> reqs;
    g.put(2, 0, std::span(f).subspan(0, 4000));
    g.put(3, 0, std::span(f).subspan(4000, 4096));
    g.put(4, 0, std::span(f).subspan(8096));
    reqs.push_back(NetFront::req(2, 0, static_cast<std::uint16_t>(f.size()), 1,
                                 NETTXF_csum_blank | NETTXF_more_data | NETTXF_extra_info));
    reqs.push_back(NetFront::gso_extra(XEN_NETIF_GSO_TYPE_TCPV4, 1448));
    reqs.push_back(NetFront::req(3, 0, 4096, 2, NETTXF_more_data));
    reqs.push_back(NetFront::req(4, 0, static_cast<std::uint16_t>(f.size() - 8096), 3));
    g.send(reqs);
    EXPECT_EQ(g.netback->stats().tx_packets, 1u) << "dropped " << g.netback->stats().tx_dropped;
    auto got = host_receive();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->first.gso_type, kVnetGsoTcpv4);
    EXPECT_EQ(got->first.gso_size, 1448);
    EXPECT_EQ(got->first.flags & kVnetNeedsCsum, kVnetNeedsCsum);
    EXPECT_EQ(got->first.csum_start, 34);
    EXPECT_EQ(got->first.csum_offset, 16);
    EXPECT_EQ(got->second, f);
}

TEST_F(TapTest, guest_plain_frame_then_interface_receives_it) {
    make_tap("vif7.1", {});
    NetFront g;
    g.start({}, tap_.get());
    auto f = make_frame(true, false, 200);
    g.put(2, 64, f);
    g.send({NetFront::req(2, 64, static_cast<std::uint16_t>(f.size()), 5)});
    auto got = host_receive();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->second, f);
    EXPECT_EQ(g.tx_responses().at(0).status, NETIF_RSP_OKAY);
}

TEST_F(TapTest, host_frame_then_in_guest_buffer) {
    make_tap("vif7.2", offload_for(tap_all_features()));
    NetFront g;
    g.start(tap_all_features(), tap_.get());
    g.post_rx(4, 20);
    auto f = make_frame(false, false, 100);
    host_send(VnetHeader{}, f);
    for (int i = 0; i < 20 && !g.rx->has_response(); ++i) g.netback->poll_once(100);
    ASSERT_TRUE(g.rx->has_response());
    auto r = g.rx->next_response();
    EXPECT_EQ(r.status, static_cast<std::int16_t>(f.size()));
    EXPECT_EQ(std::memcmp(g.gt.page(20), f.data(), f.size()), 0);
}

TEST_F(TapTest, host_gso_frame_then_guest_gets_extra_info_and_all_data) {
    make_tap("vif7.3", offload_for(tap_all_features()));
    NetFront g;
    g.start(tap_all_features(), tap_.get());
    g.post_rx(16, 20);
    auto f = make_frame(false, true, 20000);
    host_send(VnetHeader{kVnetNeedsCsum, kVnetGsoTcpv4, 54, 1448, 34, 16}, f);
    for (int i = 0; i < 20 && !g.rx->has_response(); ++i) g.netback->poll_once(100);
    ASSERT_TRUE(g.rx->has_response());
    auto first = g.rx->next_response();
    EXPECT_EQ(first.flags & (NETRXF_extra_info | NETRXF_csum_blank), NETRXF_extra_info | NETRXF_csum_blank);
    auto e = g.rx->next_response<netif_extra_info>();
    EXPECT_EQ(e.type, XEN_NETIF_EXTRA_TYPE_GSO);
    EXPECT_EQ(e.u.gso.size, 1448);
    std::vector<std::byte> got(g.gt.page(20), g.gt.page(20) + first.status);
    unsigned page = 22;
    while (g.rx->has_response()) {
        auto r = g.rx->next_response();
        ASSERT_GT(r.status, 0);
        got.insert(got.end(), g.gt.page(page), g.gt.page(page) + r.status);
        ++page;
    }
    EXPECT_EQ(got, f);
}

TEST_F(TapTest, partial_checksum_for_front_end_without_offload_then_kernel_completes_it) {
    FrontendFeatures none;
    none.csum = false;
    make_tap("vif7.5", offload_for(none));
    NetFront g;
    g.start(none, tap_.get());
    g.post_rx(2, 20);
    auto f = make_frame(false, false, 301);
    auto o = l4_offsets(f);
    ASSERT_TRUE(o);
    seed_pseudo_header(f, *o);
    host_send(VnetHeader{kVnetNeedsCsum, 0, 0, 0, o->l4_start, o->csum_offset}, f);
    for (int i = 0; i < 20 && !g.rx->has_response(); ++i) g.netback->poll_once(100);
    ASSERT_TRUE(g.rx->has_response());
    auto r = g.rx->next_response();
    EXPECT_EQ(r.flags & NETRXF_csum_blank, 0);
    std::vector<std::byte> got(g.gt.page(20), g.gt.page(20) + r.status);
    // The checksum the guest got is the one completing the seed gives.
    auto expect = f;
    complete_checksum(expect, o->l4_start, o->csum_offset, true);
    EXPECT_EQ(got, expect);
}
