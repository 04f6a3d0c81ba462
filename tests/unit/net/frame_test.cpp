// The bounded header walk behind csum_start/csum_offset and GSO's hdr_len.
#include <gtest/gtest.h>

#include "backend/net/frame.hpp"
#include "net_front.hpp"

using namespace xenolith::backend::net;
using namespace xenolith::backend::net::testing;

TEST(Frame, tcp_over_ipv4_then_offsets) {
    auto f = make_frame(false, true, 10);
    auto o = l4_offsets(f);
    ASSERT_TRUE(o);
    EXPECT_FALSE(o->ipv6);
    EXPECT_EQ(o->l4_start, 34);
    EXPECT_EQ(o->csum_offset, 16);
    EXPECT_EQ(o->headers_len, 54);
    EXPECT_EQ(o->l4_len, 30u);
}

TEST(Frame, udp_over_ipv6_with_extension_header_then_skipped) {
    auto f = make_frame(true, false, 10);
    // Insert an 8-byte destination-options header after the IPv6 header.
    std::vector<std::byte> ext(8);
    ext[0] = std::byte{17};  // next: UDP
    f.insert(f.begin() + 54, ext.begin(), ext.end());
    f[20] = std::byte{60};
    f[19] = static_cast<std::byte>(std::to_integer<unsigned>(f[19]) + 8);
    auto o = l4_offsets(f);
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->ipv6);
    EXPECT_EQ(o->l4_start, 62);
    EXPECT_EQ(o->csum_offset, 6);
}

TEST(Frame, vlan_tag_then_offsets_after_it) {
    auto f = make_frame(false, false, 10);
    std::vector<std::byte> tag = {std::byte{0x81}, std::byte{0x00}, std::byte{0x00}, std::byte{0x05}};
    f.insert(f.begin() + 12, tag.begin(), tag.end());
    auto o = l4_offsets(f);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->l4_start, 38);
}

TEST(Frame, hostile_headers_then_no_offsets) {
    auto f = make_frame(false, true, 10);
    auto frag = f;
    frag[20] = std::byte{0x20};  // more fragments
    EXPECT_FALSE(l4_offsets(frag));
    auto longer = f;
    longer[17] = std::byte{0xff};  // IP total length past the frame
    EXPECT_FALSE(l4_offsets(longer));
    auto ihl = f;
    ihl[14] = std::byte{0x4f};  // 60-byte IP header, TCP cut short
    EXPECT_FALSE(l4_offsets(ihl));
    auto doff = f;
    doff[34 + 12] = std::byte{0xf0};  // 60-byte TCP header past the datagram
    EXPECT_FALSE(l4_offsets(doff));
    EXPECT_FALSE(l4_offsets(std::span(f).subspan(0, 40)));
    auto arp = f;
    arp[12] = std::byte{0x08};
    arp[13] = std::byte{0x06};
    EXPECT_FALSE(l4_offsets(arp));
    // An endless chain of IPv6 hop-by-hop headers.
    auto v6 = make_frame(true, false, 200);
    v6[20] = std::byte{0};
    for (std::size_t at = 54; at + 8 <= v6.size(); at += 8) { v6[at] = std::byte{0}; v6[at + 1] = std::byte{0}; }
    EXPECT_FALSE(l4_offsets(v6));
}

TEST(Frame, checksum_completed_then_sums_to_zero) {
    auto f = make_frame(false, false, 33);  // odd length
    auto o = l4_offsets(f);
    ASSERT_TRUE(o);
    seed_pseudo_header(f, *o);
    ASSERT_TRUE(complete_checksum(f, o->l4_start, o->csum_offset));
    // Reseeding a copy and completing it again gives the same field.
    auto again = f;
    seed_pseudo_header(again, *o);
    complete_checksum(again, o->l4_start, o->csum_offset);
    EXPECT_EQ(again, f);
    EXPECT_FALSE(complete_checksum(f, f.size() - 1, 6));
}
