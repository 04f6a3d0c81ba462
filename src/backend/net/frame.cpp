#include "backend/net/frame.hpp"

#include <netinet/in.h>

namespace xenolith::backend::net {

namespace {

constexpr std::size_t kEthHeader = 14;
constexpr std::uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd, kEtherVlan = 0x8100;
constexpr unsigned kMaxIpv6ExtHeaders = 8;

std::uint16_t be16(std::span<const std::byte> f, std::size_t at) {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(f[at]) << 8) | std::to_integer<unsigned>(f[at + 1]));
}
std::uint8_t u8(std::span<const std::byte> f, std::size_t at) { return std::to_integer<std::uint8_t>(f[at]); }

// Ones' complement sum of big-endian 16-bit words, not folded.
std::uint64_t sum_words(std::span<const std::byte> f, std::size_t from, std::size_t to) {
    std::uint64_t s = 0;
    std::size_t i = from;
    for (; i + 1 < to; i += 2) s += be16(f, i);
    if (i < to) s += static_cast<std::uint64_t>(u8(f, i)) << 8;
    return s;
}
std::uint16_t fold(std::uint64_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}
void put16(std::span<std::byte> f, std::size_t at, std::uint16_t v) {
    f[at] = static_cast<std::byte>(v >> 8);
    f[at + 1] = static_cast<std::byte>(v & 0xff);
}

}  // namespace

std::optional<L4Offsets> l4_offsets(std::span<const std::byte> f) { return l4_offsets(f, f.size()); }

std::optional<L4Offsets> l4_offsets(std::span<const std::byte> f, std::size_t frame_len) {
    // Reads stay inside `f` (have), lengths are judged against the frame.
    const std::size_t have = f.size();
    if (have > frame_len || frame_len < kEthHeader || frame_len > 0xffff || have < kEthHeader) return std::nullopt;
    std::size_t at = 12;
    std::uint16_t type = be16(f, at);
    at += 2;
    if (type == kEtherVlan) {
        if (have < at + 4) return std::nullopt;
        type = be16(f, at + 2);
        at += 4;
    }
    L4Offsets o;
    o.l3_start = static_cast<std::uint16_t>(at);
    std::uint8_t proto = 0;
    std::size_t l3_end = 0;  // end of the IP datagram
    if (type == kEtherIpv4) {
        if (have < at + 20) return std::nullopt;
        std::uint8_t vihl = u8(f, at);
        std::size_t ihl = (vihl & 0x0f) * 4u;
        if ((vihl >> 4) != 4 || ihl < 20 || have < at + ihl) return std::nullopt;
        std::uint16_t total = be16(f, at + 2);
        if ((be16(f, at + 6) & 0x3fff) != 0) return std::nullopt;  // MF or a fragment offset
        if (total < ihl || at + total > frame_len) return std::nullopt;
        proto = u8(f, at + 9);
        l3_end = at + total;
        at += ihl;
    } else if (type == kEtherIpv6) {
        if (have < at + 40 || (u8(f, at) >> 4) != 6) return std::nullopt;
        std::size_t payload = be16(f, at + 4);
        l3_end = at + 40 + payload;
        if (l3_end > frame_len) return std::nullopt;
        proto = u8(f, at + 6);
        at += 40;
        o.ipv6 = true;
        for (unsigned n = 0;; ++n) {
            if (proto != IPPROTO_HOPOPTS && proto != IPPROTO_ROUTING && proto != IPPROTO_DSTOPTS) break;
            if (n == kMaxIpv6ExtHeaders || at + 8 > l3_end || at + 2 > have) return std::nullopt;
            proto = u8(f, at);
            at += (u8(f, at + 1) + 1u) * 8u;
        }
    } else {
        return std::nullopt;
    }
    if (proto == IPPROTO_TCP) {
        if (at + 20 > l3_end || at + 20 > have) return std::nullopt;
        std::size_t doff = (u8(f, at + 12) >> 4) * 4u;
        if (doff < 20 || at + doff > l3_end) return std::nullopt;
        o.csum_offset = 16;
        o.headers_len = static_cast<std::uint16_t>(at + doff);
    } else if (proto == IPPROTO_UDP) {
        if (at + 8 > l3_end || at + 8 > have) return std::nullopt;
        o.csum_offset = 6;
        o.headers_len = static_cast<std::uint16_t>(at + 8);
    } else {
        return std::nullopt;
    }
    o.protocol = proto;
    o.l4_start = static_cast<std::uint16_t>(at);
    o.l4_len = static_cast<std::uint32_t>(l3_end - at);
    return o;
}

void seed_pseudo_header(std::span<std::byte> f, const L4Offsets& o) {
    std::uint64_t s = o.protocol + static_cast<std::uint64_t>(o.l4_len);
    if (o.ipv6)
        s += sum_words(f, o.l3_start + 8u, o.l3_start + 40u);  // source and destination
    else
        s += sum_words(f, o.l3_start + 12u, o.l3_start + 20u);
    put16(f, o.l4_start + o.csum_offset, fold(s));
}

bool complete_checksum(std::span<std::byte> f, std::size_t start, std::size_t offset, bool udp) {
    if (start > f.size() || offset + 2 > f.size() - start) return false;
    std::uint16_t sum = fold(sum_words(f, start, f.size()));
    auto csum = static_cast<std::uint16_t>(~sum);
    if (udp && csum == 0) csum = 0xffff;
    put16(f, start + offset, csum);
    return true;
}

}  // namespace xenolith::backend::net
