// The stand-in guest's network stack: its replies byte by byte, their
// checksums, hostile frames ignored, and the probe's ARP-then-UDP steps.
#include <gtest/gtest.h>

#include <random>

#include "backend/harness/guest_responder.hpp"

using namespace xenolith::backend::harness;

namespace guest_responder_test {

constexpr MacAddr kGuestMac = {0x00, 0x16, 0x3e, 0x00, 0x07, 0x00};
constexpr MacAddr kHostMac = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr MacAddr kOtherMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x09};
constexpr MacAddr kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::uint32_t kGuestIp = 0x0a0a0002;  // 10.10.0.2
constexpr std::uint32_t kHostIp = 0x0a0a0001;   // 10.10.0.1

struct Bytes {
    Frame f;
    Bytes& u8(unsigned v) {
        f.push_back(static_cast<std::byte>(v & 0xff));
        return *this;
    }
    Bytes& u16(unsigned v) { return u8(v >> 8).u8(v); }
    Bytes& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
    Bytes& mac(const MacAddr& m) {
        for (auto b : m) u8(b);
        return *this;
    }
    Bytes& text(std::string_view s) {
        for (char c : s) u8(static_cast<unsigned char>(c));
        return *this;
    }
    Bytes& eth(const MacAddr& to, const MacAddr& from, unsigned type) { return mac(to).mac(from).u16(type); }
};

unsigned get16(const Frame& f, std::size_t at) {
    return (std::to_integer<unsigned>(f.at(at)) << 8) | std::to_integer<unsigned>(f.at(at + 1));
}
std::uint32_t get32(const Frame& f, std::size_t at) { return (get16(f, at) << 16) | get16(f, at + 2); }

Frame arp(unsigned op, const MacAddr& eth_to, const MacAddr& sender_mac, std::uint32_t sender_ip,
          const MacAddr& target_mac, std::uint32_t target_ip) {
    Bytes b;
    b.eth(eth_to, sender_mac, 0x0806).u16(1).u16(0x0800).u8(6).u8(4).u16(op);
    b.mac(sender_mac).u32(sender_ip).mac(target_mac).u32(target_ip);
    return b.f;
}

// An IPv4 frame host -> guest; `total` overrides the IP length field.
Frame ipv4(std::uint8_t protocol, const Frame& l4, std::uint32_t dst = kGuestIp, const MacAddr& to = kGuestMac,
           int total = -1, unsigned frag = 0x4000) {
    Bytes b;
    b.eth(to, kHostMac, 0x0800).u8(0x45).u8(0).u16(total >= 0 ? unsigned(total) : unsigned(20 + l4.size()));
    b.u16(0x1234).u16(frag).u8(64).u8(protocol).u16(0).u32(kHostIp).u32(dst);
    b.f.insert(b.f.end(), l4.begin(), l4.end());
    return b.f;
}

Frame icmp_echo(unsigned id, unsigned seq, std::string_view data) {
    Bytes b;
    b.u8(8).u8(0).u16(0).u16(id).u16(seq).text(data);
    std::uint16_t sum = inet_checksum(b.f);
    b.f[2] = static_cast<std::byte>(sum >> 8);
    b.f[3] = static_cast<std::byte>(sum & 0xff);
    return b.f;
}

// A UDP datagram whose checksum field holds `csum` as is (a partial one,
// as NETRXF_csum_blank leaves it, or garbage: the responder never reads it).
Frame udp(unsigned sport, unsigned dport, std::string_view data, unsigned csum = 0xbeef, int ulen = -1) {
    Bytes b;
    b.u16(sport).u16(dport).u16(ulen >= 0 ? unsigned(ulen) : unsigned(8 + data.size())).u16(csum).text(data);
    return b.f;
}

std::uint32_t pseudo_sum(std::uint32_t src, std::uint32_t dst, unsigned len) {
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 17 + len;
}

// Ethernet and IPv4 of a reply from the guest to the host: addresses
// swapped, a 20-byte header with a valid checksum; returns the L4 part.
Frame expect_ipv4_reply(const Frame& f, unsigned protocol, std::uint32_t to_ip = kHostIp,
                        const MacAddr& to_mac = kHostMac) {
    EXPECT_GE(f.size(), 34u);
    if (f.size() < 34) return {};
    EXPECT_EQ(Frame(f.begin(), f.begin() + 6), Bytes{}.mac(to_mac).f);
    EXPECT_EQ(Frame(f.begin() + 6, f.begin() + 12), Bytes{}.mac(kGuestMac).f);
    EXPECT_EQ(get16(f, 12), 0x0800u);
    EXPECT_EQ(std::to_integer<unsigned>(f[14]), 0x45u);
    EXPECT_EQ(get16(f, 16), f.size() - 14);
    EXPECT_EQ(std::to_integer<unsigned>(f[23]), protocol);
    EXPECT_EQ(get32(f, 26), kGuestIp);
    EXPECT_EQ(get32(f, 30), to_ip);
    EXPECT_EQ(inet_checksum(std::span(f).subspan(14, 20)), 0) << "IP header checksum";
    return Frame(f.begin() + 34, f.end());
}

