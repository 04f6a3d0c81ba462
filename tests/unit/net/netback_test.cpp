// netback's core driven as a front end would, with the TAP played by a
// SOCK_SEQPACKET socketpair: tx and rx data paths, the vnet header's GSO
// and checksum metadata, and every bad-input rule of Linux's netback.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/net/frame.hpp"
#include "net_front.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::net;
using namespace xenolith::backend::net::testing;

namespace {

FrontendFeatures all_features() {
    FrontendFeatures f;
    f.sg = f.gso_tcpv4 = f.gso_tcpv6 = f.csum = f.ipv6_csum = true;
    return f;
}

// A frame laid out in guest pages as netfront does: the first slot takes
// `first` bytes at `offset`, the rest a page each from offset 0.
std::vector<netif_tx_request> lay_out(NetFront& g, const std::vector<std::byte>& f, std::size_t first_frame,
                                      std::uint16_t offset, std::size_t first, std::uint16_t flags = 0,
                                      std::vector<netif_tx_request> extras = {}) {
    std::vector<netif_tx_request> reqs;
    std::size_t frame = first_frame, at = 0;
    std::uint16_t id = 1;
    std::size_t len = std::min(first, f.size());
    g.put(frame, offset, std::span(f).subspan(0, len));
    reqs.push_back(NetFront::req(frame, offset, static_cast<std::uint16_t>(f.size()), id++, flags));
    if (!extras.empty()) reqs.front().flags |= NETTXF_extra_info;
    for (auto& e : extras) reqs.push_back(e);
    at = len;
    while (at < f.size()) {
        ++frame;
        std::size_t n = std::min<std::size_t>(kXenPageSize, f.size() - at);
        g.put(frame, 0, std::span(f).subspan(at, n));
        reqs.push_back(NetFront::req(frame, 0, static_cast<std::uint16_t>(n), id++));
        at += n;
    }
    for (std::size_t i = 0; i + 1 < reqs.size(); ++i)
        if (i == 0 || i > extras.size()) reqs[i].flags |= NETTXF_more_data;
    if (reqs.size() == 1 + extras.size()) reqs.front().flags &= static_cast<std::uint16_t>(~NETTXF_more_data);
    return reqs;
}

bool checksum_ok(std::span<const std::byte> f) {
    auto o = l4_offsets(f);
    if (!o) return false;
    std::vector<std::byte> copy(f.begin(), f.end());
    std::byte saved[2] = {copy[o->l4_start + o->csum_offset], copy[o->l4_start + o->csum_offset + 1u]};
    seed_pseudo_header(copy, *o);
    complete_checksum(copy, o->l4_start, o->csum_offset);
    return saved[0] == copy[o->l4_start + o->csum_offset] && saved[1] == copy[o->l4_start + o->csum_offset + 1u];
}

}  // namespace

TEST(NetbackTx, single_slot_frame_when_sent_then_on_tap_and_answered_okay) {
    NetFront g;
    g.start();
    auto f = make_frame(false, false, 32);
    g.put(2, 100, f);
    g.send({NetFront::req(2, 100, static_cast<std::uint16_t>(f.size()), 9)});
    auto got = g.host_read();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->first.flags, 0);
    EXPECT_EQ(got->first.gso_type, kVnetGsoNone);
    EXPECT_EQ(got->second, f);
    auto rsp = g.tx_responses();
    ASSERT_EQ(rsp.size(), 1u);
    EXPECT_EQ(rsp[0].id, 9);
    EXPECT_EQ(rsp[0].status, NETIF_RSP_OKAY);
    EXPECT_EQ(g.netback->stats().tx_packets, 1u);
    EXPECT_EQ(g.be.notifications_sent(), 1u);
}

TEST(NetbackTx, chained_slots_when_sent_then_reassembled_every_slot_answered) {
    NetFront g;
    g.start();
    auto f = make_frame(false, true, 9000);
    auto reqs = lay_out(g, f, 2, 3000, 1000);  // 1000 + 4096 + 3958 bytes
    ASSERT_EQ(reqs.size(), 3u);
    g.send(reqs);
    auto got = g.host_read();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->second, f);
    auto rsp = g.tx_responses();
    ASSERT_EQ(rsp.size(), 3u);
    for (std::size_t i = 0; i < rsp.size(); ++i) {
        EXPECT_EQ(rsp[i].id, reqs[i].id);
        EXPECT_EQ(rsp[i].status, NETIF_RSP_OKAY);
    }
}

