// netback's TAP I/O straight on the guest's held pages: a tx batch held
// with one call and written from the pages (headers from a private copy),
// rx frames read into held buffers in Linux's layout, and a bad grant in
// the middle of a batch failing only its own frame or slot, with every pin
// given back.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/net/frame.hpp"
#include "net_front.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::net;
using namespace xenolith::backend::net::testing;

namespace netback_zero_copy_test {

FrontendFeatures sg_features() {
    FrontendFeatures f;
    f.sg = f.gso_tcpv4 = f.gso_tcpv6 = f.csum = f.ipv6_csum = true;
    return f;
}

// `f` in guest pages from `first_frame` on: the first slot `first` bytes at
// `offset`, the rest a page each; an optional GSO extra after the first.
std::vector<netif_tx_request> place(NetFront& g, const std::vector<std::byte>& f, std::size_t first_frame,
                                    std::uint16_t offset, std::size_t first, std::uint16_t id, std::uint16_t flags = 0,
                                    bool gso_extra = false, std::uint8_t gso_type = XEN_NETIF_GSO_TYPE_TCPV4) {
    std::vector<netif_tx_request> reqs;
    std::size_t len = std::min(first, f.size());
    g.put(first_frame, offset, std::span(f).subspan(0, len));
    reqs.push_back(NetFront::req(first_frame, offset, static_cast<std::uint16_t>(f.size()), id++, flags));
    if (gso_extra) {
        reqs.front().flags |= NETTXF_extra_info;
        reqs.push_back(NetFront::gso_extra(gso_type, 1448));
    }
    for (std::size_t at = len, frame = first_frame + 1; at < f.size(); ++frame) {
        std::size_t n = std::min<std::size_t>(kXenPageSize, f.size() - at);
        g.put(frame, 0, std::span(f).subspan(at, n));
        reqs.push_back(NetFront::req(frame, 0, static_cast<std::uint16_t>(n), id++));
        at += n;
    }
    const std::size_t data_from = gso_extra ? 2 : 1;
    if (reqs.size() > data_from) reqs.front().flags |= NETTXF_more_data;
    for (std::size_t i = data_from; i + 1 < reqs.size(); ++i) reqs[i].flags |= NETTXF_more_data;
    return reqs;
}

// An IPv6/TCP frame with a hop-by-hop header of `ext` bytes (a multiple of
// 8) before TCP: headers longer than netback's private copy of the head.
std::vector<std::byte> ipv6_with_hop_by_hop(std::size_t ext, std::size_t payload) {
    auto base = make_frame(true, true, payload);
    std::vector<std::byte> f(base.begin(), base.begin() + 54);
    f[20] = std::byte{0};  // next header: hop-by-hop
    std::vector<std::byte> hbh(ext);
    hbh[0] = std::byte{6};  // then TCP
    hbh[1] = static_cast<std::byte>(ext / 8 - 1);
    f.insert(f.end(), hbh.begin(), hbh.end());
    f.insert(f.end(), base.begin() + 54, base.end());
    const std::size_t plen = f.size() - 54;
    f[18] = static_cast<std::byte>(plen >> 8);
    f[19] = static_cast<std::byte>(plen & 0xff);
    return f;
}

std::vector<std::byte> slot_bytes(NetFront& g, std::size_t page, std::int16_t status) {
    return std::vector<std::byte>(g.gt.page(page), g.gt.page(page) + status);
}

}  // namespace netback_zero_copy_test

using namespace netback_zero_copy_test;

TEST(NetbackZeroCopyTx, batch_of_frames_then_held_with_one_call_and_written_from_the_pages) {
    NetFront g;
    g.start();
    auto small = make_frame(false, false, 60);
    auto gso = make_frame(false, true, 20000);
    auto chained = make_frame(true, false, 6000);
    std::vector<netif_tx_request> reqs;
    for (auto& r : place(g, small, 2, 300, kXenPageSize, 1)) reqs.push_back(r);
    for (auto& r : place(g, gso, 10, 0, kXenPageSize, 10, NETTXF_csum_blank, true)) reqs.push_back(r);
    for (auto& r : place(g, chained, 30, 4000, 96, 20)) reqs.push_back(r);
    const std::size_t holds = g.gt.hold_calls();
    g.send(reqs);
    EXPECT_EQ(g.gt.hold_calls() - holds, 1u);
    EXPECT_EQ(g.gt.copy_calls(), 0u);
    EXPECT_EQ(g.gt.pins_held(), 0u);
    EXPECT_EQ(g.gt.flags(10), GTF_permit_access);  // GTF_reading gone with the hold
    for (const auto* f : {&small, &gso, &chained}) {
        auto got = g.host_read();
        ASSERT_TRUE(got);
        EXPECT_EQ(got->second, *f);
    }
    auto rsp = g.tx_responses();
    ASSERT_EQ(rsp.size(), reqs.size());
    for (std::size_t i = 0; i < rsp.size(); ++i) EXPECT_EQ(rsp[i].status, i == 2 ? NETIF_RSP_NULL : NETIF_RSP_OKAY) << i;
    EXPECT_EQ(g.netback->stats().tx_packets, 3u);
}