TEST(GuestResponder, ArpRequestForUsIsAnsweredByteForByte) {
    GuestResponder g(kGuestMac, kGuestIp);
    auto replies = g.answer(arp(1, kBroadcastMac, kHostMac, kHostIp, MacAddr{}, kGuestIp));
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], arp(2, kHostMac, kGuestMac, kGuestIp, kHostMac, kHostIp));
    EXPECT_EQ(g.counts().arp_replies, 1u);
}

TEST(GuestResponder, ArpForAnotherAddressOrMacIsIgnored) {
    GuestResponder g(kGuestMac, kGuestIp);
    EXPECT_TRUE(g.answer(arp(1, kBroadcastMac, kHostMac, kHostIp, MacAddr{}, kGuestIp + 1)).empty());
    EXPECT_TRUE(g.answer(arp(1, kOtherMac, kHostMac, kHostIp, MacAddr{}, kGuestIp)).empty());
    EXPECT_TRUE(g.answer(arp(2, kGuestMac, kHostMac, kHostIp, kGuestMac, kGuestIp)).empty());
    auto wrong_hw = arp(1, kBroadcastMac, kHostMac, kHostIp, MacAddr{}, kGuestIp);
    wrong_hw[18] = std::byte{8};  // hardware address length
    EXPECT_TRUE(g.answer(wrong_hw).empty());
    EXPECT_EQ(g.counts().arp_replies, 0u);
}

TEST(GuestResponder, PingIsAnsweredWithValidChecksums) {
    GuestResponder g(kGuestMac, kGuestIp);
    auto request = ipv4(1, icmp_echo(0x4242, 7, "abcdefghijklmnopqrstuvw"));
    request.resize(request.size() + 5);  // Ethernet padding beyond the IP length
    auto replies = g.answer(request);
    ASSERT_EQ(replies.size(), 1u);
    Frame icmp = expect_ipv4_reply(replies[0], 1);
    ASSERT_EQ(icmp.size(), 8u + 23u);
    EXPECT_EQ(std::to_integer<unsigned>(icmp[0]), 0u) << "echo reply";
    EXPECT_EQ(get16(icmp, 4), 0x4242u);
    EXPECT_EQ(get16(icmp, 6), 7u);
    EXPECT_EQ(Frame(icmp.begin() + 8, icmp.end()), Bytes{}.text("abcdefghijklmnopqrstuvw").f);
    EXPECT_EQ(inet_checksum(icmp), 0) << "ICMP checksum";
    EXPECT_EQ(g.counts().icmp_replies, 1u);
}

TEST(GuestResponder, OddLengthPingChecksumIsValid) {
    GuestResponder g(kGuestMac, kGuestIp);
    auto replies = g.answer(ipv4(1, icmp_echo(1, 1, "odd")));
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(inet_checksum(expect_ipv4_reply(replies[0], 1)), 0);
}

TEST(GuestResponder, UdpEchoWithABlankChecksumComesBackChecksummed) {
    GuestResponder g(kGuestMac, kGuestIp);
    for (unsigned csum : {0u, 0xbeefu}) {
        auto replies = g.answer(ipv4(17, udp(5555, 7, "xenolith", csum)));
        ASSERT_EQ(replies.size(), 1u);
        Frame u = expect_ipv4_reply(replies[0], 17);
        ASSERT_EQ(u.size(), 16u);
        EXPECT_EQ(get16(u, 0), 7u);
        EXPECT_EQ(get16(u, 2), 5555u);
        EXPECT_EQ(get16(u, 4), 16u);
        EXPECT_NE(get16(u, 6), 0u) << "a checksum is computed";
        EXPECT_EQ(inet_checksum(u, pseudo_sum(kGuestIp, kHostIp, 16)), 0) << "UDP checksum";
        EXPECT_EQ(Frame(u.begin() + 8, u.end()), Bytes{}.text("xenolith").f);
    }
    EXPECT_EQ(g.counts().udp_echoes, 2u);
}

TEST(GuestResponder, UdpPayloadIsTheUdpLengthNotTheFrames) {
    GuestResponder g(kGuestMac, kGuestIp);
    // 4 bytes of the 8 are the datagram; the rest is IP payload beyond it.
    auto replies = g.answer(ipv4(17, udp(9, 7, "abcdefgh", 0, 12)));
    ASSERT_EQ(replies.size(), 1u);
    Frame u = expect_ipv4_reply(replies[0], 17);
    EXPECT_EQ(Frame(u.begin() + 8, u.end()), Bytes{}.text("abcd").f);
}

