#include "backend/harness/guest_responder.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace xenolith::backend::harness {

namespace {

constexpr std::size_t kEthHeader = 14;
constexpr std::size_t kArpBody = 28;  // Ethernet/IPv4 ARP
constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kIcmpHeader = 8;
constexpr std::uint16_t kEtherIpv4 = 0x0800, kEtherArp = 0x0806;
constexpr std::uint16_t kArpRequest = 1, kArpReply = 2;
constexpr std::uint8_t kProtoIcmp = 1, kProtoUdp = 17;
constexpr std::uint8_t kIcmpEchoReply = 0, kIcmpEchoRequest = 8;
constexpr MacAddr kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::string_view kProbePayload = "xenolith-probe";

std::uint16_t be16(std::span<const std::byte> f, std::size_t at) {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(f[at]) << 8) | std::to_integer<unsigned>(f[at + 1]));
}
std::uint32_t be32(std::span<const std::byte> f, std::size_t at) {
    return (std::uint32_t{be16(f, at)} << 16) | be16(f, at + 2);
}
MacAddr mac_at(std::span<const std::byte> f, std::size_t at) {
    MacAddr m{};
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = std::to_integer<std::uint8_t>(f[at + i]);
    return m;
}

// Appends big-endian fields to a frame being built.
struct Writer {
    Frame& f;
    void u8(unsigned v) { f.push_back(static_cast<std::byte>(v & 0xff)); }
    void u16(unsigned v) {
        u8(v >> 8);
        u8(v);
    }
    void u32(std::uint32_t v) {
        u16(v >> 16);
        u16(v & 0xffff);
    }
    void mac(const MacAddr& m) {
        for (auto b : m) u8(b);
    }
    void bytes(std::span<const std::byte> b) { f.insert(f.end(), b.begin(), b.end()); }
};

void store16(Frame& f, std::size_t at, std::uint16_t v) {
    f[at] = static_cast<std::byte>(v >> 8);
    f[at + 1] = static_cast<std::byte>(v & 0xff);
}

Frame ethernet_header(const MacAddr& to, const MacAddr& from, std::uint16_t type) {
    Frame f;
    Writer w{f};
    w.mac(to);
    w.mac(from);
    w.u16(type);
    return f;
}

bool for_us_or_broadcast(const MacAddr& dst, const MacAddr& ours) { return dst == ours || dst == kBroadcast; }

}  // namespace

std::optional<MacAddr> parse_mac_addr(std::string_view text) {
    MacAddr m{};
    if (text.size() != 17) return std::nullopt;
    for (std::size_t i = 0; i < m.size(); ++i) {
        const char* at = text.data() + 3 * i;
        if (i + 1 < m.size() && at[2] != ':') return std::nullopt;
        unsigned v = 0;
        auto [end, ec] = std::from_chars(at, at + 2, v, 16);
        if (ec != std::errc{} || end != at + 2) return std::nullopt;
        m[i] = static_cast<std::uint8_t>(v);
    }
    return m;
}

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::uint32_t addr = 0;
    const char* at = text.data();
    const char* end = text.data() + text.size();
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            if (at == end || *at != '.') return std::nullopt;
            ++at;
        }
        unsigned v = 0;
        auto [next, ec] = std::from_chars(at, end, v, 10);
        if (ec != std::errc{} || next == at || next - at > 3 || v > 255) return std::nullopt;
        addr = (addr << 8) | v;
        at = next;
    }
    if (at != end) return std::nullopt;
    return addr;
}

std::uint16_t inet_checksum(std::span<const std::byte> data, std::uint32_t initial) {
    std::uint64_t sum = initial;
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2) sum += be16(data, i);
    if (i < data.size()) sum += std::to_integer<std::uint32_t>(data[i]) << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::vector<Frame> GuestResponder::answer(std::span<const std::byte> frame) {
    if (frame.size() < kEthHeader) return ignore();
    switch (be16(frame, 12)) {
        case kEtherArp: return on_arp(frame);
        case kEtherIpv4: return on_ipv4(frame);
        default: return ignore();  // IPv6, VLAN tags, anything else
    }
}

std::vector<Frame> GuestResponder::on_arp(std::span<const std::byte> frame) {
    if (frame.size() < kEthHeader + kArpBody || !for_us_or_broadcast(mac_at(frame, 0), mac_)) return ignore();
    auto arp = frame.subspan(kEthHeader, kArpBody);
    // Ethernet hardware, IPv4 protocol, their address lengths.
    if (be16(arp, 0) != 1 || be16(arp, 2) != kEtherIpv4 || arp[4] != std::byte{6} || arp[5] != std::byte{4})
        return ignore();
    const std::uint16_t op = be16(arp, 6);
    const MacAddr sender_mac = mac_at(arp, 8);
    const std::uint32_t sender_ip = be32(arp, 14), target_ip = be32(arp, 24);
    if (target_ip != ip_) return ignore();
    // Whoever asks for us or answers us, the gateway's MAC is learnt.
    if (probe_ && sender_ip == probe_->gateway && sender_mac != kBroadcast) probe_->gateway_mac = sender_mac;
    if (op == kArpReply) return {};
    if (op != kArpRequest) return ignore();
    Frame f = ethernet_header(sender_mac, mac_, kEtherArp);
    Writer w{f};
    w.u16(1);
    w.u16(kEtherIpv4);
    w.u8(6);
    w.u8(4);
    w.u16(kArpReply);
    w.mac(mac_);
    w.u32(ip_);
    w.mac(sender_mac);
    w.u32(sender_ip);
    ++counts_.arp_replies;
    return {std::move(f)};
}

