// Reading one packet off a netif tx ring: the first request, its extra-info
// slots and its NETTXF_more_data chain, judged as Linux's netback judges
// them (xenvif_get_extras, xenvif_count_requests, xenvif_tx_build_gops).
// Nothing is copied yet: the verdict says how many slots the packet spans
// and whether it is sent, answered with errors, or breaks the queue.
#pragma once

#include <array>
#include <cstdint>

#include "backend/net/ring.hpp"

namespace xenolith::backend::net {

// Slots that may follow a packet's first one before it is dropped
// (XEN_NETBK_LEGACY_SLOTS_MAX, netif.h's XEN_NETIF_NR_SLOTS_MIN: the old
// MAX_SKB_FRAGS) and before the front end is deemed malicious and the
// queue disabled (Linux's fatal_skb_slots default).
inline constexpr unsigned kMaxFollowingSlots = XEN_NETIF_NR_SLOTS_MIN;
inline constexpr unsigned kFatalFollowingSlots = 20;
// Linux wants the Ethernet header in the first slot.
inline constexpr unsigned kMinFirstSlot = 14;

enum class TxVerdict : std::uint8_t {
    send,        // copy it out and hand it to the TAP
    error,       // answer every slot NETIF_RSP_ERROR, keep serving
    mcast,       // a multicast-filter request: answered OKAY, nothing sent
    fatal,       // the front end broke the protocol: disable the queue
    incomplete,  // nothing published (no request at all)
};

struct TxPacket {
    TxVerdict verdict = TxVerdict::incomplete;
    const char* reason = "";  // for error and fatal
    unsigned slots = 0;       // ring slots the packet spans: first, extras, chain
    unsigned extras = 0;      // extra-info slots right after the first
    // The data slots in ring order, the first with its own length (its
    // `size` on the ring is the whole packet's).
    unsigned data_slots = 0;
    std::array<netif_tx_request, 1 + kFatalFollowingSlots> data{};
    std::uint32_t total = 0;  // packet length
    std::uint16_t flags = 0;  // the first request's NETTXF_*
    std::uint8_t gso_type = XEN_NETIF_GSO_TYPE_NONE;
    std::uint16_t gso_size = 0;
};

// Decodes the packet at the ring's req_cons without consuming it; the
// caller consumes `slots` and answers them. `available` is what
// unconsumed() reported. A chain or extra info running past the published
// requests is fatal (a front end publishes whole packets).
TxPacket read_tx_packet(const TxBackRing& ring, unsigned available);

}  // namespace xenolith::backend::net