TEST(GuestResponder, FramesNotForUsAreIgnored) {
    GuestResponder g(kGuestMac, kGuestIp);
    EXPECT_TRUE(g.answer(ipv4(1, icmp_echo(1, 1, "x"), kGuestIp + 1)).empty()) << "another IP";
    EXPECT_TRUE(g.answer(ipv4(1, icmp_echo(1, 1, "x"), kGuestIp, kOtherMac)).empty()) << "another MAC";
    EXPECT_TRUE(g.answer(ipv4(17, udp(1, 9, "x"))).empty()) << "not the echo port";
    Frame reply = icmp_echo(1, 1, "x");
    reply[0] = std::byte{0};
    EXPECT_TRUE(g.answer(ipv4(1, reply)).empty()) << "an echo reply is not answered";
    EXPECT_TRUE(g.answer(ipv4(6, udp(1, 7, "x"))).empty()) << "TCP";
    Frame v6 = ipv4(17, udp(1, 7, "x"));
    v6[12] = std::byte{0x86};
    v6[13] = std::byte{0xdd};
    EXPECT_TRUE(g.answer(v6).empty()) << "IPv6";
    EXPECT_EQ(g.counts().ignored, 6u);
}

TEST(GuestResponder, WrongLengthsAndFragmentsAreIgnored) {
    GuestResponder g(kGuestMac, kGuestIp);
    auto ping = icmp_echo(1, 1, "abcdefgh");
    EXPECT_TRUE(g.answer(ipv4(1, ping, kGuestIp, kGuestMac, 20 + 16 + 1)).empty()) << "IP length beyond the frame";
    EXPECT_TRUE(g.answer(ipv4(1, ping, kGuestIp, kGuestMac, 19)).empty()) << "IP length below its header";
    EXPECT_TRUE(g.answer(ipv4(1, ping, kGuestIp, kGuestMac, 20 + 7)).empty()) << "ICMP shorter than its header";
    EXPECT_TRUE(g.answer(ipv4(17, udp(1, 7, "abc", 0, 7))).empty()) << "UDP length below 8";
    EXPECT_TRUE(g.answer(ipv4(17, udp(1, 7, "abc", 0, 12))).empty()) << "UDP length beyond the packet";
    EXPECT_TRUE(g.answer(ipv4(1, ping, kGuestIp, kGuestMac, -1, 0x2000)).empty()) << "more fragments";
    EXPECT_TRUE(g.answer(ipv4(1, ping, kGuestIp, kGuestMac, -1, 0x0001)).empty()) << "a later fragment";
    Frame bad_ihl = ipv4(1, ping);
    bad_ihl[14] = std::byte{0x44};
    EXPECT_TRUE(g.answer(bad_ihl).empty()) << "IHL below 5";
    bad_ihl[14] = std::byte{0x4f};
    EXPECT_TRUE(g.answer(bad_ihl).empty()) << "IHL beyond the packet";
    bad_ihl[14] = std::byte{0x65};
    EXPECT_TRUE(g.answer(bad_ihl).empty()) << "version 6 in an IPv4 frame";
}

TEST(GuestResponder, EveryTruncationOfValidRequestsIsIgnored) {
    GuestResponder g(kGuestMac, kGuestIp);
    for (const Frame& whole : {arp(1, kBroadcastMac, kHostMac, kHostIp, MacAddr{}, kGuestIp),
                               ipv4(1, icmp_echo(3, 4, "payload")), ipv4(17, udp(3, 7, "payload"))}) {
        ASSERT_EQ(g.answer(whole).size(), 1u);
        for (std::size_t n = 0; n < whole.size(); ++n)
            EXPECT_TRUE(g.answer(std::span(whole).first(n)).empty()) << n << " of " << whole.size() << " bytes";
    }
}

TEST(GuestResponder, RandomBytesNeverCrash) {
    GuestResponder g(kGuestMac, kGuestIp);
    std::mt19937 rng(11);
    const Frame seeds[] = {arp(1, kBroadcastMac, kHostMac, kHostIp, MacAddr{}, kGuestIp),
                           ipv4(1, icmp_echo(3, 4, "payload")), ipv4(17, udp(3, 7, "payload"))};
    for (int i = 0; i < 20000; ++i) {
        Frame f = seeds[i % 3];
        for (int flips = 0; flips < 4; ++flips)
            f[rng() % f.size()] = static_cast<std::byte>(rng());
        f.resize(rng() % (f.size() + 8));
        for (const Frame& r : g.answer(f)) EXPECT_GE(r.size(), 42u);
    }
}