TEST(NetbackTx, csum_blank_when_sent_then_needs_csum_at_l4_header) {
    NetFront g;
    g.start();
    auto f4 = make_frame(false, true, 100);
    auto f6 = make_frame(true, false, 100);
    g.put(2, 0, f4);
    g.put(3, 0, f6);
    g.send({NetFront::req(2, 0, static_cast<std::uint16_t>(f4.size()), 1, NETTXF_csum_blank),
            NetFront::req(3, 0, static_cast<std::uint16_t>(f6.size()), 2, NETTXF_csum_blank | NETTXF_data_validated)});
    auto a = g.host_read();
    ASSERT_TRUE(a);
    EXPECT_EQ(a->first.flags, kVnetNeedsCsum);
    EXPECT_EQ(a->first.csum_start, 34);
    EXPECT_EQ(a->first.csum_offset, 16);
    auto b = g.host_read();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->first.flags, kVnetNeedsCsum);
    EXPECT_EQ(b->first.csum_start, 54);
    EXPECT_EQ(b->first.csum_offset, 6);
}

TEST(NetbackTx, data_validated_when_sent_then_data_valid) {
    NetFront g;
    g.start();
    auto f = make_frame(false, false, 10);
    g.put(2, 0, f);
    g.send({NetFront::req(2, 0, static_cast<std::uint16_t>(f.size()), 1, NETTXF_data_validated)});
    auto a = g.host_read();
    ASSERT_TRUE(a);
    EXPECT_EQ(a->first.flags, kVnetDataValid);
}

TEST(NetbackTx, gso_extra_when_sent_then_vnet_gso_and_extra_answered_null) {
    NetFront g;
    g.start();
    auto f = make_frame(false, true, 20000);
    auto reqs = lay_out(g, f, 10, 0, kXenPageSize, NETTXF_csum_blank,
                        {NetFront::gso_extra(XEN_NETIF_GSO_TYPE_TCPV4, 1448)});
    g.send(reqs);
    auto a = g.host_read();
    ASSERT_TRUE(a);
    EXPECT_EQ(a->first.gso_type, kVnetGsoTcpv4);
    EXPECT_EQ(a->first.gso_size, 1448);
    EXPECT_EQ(a->first.hdr_len, 54);
    EXPECT_EQ(a->first.flags, kVnetNeedsCsum);
    EXPECT_EQ(a->second, f);
    auto rsp = g.tx_responses();
    ASSERT_EQ(rsp.size(), reqs.size());
    EXPECT_EQ(rsp[0].status, NETIF_RSP_OKAY);
    EXPECT_EQ(rsp[1].status, NETIF_RSP_NULL);
    for (std::size_t i = 2; i < rsp.size(); ++i) EXPECT_EQ(rsp[i].status, NETIF_RSP_OKAY);
}

TEST(NetbackTx, gso_without_csum_blank_when_sent_then_pseudo_header_seeded) {
    NetFront g;
    g.start();
    auto f = make_frame(true, true, 3000);
    g.send(lay_out(g, f, 10, 0, 2000, 0, {NetFront::gso_extra(XEN_NETIF_GSO_TYPE_TCPV6, 1400)}));
    auto a = g.host_read();
    ASSERT_TRUE(a);
    EXPECT_EQ(a->first.gso_type, kVnetGsoTcpv6);
    EXPECT_EQ(a->first.flags, kVnetNeedsCsum);
    EXPECT_EQ(a->first.csum_start, 54);
    EXPECT_EQ(a->first.hdr_len, 74);
    // Completing the seeded field gives the real checksum.
    complete_checksum(a->second, a->first.csum_start, a->first.csum_offset);
    EXPECT_TRUE(checksum_ok(a->second));
}

TEST(NetbackTx, gso_type_not_matching_headers_when_sent_then_dropped_okay) {
    NetFront g;
    g.start();
    auto f = make_frame(false, false, 3000);  // UDP, but GSO TCPv4
    g.send(lay_out(g, f, 10, 0, 2000, NETTXF_csum_blank, {NetFront::gso_extra(XEN_NETIF_GSO_TYPE_TCPV4, 1400)}));
    EXPECT_FALSE(g.host_read());
    EXPECT_EQ(g.netback->stats().tx_dropped, 1u);
    EXPECT_EQ(g.tx_responses()[0].status, NETIF_RSP_OKAY);
    EXPECT_FALSE(g.netback->failed());
}