TEST(NetbackZeroCopyTx, bad_grant_in_the_middle_of_a_batch_then_only_its_frame_answered_error) {
    NetFront g;
    g.start();
    auto a = make_frame(false, false, 100);
    auto b = make_frame(false, true, 9000);
    auto c = make_frame(false, false, 200);
    auto ra = place(g, a, 2, 0, kXenPageSize, 1);
    auto rb = place(g, b, 10, 0, kXenPageSize, 2);
    auto rc = place(g, c, 20, 0, kXenPageSize, 9);
    g.gt.revoke(11);  // b's second slot
    std::vector<netif_tx_request> reqs = ra;
    reqs.insert(reqs.end(), rb.begin(), rb.end());
    reqs.insert(reqs.end(), rc.begin(), rc.end());
    const std::size_t holds = g.gt.hold_calls();
    g.send(reqs);
    EXPECT_EQ(g.gt.hold_calls() - holds, 1u);
    auto rsp = g.tx_responses();
    ASSERT_EQ(rsp.size(), 5u);
    EXPECT_EQ(rsp[0].status, NETIF_RSP_OKAY);
    for (std::size_t i = 1; i < 4; ++i) {
        EXPECT_EQ(rsp[i].id, rb[i - 1].id);
        EXPECT_EQ(rsp[i].status, NETIF_RSP_ERROR);
    }
    EXPECT_EQ(rsp[4].status, NETIF_RSP_OKAY);
    auto first = g.host_read();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->second, a);
    auto second = g.host_read();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->second, c);
    EXPECT_FALSE(g.host_read());
    EXPECT_EQ(g.netback->stats().tx_errors, 1u);
    EXPECT_EQ(g.gt.pins_held(), 0u);
    EXPECT_EQ(g.gt.flags(10), GTF_permit_access);
    EXPECT_EQ(g.gt.flags(12), GTF_permit_access);
}

TEST(NetbackZeroCopyTx, headers_split_across_slots_then_read_from_a_private_copy_guest_pages_untouched) {
    NetFront g;
    g.start();
    auto f = make_frame(false, true, 5000);
    // The first slot ends inside the IP header; GSO without csum_blank makes
    // netback seed the pseudo-header sum, which must not reach the guest.
    auto reqs = place(g, f, 10, 4076, 20, 1, 0, true);
    g.send(reqs);
    auto got = g.host_read();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->first.gso_type, kVnetGsoTcpv4);
    EXPECT_EQ(got->first.csum_start, 34);
    EXPECT_EQ(got->first.hdr_len, 54);
    EXPECT_NE(got->second, f);  // the sum seeded in the TCP header
    EXPECT_TRUE(std::equal(got->second.begin() + 54, got->second.end(), f.begin() + 54));
    EXPECT_EQ(std::memcmp(g.gt.page(11), f.data() + 20, kXenPageSize), 0);  // the guest's copy as it was
}

TEST(NetbackZeroCopyTx, headers_longer_than_the_private_head_then_parsed_from_the_whole_frame) {
    NetFront g;
    g.start();
    auto f = ipv6_with_hop_by_hop(304, 5000);
    g.send(place(g, f, 10, 0, kXenPageSize, 1, NETTXF_csum_blank));
    auto got = g.host_read();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->first.flags, kVnetNeedsCsum);
    EXPECT_EQ(got->first.csum_start, 54 + 304);
    EXPECT_EQ(got->first.csum_offset, 16);
    EXPECT_EQ(got->second, f);
}

TEST(NetbackZeroCopyRx, room_for_the_largest_frame_then_frames_read_in_place_with_one_hold) {
    NetFront g;
    g.start(sg_features());
    g.post_rx(40, 20);
    auto gso = make_frame(false, true, 12000);  // 3 pages: slots 0, extra, 2, 3
    auto small = make_frame(false, false, 80);
    g.host_write(VnetHeader{kVnetNeedsCsum, kVnetGsoTcpv4, 54, 1448, 34, 16}, gso);
    g.host_write(VnetHeader{}, small);
    const std::size_t holds = g.gt.hold_calls();
    g.netback->on_tap();
    EXPECT_EQ(g.gt.hold_calls() - holds, 1u);
    EXPECT_EQ(g.netback->stats().rx_in_place, 2u);
    EXPECT_EQ(g.gt.pins_held(), 0u);
    EXPECT_EQ(g.gt.flags(22), GTF_permit_access);  // GTF_reading/GTF_writing gone
    std::vector<std::byte> got;
    auto r0 = g.rx->next_response();
    EXPECT_EQ(r0.id, 100);
    EXPECT_TRUE(r0.flags & NETRXF_extra_info);
    got = slot_bytes(g, 20, r0.status);
    auto e = g.rx->next_response<netif_extra_info>();
    EXPECT_EQ(e.type, XEN_NETIF_EXTRA_TYPE_GSO);
    for (std::uint16_t id = 102; id <= 103; ++id) {
        auto r = g.rx->next_response();
        EXPECT_EQ(r.id, id);
        auto b = slot_bytes(g, 20 + (id - 100), r.status);
        got.insert(got.end(), b.begin(), b.end());
    }
    EXPECT_EQ(got, gso);
    auto rs = g.rx->next_response();
    EXPECT_EQ(rs.id, 104);
    EXPECT_EQ(slot_bytes(g, 24, rs.status), small);
    EXPECT_FALSE(g.rx->has_response());
}