std::vector<Frame> GuestResponder::on_ipv4(std::span<const std::byte> frame) {
    if (frame.size() < kEthHeader + kIpv4Header || !for_us_or_broadcast(mac_at(frame, 0), mac_)) return ignore();
    auto ip = frame.subspan(kEthHeader);
    const unsigned version = std::to_integer<unsigned>(ip[0]) >> 4;
    const std::size_t ihl = (std::to_integer<std::size_t>(ip[0]) & 0xf) * 4;
    const std::size_t total = be16(ip, 2);
    // The IP length rules (a frame may be padded beyond it, never short of it).
    if (version != 4 || ihl < kIpv4Header || total < ihl || total > ip.size()) return ignore();
    if ((be16(ip, 6) & 0x3fff) != 0) return ignore();  // a fragment (MF or an offset)
    if (be32(ip, 16) != ip_) return ignore();
    const std::uint8_t protocol = std::to_integer<std::uint8_t>(ip[9]);
    const std::uint32_t source = be32(ip, 12);
    const MacAddr from = mac_at(frame, 6);
    auto l4 = ip.subspan(ihl, total - ihl);

    if (protocol == kProtoIcmp) {
        if (l4.size() < kIcmpHeader || l4[0] != std::byte{kIcmpEchoRequest} || l4[1] != std::byte{0}) return ignore();
        Frame icmp(l4.begin(), l4.end());
        icmp[0] = std::byte{kIcmpEchoReply};
        store16(icmp, 2, 0);
        store16(icmp, 2, inet_checksum(icmp));
        ++counts_.icmp_replies;
        return {ipv4_frame(from, source, kProtoIcmp, icmp)};
    }
    if (protocol != kProtoUdp || l4.size() < kUdpHeader) return ignore();
    const std::uint16_t sport = be16(l4, 0), dport = be16(l4, 2), ulen = be16(l4, 4);
    if (ulen < kUdpHeader || ulen > l4.size()) return ignore();
    auto payload = l4.subspan(kUdpHeader, ulen - kUdpHeader);
    if (dport == kEchoPort) {
        ++counts_.udp_echoes;
        return {udp_frame(from, source, kEchoPort, sport, payload)};
    }
    if (probe_ && !probe_->done && source == probe_->target && sport == probe_->port &&
        dport == kProbeSourcePort && payload.size() == kProbePayload.size() &&
        std::memcmp(payload.data(), kProbePayload.data(), payload.size()) == 0) {
        probe_->done = true;
        return {};
    }
    return ignore();
}

Frame GuestResponder::ipv4_frame(const MacAddr& to, std::uint32_t dst, std::uint8_t protocol,
                                 std::span<const std::byte> l4) {
    Frame f = ethernet_header(to, mac_, kEtherIpv4);
    Writer w{f};
    w.u8(0x45);  // IPv4, no options
    w.u8(0);
    w.u16(static_cast<unsigned>(kIpv4Header + l4.size()));
    w.u16(next_ip_id_++);
    w.u16(0x4000);  // DF
    w.u8(64);
    w.u8(protocol);
    w.u16(0);
    w.u32(ip_);
    w.u32(dst);
    store16(f, kEthHeader + 10, inet_checksum(std::span<const std::byte>(f).subspan(kEthHeader, kIpv4Header)));
    w.bytes(l4);
    return f;
}

Frame GuestResponder::udp_frame(const MacAddr& to, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport,
                                std::span<const std::byte> payload) {
    Frame udp;
    Writer w{udp};
    const auto len = static_cast<std::uint16_t>(kUdpHeader + payload.size());
    w.u16(sport);
    w.u16(dport);
    w.u16(len);
    w.u16(0);
    w.bytes(payload);
    // The pseudo-header: addresses, protocol, UDP length.
    const std::uint32_t pseudo = (ip_ >> 16) + (ip_ & 0xffff) + (dst >> 16) + (dst & 0xffff) + kProtoUdp + len;
    std::uint16_t sum = inet_checksum(udp, pseudo);
    store16(udp, 6, sum == 0 ? 0xffff : sum);  // 0 would mean "no checksum"
    return ipv4_frame(to, dst, kProtoUdp, udp);
}

void GuestResponder::start_probe(std::uint32_t gateway, std::uint32_t target, std::uint16_t port) {
    probe_ = Probe{};
    probe_->gateway = gateway;
    probe_->target = target;
    probe_->port = port;
}

std::optional<Frame> GuestResponder::probe_frame() {
    if (!probe_ || probe_->done) return std::nullopt;
    ++probe_->sent;
    if (!probe_->gateway_mac) {
        Frame f = ethernet_header(kBroadcast, mac_, kEtherArp);
        Writer w{f};
        w.u16(1);
        w.u16(kEtherIpv4);
        w.u8(6);
        w.u8(4);
        w.u16(kArpRequest);
        w.mac(mac_);
        w.u32(ip_);
        w.mac(MacAddr{});
        w.u32(probe_->gateway);
        return f;
    }
    auto payload = std::as_bytes(std::span(kProbePayload.data(), kProbePayload.size()));
    return udp_frame(*probe_->gateway_mac, probe_->target, kProbeSourcePort, probe_->port, payload);
}

}  // namespace xenolith::backend::harness
