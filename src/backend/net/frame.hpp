// What netback needs to know about an Ethernet frame to describe it to the
// TAP device: where the L4 checksum field is (for a csum_blank packet or a
// GSO one) and how long the headers are. Frames come from the guest, so
// every header is read within the frame's length, extension-header chains
// are bounded, and anything not understood is "no offsets" (the packet is
// then dropped, as Linux's skb_checksum_setup failing drops it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace xenolith::backend::net {

struct L4Offsets {
    bool ipv6 = false;
    std::uint8_t protocol = 0;      // IPPROTO_TCP or IPPROTO_UDP
    std::uint16_t l3_start = 0;     // IP header
    std::uint16_t l4_start = 0;     // TCP/UDP header: the vnet header's csum_start
    std::uint16_t csum_offset = 0;  // of the checksum field within the L4 header
    std::uint16_t headers_len = 0;  // through the TCP header (GSO's hdr_len); for UDP l4_start + 8
    std::uint32_t l4_len = 0;       // L4 header and payload, as the IP header says
};

// Offsets of a TCP or UDP checksum in an Ethernet II frame (one 802.1Q tag
// allowed) over IPv4 (no fragments) or IPv6 (hop-by-hop, routing and
// destination options skipped, at most 8 of them; no fragments).
std::optional<L4Offsets> l4_offsets(std::span<const std::byte> frame);
// The same from the first bytes of a `frame_len`-byte frame (a private copy
// of its head when the rest stays in the guest's pages): lengths are
// checked against `frame_len`, and headers reaching past `head` are "no
// offsets", so the caller may try again with more of the frame.
std::optional<L4Offsets> l4_offsets(std::span<const std::byte> head, std::size_t frame_len);

// Writes the pseudo-header sum (not inverted) into the checksum field, as a
// stack does before handing a CHECKSUM_PARTIAL packet on.
void seed_pseudo_header(std::span<std::byte> frame, const L4Offsets& at);

// Completes a partial checksum in software: the ones' complement sum from
// `start` to the end, folded with what the field holds, stored inverted at
// start + offset; for UDP (`udp`) a sum of 0 is sent as 0xffff, 0 meaning
// "no checksum" there. False if the field lies outside the frame.
bool complete_checksum(std::span<std::byte> frame, std::size_t start, std::size_t offset, bool udp = false);

}  // namespace xenolith::backend::net