TEST(NetbackZeroCopyRx, multi_page_frame_without_gso_then_moved_into_linux_layout) {
    NetFront g;
    g.start(sg_features());
    g.post_rx(40, 20);
    auto f = make_frame(true, false, 9000);
    g.host_write(VnetHeader{}, f);
    g.netback->on_tap();
    std::vector<std::byte> got;
    for (std::uint16_t i = 0; i < 3; ++i) {
        auto r = g.rx->next_response();
        EXPECT_EQ(r.id, 100 + i);
        ASSERT_GT(r.status, 0);
        auto b = slot_bytes(g, 20 + i, r.status);
        got.insert(got.end(), b.begin(), b.end());
    }
    EXPECT_EQ(got, f);
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(g.gt.pins_held(), 0u);
}

TEST(NetbackZeroCopyRx, bad_buffer_among_the_held_then_only_its_slot_answered_error) {
    NetFront g;
    g.start(sg_features());
    g.gt.revoke(22);  // the GSO frame's second data page's buffer
    g.post_rx(40, 20);
    auto gso = make_frame(false, true, 12000);
    auto small = make_frame(false, false, 80);
    g.host_write(VnetHeader{kVnetNeedsCsum, kVnetGsoTcpv4, 54, 1448, 34, 16}, gso);
    g.host_write(VnetHeader{}, small);
    g.netback->on_tap();
    auto r0 = g.rx->next_response();
    EXPECT_EQ(r0.status, static_cast<std::int16_t>(kXenPageSize));
    EXPECT_EQ(std::memcmp(g.gt.page(20), gso.data(), kXenPageSize), 0);
    g.rx->next_response<netif_extra_info>();
    auto r2 = g.rx->next_response();
    EXPECT_EQ(r2.id, 102);
    EXPECT_EQ(r2.status, NETIF_RSP_ERROR);
    auto r3 = g.rx->next_response();
    EXPECT_EQ(r3.id, 103);
    ASSERT_GT(r3.status, 0);
    EXPECT_EQ(std::memcmp(g.gt.page(23), gso.data() + 2 * kXenPageSize, static_cast<std::size_t>(r3.status)), 0);
    auto rs = g.rx->next_response();
    EXPECT_EQ(slot_bytes(g, 24, rs.status), small);
    EXPECT_EQ(g.netback->stats().rx_copy_errors, 1u);
    EXPECT_EQ(g.netback->stats().rx_packets, 2u);
    EXPECT_FALSE(g.netback->failed());
    EXPECT_EQ(g.gt.pins_held(), 0u);
}

TEST(NetbackZeroCopyRx, partial_checksum_across_pages_then_gathered_completed_and_laid_out) {
    NetFront g;
    FrontendFeatures feat = sg_features();
    feat.ipv6_csum = false;
    g.start(feat);
    g.post_rx(40, 20);
    auto f = make_frame(true, false, 7000);
    auto o = l4_offsets(f);
    ASSERT_TRUE(o);
    seed_pseudo_header(f, *o);
    g.host_write(VnetHeader{kVnetNeedsCsum, 0, 0, 0, 54, 6}, f);
    g.netback->on_tap();
    std::vector<std::byte> got;
    for (std::uint16_t i = 0; i < 2; ++i) {
        auto r = g.rx->next_response();
        if (i == 0) {
            EXPECT_EQ(r.flags, NETRXF_data_validated | NETRXF_more_data);
        }
        auto b = slot_bytes(g, 20 + i, r.status);
        got.insert(got.end(), b.begin(), b.end());
    }
    ASSERT_EQ(got.size(), f.size());
    EXPECT_TRUE(std::equal(got.begin() + 62, got.end(), f.begin() + 62));
    auto check = got;  // the sum netback completed is the one computed from scratch
    auto o2 = l4_offsets(check);
    ASSERT_TRUE(o2);
    seed_pseudo_header(check, *o2);
    complete_checksum(check, 54, 6, true);
    EXPECT_EQ(check, got);
}

TEST(NetbackZeroCopyRx, non_sg_front_end_then_single_page_frames_in_place) {
    NetFront g;
    g.start();
    g.post_rx(4, 20);
    auto f = make_frame(false, false, 1400);
    g.host_write(VnetHeader{}, f);
    g.host_write(VnetHeader{}, make_frame(false, false, 5000));  // needs sg: dropped
    g.netback->on_tap();
    EXPECT_EQ(g.netback->stats().rx_in_place, 1u);
    EXPECT_EQ(g.netback->stats().rx_unsupported, 1u);
    auto r = g.rx->next_response();
    EXPECT_EQ(slot_bytes(g, 20, r.status), f);
    EXPECT_FALSE(g.rx->has_response());
    EXPECT_EQ(g.gt.pins_held(), 0u);
}