TEST(NetbackTx, multicast_extra_when_sent_then_answered_okay_nothing_sent) {
    NetFront g;
    g.start();
    netif_extra_info e{};
    e.type = XEN_NETIF_EXTRA_TYPE_MCAST_ADD;
    g.send({NetFront::req(2, 0, 0, 4, NETTXF_extra_info), NetFront::as_request(e)});
    EXPECT_FALSE(g.host_read());
    auto rsp = g.tx_responses();
    ASSERT_EQ(rsp.size(), 2u);
    EXPECT_EQ(rsp[0].id, 4);
    EXPECT_EQ(rsp[0].status, NETIF_RSP_OKAY);
    EXPECT_EQ(rsp[1].status, NETIF_RSP_NULL);
    EXPECT_EQ(g.netback->stats().tx_mcast, 1u);
}

// Bad input Linux answers with NETIF_RSP_ERROR: the queue goes on serving.
class NetbackTxError : public ::testing::Test {
protected:
    void SetUp() override { g.start(); }
    void expect_errors_then_still_serving(std::size_t slots) {
        EXPECT_FALSE(g.netback->failed()) << g.netback->failure();
        auto rsp = g.tx_responses();
        ASSERT_EQ(rsp.size(), slots);
        for (auto& r : rsp) EXPECT_EQ(r.status, NETIF_RSP_ERROR);
        EXPECT_FALSE(g.host_read());
        auto f = make_frame(false, false, 20);
        g.put(40, 0, f);
        g.send({NetFront::req(40, 0, static_cast<std::uint16_t>(f.size()), 77)});
        auto got = g.host_read();
        ASSERT_TRUE(got);
        EXPECT_EQ(got->second, f);
        EXPECT_EQ(g.tx_responses().at(0).status, NETIF_RSP_OKAY);
    }
    NetFront g;
};

TEST_F(NetbackTxError, size_zero) {
    g.send({NetFront::req(2, 0, 0, 1)});
    expect_errors_then_still_serving(1);
}

TEST_F(NetbackTxError, first_slot_shorter_than_ethernet_header) {
    g.send({NetFront::req(2, 0, 1010, 1, NETTXF_more_data), NetFront::req(3, 0, 1000, 2)});
    expect_errors_then_still_serving(2);
}

TEST_F(NetbackTxError, chain_slot_larger_than_what_remains) {
    g.send({NetFront::req(2, 0, 100, 1, NETTXF_more_data), NetFront::req(3, 0, 200, 2)});
    expect_errors_then_still_serving(2);
}

TEST_F(NetbackTxError, more_slots_than_legacy_limit) {
    std::vector<netif_tx_request> reqs = {NetFront::req(2, 0, 64 + 19 * 10, 1, NETTXF_more_data)};
    for (unsigned i = 0; i < kMaxFollowingSlots + 1; ++i)
        reqs.push_back(NetFront::req(3 + i, 0, 10, static_cast<std::uint16_t>(2 + i),
                                     i < kMaxFollowingSlots ? NETTXF_more_data : 0));
    g.send(reqs);
    expect_errors_then_still_serving(reqs.size());
}

TEST_F(NetbackTxError, grant_not_given_to_us) {
    g.gt.revoke(2);
    g.send({NetFront::req(2, 0, 60, 1)});
    EXPECT_EQ(g.netback->stats().tx_errors, 1u);
    expect_errors_then_still_serving(1);
}

TEST_F(NetbackTxError, legacy_limit_exactly_is_accepted) {
    std::vector<netif_tx_request> reqs = {NetFront::req(2, 0, 64 + 18 * 10, 1, NETTXF_more_data)};
    auto f = make_frame(false, false, 64 + 18 * 10 - 42);
    g.put(2, 0, std::span(f).subspan(0, 64));
    for (unsigned i = 0; i < kMaxFollowingSlots; ++i) {
        g.put(3 + i, 0, std::span(f).subspan(64 + i * 10, 10));
        reqs.push_back(NetFront::req(3 + i, 0, 10, static_cast<std::uint16_t>(2 + i),
                                     i + 1 < kMaxFollowingSlots ? NETTXF_more_data : 0));
    }
    g.send(reqs);
    auto got = g.host_read();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->second, f);
}