TEST(GuestResponder, ProbeArpsForTheGatewayThenSendsUdpUntilEchoed) {
    constexpr std::uint32_t kRouter = 0x0a000980, kTarget = 0xc0000201;  // 10.0.9.128, 192.0.2.1
    GuestResponder g(kGuestMac, kGuestIp);
    EXPECT_FALSE(g.probe_frame()) << "no probe started";
    g.start_probe(kRouter, kTarget, 7);
    EXPECT_FALSE(g.probe_done());

    // Until the gateway answers: ARP requests, broadcast, again and again.
    for (int i = 0; i < 2; ++i) {
        auto f = g.probe_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(*f, arp(1, kBroadcastMac, kGuestMac, kGuestIp, MacAddr{}, kRouter));
    }
    // Another host's reply teaches nothing.
    EXPECT_TRUE(g.answer(arp(2, kGuestMac, kOtherMac, kRouter + 1, kGuestMac, kGuestIp)).empty());
    EXPECT_FALSE(g.gateway_mac());
    EXPECT_TRUE(g.answer(arp(2, kGuestMac, kHostMac, kRouter, kGuestMac, kGuestIp)).empty());
    ASSERT_TRUE(g.gateway_mac());
    EXPECT_EQ(*g.gateway_mac(), kHostMac);

    // Then the datagram, to the target through the gateway's MAC.
    auto f = g.probe_frame();
    ASSERT_TRUE(f);
    Frame u = expect_ipv4_reply(*f, 17, kTarget, kHostMac);
    ASSERT_GE(u.size(), 8u);
    EXPECT_EQ(get16(u, 0), GuestResponder::kProbeSourcePort);
    EXPECT_EQ(get16(u, 2), 7u);
    EXPECT_EQ(inet_checksum(u, pseudo_sum(kGuestIp, kTarget, unsigned(u.size()))), 0);
    Frame payload(u.begin() + 8, u.end());

    // The echo: from the target's port 7 to ours, the same payload.
    auto echo = [&](std::uint32_t from, unsigned sport, unsigned dport, const Frame& data) {
        Frame l4 = udp(sport, dport, "");
        l4.insert(l4.end(), data.begin(), data.end());
        l4[4] = static_cast<std::byte>((8 + data.size()) >> 8);
        l4[5] = static_cast<std::byte>((8 + data.size()) & 0xff);
        Frame fr = ipv4(17, l4);
        for (int i = 0; i < 4; ++i) fr[26 + i] = static_cast<std::byte>(from >> (24 - 8 * i));
        return g.answer(fr);
    };
    EXPECT_TRUE(echo(kTarget + 1, 7, GuestResponder::kProbeSourcePort, payload).empty());
    EXPECT_TRUE(echo(kTarget, 8, GuestResponder::kProbeSourcePort, payload).empty());
    EXPECT_TRUE(echo(kTarget, 7, GuestResponder::kProbeSourcePort, Bytes{}.text("other").f).empty());
    EXPECT_FALSE(g.probe_done());
    EXPECT_TRUE(echo(kTarget, 7, GuestResponder::kProbeSourcePort, payload).empty());
    EXPECT_TRUE(g.probe_done());
    EXPECT_FALSE(g.probe_frame()) << "nothing more to send";
}

TEST(GuestResponder, GatewayAskingForUsTeachesItsMac) {
    GuestResponder g(kGuestMac, kGuestIp);
    g.start_probe(kHostIp, 0xc0000201, 7);
    EXPECT_EQ(g.answer(arp(1, kBroadcastMac, kHostMac, kHostIp, MacAddr{}, kGuestIp)).size(), 1u);
    ASSERT_TRUE(g.gateway_mac());
    EXPECT_EQ(*g.gateway_mac(), kHostMac);
}

TEST(GuestResponder, ParsesMacsAndAddresses) {
    EXPECT_EQ(parse_mac_addr("00:16:3e:00:07:0A"), (MacAddr{0, 0x16, 0x3e, 0, 7, 0x0a}));
    EXPECT_FALSE(parse_mac_addr("00:16:3e:00:07"));
    EXPECT_FALSE(parse_mac_addr("00-16-3e-00-07-00"));
    EXPECT_FALSE(parse_mac_addr("00:16:3e:00:07:0g"));
    EXPECT_EQ(parse_ipv4("10.0.9.128"), 0x0a000980u);
    EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xffffffffu);
    EXPECT_FALSE(parse_ipv4("10.0.9"));
    EXPECT_FALSE(parse_ipv4("10.0.9.256"));
    EXPECT_FALSE(parse_ipv4("10.0.9.1.2"));
    EXPECT_FALSE(parse_ipv4("10..9.1"));
    EXPECT_FALSE(parse_ipv4("10.0.9.1 "));
}

}  // namespace guest_responder_test