// Bad input Linux deems fatal: the queue is disabled, nothing more served.
class NetbackTxFatal : public ::testing::Test {
protected:
    void SetUp() override { g.start(); }
    void expect_fatal(const char* what) {
        EXPECT_TRUE(g.netback->failed()) << what;
        EXPECT_NE(g.netback->failure().find(what), std::string::npos) << g.netback->failure();
        EXPECT_FALSE(g.host_read());
        auto f = make_frame(false, false, 20);
        g.put(40, 0, f);
        g.send({NetFront::req(40, 0, static_cast<std::uint16_t>(f.size()), 77)});
        EXPECT_FALSE(g.host_read());
    }
    NetFront g;
};

TEST_F(NetbackTxFatal, single_slot_past_its_page) {
    g.send({NetFront::req(2, 4000, 200, 1)});
    expect_fatal("first slot crosses its page");
}

TEST_F(NetbackTxFatal, chain_slot_past_its_page) {
    g.send({NetFront::req(2, 0, 300, 1, NETTXF_more_data), NetFront::req(3, 4000, 200, 2)});
    expect_fatal("slot crosses its page");
}

TEST_F(NetbackTxFatal, chain_past_published_requests) {
    g.send({NetFront::req(2, 0, 300, 1, NETTXF_more_data), NetFront::req(3, 0, 200, 2, NETTXF_more_data)});
    expect_fatal("chain runs past");
}

TEST_F(NetbackTxFatal, too_many_slots_malicious) {
    std::vector<netif_tx_request> reqs = {NetFront::req(2, 0, 60000, 1, NETTXF_more_data)};
    for (unsigned i = 0; i < kFatalFollowingSlots + 1; ++i)
        reqs.push_back(NetFront::req(3 + i, 0, 10, static_cast<std::uint16_t>(2 + i), NETTXF_more_data));
    reqs.back().flags = 0;
    g.send(reqs);
    expect_fatal("too many slots");
}

TEST_F(NetbackTxFatal, missing_extra_info) {
    g.send({NetFront::req(2, 0, 60, 1, NETTXF_extra_info)});
    expect_fatal("missing extra info");
}

TEST_F(NetbackTxFatal, extra_type_none) {
    netif_extra_info e{};
    g.send({NetFront::req(2, 0, 60, 1, NETTXF_extra_info), NetFront::as_request(e)});
    expect_fatal("invalid extra info type");
}

TEST_F(NetbackTxFatal, extra_type_beyond_max) {
    netif_extra_info e{};
    e.type = XEN_NETIF_EXTRA_TYPE_MAX;
    g.send({NetFront::req(2, 0, 60, 1, NETTXF_extra_info), NetFront::as_request(e)});
    expect_fatal("invalid extra info type");
}

TEST_F(NetbackTxFatal, gso_size_zero) {
    g.send({NetFront::req(2, 0, 60, 1, NETTXF_extra_info), NetFront::gso_extra(XEN_NETIF_GSO_TYPE_TCPV4, 0)});
    expect_fatal("GSO size zero");
}

TEST_F(NetbackTxFatal, gso_type_unknown) {
    g.send({NetFront::req(2, 0, 60, 1, NETTXF_extra_info), NetFront::gso_extra(7, 1400)});
    expect_fatal("bad GSO type");
}

TEST_F(NetbackTxFatal, request_producer_lies) {
    g.tx->set_req_prod(1000);
    g.netback->on_event();
    expect_fatal("more than a ring ahead");
}

TEST(NetbackRx, frame_when_buffers_posted_then_copied_into_first) {
    NetFront g;
    g.start();
    g.post_rx(4, 20);
    auto f = make_frame(false, false, 50);
    g.host_write(VnetHeader{}, f);
    g.netback->on_tap();
    ASSERT_TRUE(g.rx->has_response());
    auto r = g.rx->next_response();
    EXPECT_EQ(r.id, 100);
    EXPECT_EQ(r.status, static_cast<std::int16_t>(f.size()));
    EXPECT_EQ(r.flags, 0);
    EXPECT_EQ(std::memcmp(g.gt.page(20), f.data(), f.size()), 0);
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(g.netback->stats().rx_packets, 1u);
    EXPECT_EQ(g.be.notifications_sent(), 1u);
}

TEST(NetbackRx, large_frame_for_sg_front_end_then_spread_over_slots) {
    NetFront g;
    g.start(all_features());
    g.post_rx(8, 20);
    auto f = make_frame(true, true, 9000);
    g.host_write(VnetHeader{0, 0, 0, 0, 0, 0}, f);
    g.netback->on_tap();
    std::vector<std::byte> got;
    for (unsigned i = 0; i < 3; ++i) {
        ASSERT_TRUE(g.rx->has_response());
        auto r = g.rx->next_response();
        EXPECT_EQ(r.id, 100 + i);
        EXPECT_EQ((r.flags & NETRXF_more_data) != 0, i < 2);
        ASSERT_GT(r.status, 0);
        got.insert(got.end(), g.gt.page(20 + i), g.gt.page(20 + i) + r.status);
    }
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(got, f);
}

TEST(NetbackRx, gso_frame_then_extra_info_in_second_slot_and_csum_flags) {
    NetFront g;
    g.start(all_features());
    g.post_rx(8, 20);
    auto f = make_frame(false, true, 6000);
    VnetHeader h{kVnetNeedsCsum, kVnetGsoTcpv4, 54, 1448, 34, 16};
    g.host_write(h, f);
    g.netback->on_tap();
    auto first = g.rx->next_response();
    EXPECT_EQ(first.flags, NETRXF_csum_blank | NETRXF_data_validated | NETRXF_extra_info | NETRXF_more_data);
    EXPECT_EQ(first.status, static_cast<std::int16_t>(kXenPageSize));
    auto e = g.rx->next_response<netif_extra_info>();
    EXPECT_EQ(e.type, XEN_NETIF_EXTRA_TYPE_GSO);
    EXPECT_EQ(e.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
    EXPECT_EQ(e.u.gso.size, 1448);
    EXPECT_EQ(e.flags, 0);
    auto second = g.rx->next_response();
    EXPECT_EQ(second.id, 102);
    EXPECT_EQ(second.flags, 0);
    EXPECT_EQ(second.status, static_cast<std::int16_t>(f.size() - kXenPageSize));
    EXPECT_EQ(std::memcmp(g.gt.page(22), f.data() + kXenPageSize, f.size() - kXenPageSize), 0);
}

TEST(NetbackRx, frame_larger_than_posted_buffers_no_hold_then_dropped_and_next_delivered) {
    NetFront g;
    g.start(all_features(), -1, 64, 0);
    g.post_rx(2, 20);
    g.host_write(VnetHeader{}, make_frame(false, false, 9000));
    auto small = make_frame(false, false, 40);
    g.host_write(VnetHeader{}, small);
    g.netback->on_tap();
    EXPECT_EQ(g.netback->stats().rx_no_room, 1u);
    ASSERT_TRUE(g.rx->has_response());
    auto r = g.rx->next_response();
    EXPECT_EQ(r.status, static_cast<std::int16_t>(small.size()));
}

TEST(NetbackRx, frame_larger_than_posted_buffers_then_held_until_front_end_posts_more) {
    NetFront g;
    g.start(all_features());
    g.post_rx(2, 20);
    auto f = make_frame(false, false, 9000);  // three slots
    g.host_write(VnetHeader{}, f);
    g.netback->on_tap();
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_FALSE(g.netback->wants_tap());
    EXPECT_GT(g.netback->rx_deadline_ms(), 0);
    EXPECT_EQ(g.rx->req_event(), 3u);  // notify me when the third buffer is posted
    g.post_rx(2, 22, 102);
    g.netback->on_event();
    std::vector<std::byte> got;
    for (unsigned i = 0; i < 3; ++i) {
        ASSERT_TRUE(g.rx->has_response());
        auto r = g.rx->next_response();
        got.insert(got.end(), g.gt.page(20 + i), g.gt.page(20 + i) + r.status);
    }
    EXPECT_EQ(got, f);
    EXPECT_EQ(g.netback->rx_deadline_ms(), -1);
    EXPECT_EQ(g.netback->stats().rx_no_room, 0u);
}

TEST(NetbackRx, held_frame_past_its_deadline_then_dropped_and_tap_read_again) {
    NetFront g;
    g.start(all_features(), -1, 64, 20);
    g.post_rx(1, 20);
    g.host_write(VnetHeader{}, make_frame(false, false, 9000));
    auto small = make_frame(false, false, 40);
    g.host_write(VnetHeader{}, small);
    g.netback->on_tap();
    EXPECT_FALSE(g.rx->has_response());
    for (int i = 0; i < 50 && !g.rx->has_response(); ++i) g.netback->poll_once(100);
    EXPECT_EQ(g.netback->stats().rx_no_room, 1u);
    ASSERT_TRUE(g.rx->has_response());
    EXPECT_EQ(g.rx->next_response().status, static_cast<std::int16_t>(small.size()));
}

TEST(NetbackRx, no_buffers_then_tap_left_alone_and_event_requested) {
    NetFront g;
    g.start();
    EXPECT_FALSE(g.netback->wants_tap());
    auto f = make_frame(false, false, 40);
    g.host_write(VnetHeader{}, f);
    g.netback->on_tap();
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(g.rx->req_event(), 1u);  // notify me at the next buffer
    // The front end posts a buffer and notifies: the frame arrives.
    EXPECT_TRUE(g.rx->free_slots() > 0);
    g.post_rx(1, 20);
    EXPECT_TRUE(g.netback->wants_tap());
    g.netback->on_event();
    ASSERT_TRUE(g.rx->has_response());
    EXPECT_EQ(g.rx->next_response().status, static_cast<std::int16_t>(f.size()));
}

TEST(NetbackRx, several_frames_queued_then_buffers_held_with_one_call_and_answered_in_order) {
    NetFront g;
    g.start(all_features());
    g.post_rx(16, 20);
    std::vector<std::vector<std::byte>> frames;
    for (std::size_t payload : {40u, 1400u, 6000u, 200u}) {
        frames.push_back(make_frame(false, false, payload));
        g.host_write(VnetHeader{}, frames.back());
    }
    std::size_t calls_before = g.gt.hold_calls();
    g.netback->on_tap();
    EXPECT_EQ(g.gt.hold_calls() - calls_before, 1u);
    EXPECT_EQ(g.gt.copy_calls(), 0u);
    EXPECT_EQ(g.gt.pins_held(), 0u);
    std::size_t page = 20;
    std::uint16_t id = 100;
    for (const auto& f : frames) {
        std::vector<std::byte> got;
        for (bool more = true; more;) {
            ASSERT_TRUE(g.rx->has_response());
            auto r = g.rx->next_response();
            EXPECT_EQ(r.id, id++);
            ASSERT_GT(r.status, 0);
            got.insert(got.end(), g.gt.page(page), g.gt.page(page) + r.status);
            ++page;
            more = r.flags & NETRXF_more_data;
        }
        EXPECT_EQ(got, f);
    }
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(g.netback->stats().rx_packets, 4u);
    EXPECT_EQ(g.be.notifications_sent(), 1u);  // one push for the batch
}

TEST(NetbackRx, frame_held_behind_a_batch_then_batch_delivered_and_held_frame_intact_with_what_follows) {
    NetFront g;
    g.start(all_features());
    g.post_rx(2, 20);
    auto first = make_frame(false, false, 100);
    auto held = make_frame(false, true, 9000);  // three slots; one is left
    auto after = make_frame(true, false, 300);
    g.host_write(VnetHeader{}, first);
    g.host_write(VnetHeader{}, held);
    g.host_write(VnetHeader{}, after);
    g.netback->on_tap();
    ASSERT_TRUE(g.rx->has_response());
    auto r = g.rx->next_response();
    EXPECT_EQ(r.status, static_cast<std::int16_t>(first.size()));
    EXPECT_EQ(std::memcmp(g.gt.page(20), first.data(), first.size()), 0);
    EXPECT_FALSE(g.rx->has_response());
    g.post_rx(4, 22, 102);
    g.netback->on_event();
    std::vector<std::byte> got;
    for (unsigned i = 0; i < 3; ++i) {
        ASSERT_TRUE(g.rx->has_response());
        r = g.rx->next_response();
        EXPECT_EQ(r.id, 101 + i);
        got.insert(got.end(), g.gt.page(21 + i), g.gt.page(21 + i) + r.status);
    }
    EXPECT_EQ(got, held);
    ASSERT_TRUE(g.rx->has_response());
    r = g.rx->next_response();
    EXPECT_EQ(r.id, 104);
    EXPECT_EQ(r.status, static_cast<std::int16_t>(after.size()));
    EXPECT_EQ(std::memcmp(g.gt.page(24), after.data(), after.size()), 0);
    EXPECT_EQ(g.netback->stats().rx_packets, 3u);
}

TEST(NetbackRx, multi_page_frame_for_non_sg_front_end_then_dropped) {
    NetFront g;
    g.start();  // no feature-sg
    g.post_rx(4, 20);
    g.host_write(VnetHeader{}, make_frame(false, false, 5000));
    g.netback->on_tap();
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(g.netback->stats().rx_unsupported, 1u);
}

TEST(NetbackRx, gso_type_front_end_did_not_ask_for_then_dropped) {
    NetFront g;
    FrontendFeatures f = all_features();
    f.gso_tcpv6 = false;
    g.start(f);
    g.post_rx(8, 20);
    g.host_write(VnetHeader{kVnetNeedsCsum, kVnetGsoTcpv6, 74, 1400, 54, 16}, make_frame(true, true, 5000));
    g.netback->on_tap();
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(g.netback->stats().rx_unsupported, 1u);
}

TEST(NetbackRx, partial_ipv6_checksum_without_ipv6_offload_then_completed_here) {
    NetFront g;
    FrontendFeatures feat;
    feat.csum = true;
    feat.ipv6_csum = false;
    g.start(feat);
    g.post_rx(2, 20);
    auto f = make_frame(true, false, 300);
    auto o = l4_offsets(f);
    ASSERT_TRUE(o);
    seed_pseudo_header(f, *o);
    g.host_write(VnetHeader{kVnetNeedsCsum, 0, 0, 0, 54, 6}, f);
    g.netback->on_tap();
    auto r = g.rx->next_response();
    EXPECT_EQ(r.flags, NETRXF_data_validated);
    EXPECT_TRUE(checksum_ok(std::span<const std::byte>(g.gt.page(20), f.size())));
}

TEST(NetbackRx, buffer_not_granted_then_slot_answered_error) {
    NetFront g;
    g.start();
    g.gt.revoke(20);
    g.post_rx(1, 20);
    g.host_write(VnetHeader{}, make_frame(false, false, 40));
    g.netback->on_tap();
    EXPECT_EQ(g.rx->next_response().status, NETIF_RSP_ERROR);
    EXPECT_EQ(g.netback->stats().rx_copy_errors, 1u);
    EXPECT_FALSE(g.netback->failed());
}

TEST(NetbackRx, request_producer_lies_then_queue_fails) {
    NetFront g;
    g.start();
    g.rx->set_req_prod(5000);
    g.netback->on_event();
    EXPECT_TRUE(g.netback->failed());
    EXPECT_NE(g.netback->failure().find("rx ring"), std::string::npos);
}

TEST(NetbackOffload, front_end_features_then_matching_tap_offloads) {
    FrontendFeatures f = all_features();
    auto o = offload_for(f);
    EXPECT_TRUE(o.csum && o.tso4 && o.tso6);
    f.sg = false;
    o = offload_for(f);
    EXPECT_TRUE(o.csum && !o.tso4 && !o.tso6);
    f = all_features();
    f.csum = false;
    f.ipv6_csum = false;
    o = offload_for(f);
    EXPECT_FALSE(o.csum || o.tso4 || o.tso6);
}

TEST(NetbackBudget, more_packets_than_budget_then_more_work_and_all_served) {
    NetFront g;
    g.start({}, -1, 2);
    auto f = make_frame(false, false, 20);
    std::vector<netif_tx_request> reqs;
    for (std::uint16_t i = 0; i < 5; ++i) {
        g.put(2 + i, 0, f);
        reqs.push_back(NetFront::req(2 + i, 0, static_cast<std::uint16_t>(f.size()), i));
    }
    g.send(reqs);
    EXPECT_TRUE(g.netback->more_work());
    while (g.netback->more_work()) g.netback->poll_once(0);
    EXPECT_EQ(g.netback->stats().tx_packets, 5u);
    EXPECT_EQ(g.tx_responses().size(), 5u);
}
