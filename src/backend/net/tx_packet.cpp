#include "backend/net/tx_packet.hpp"

#include <cstring>

namespace xenolith::backend::net {

namespace {

netif_extra_info extra_at(const TxBackRing& ring, unsigned k) {
    netif_tx_request raw = ring.peek(k);
    netif_extra_info e;
    static_assert(sizeof e <= sizeof raw);
    std::memcpy(&e, &raw, sizeof e);
    return e;
}

TxPacket fail(TxPacket p, TxVerdict v, const char* reason) {
    p.verdict = v;
    p.reason = reason;
    return p;
}

}  // namespace

TxPacket read_tx_packet(const TxBackRing& ring, unsigned available) {
    TxPacket p;
    if (available == 0) return p;
    netif_tx_request first = ring.peek(0);
    unsigned k = 1;
    p.flags = first.flags;
    p.total = first.size;

    bool have_gso = false, mcast = false;
    netif_extra_info gso{};
    if (first.flags & NETTXF_extra_info) {
        netif_extra_info e{};
        do {
            if (k >= available) return fail(p, TxVerdict::fatal, "missing extra info");
            e = extra_at(ring, k++);
            ++p.extras;
            if (e.type == XEN_NETIF_EXTRA_TYPE_NONE || e.type >= XEN_NETIF_EXTRA_TYPE_MAX)
                return fail(p, TxVerdict::fatal, "invalid extra info type");
            if (e.type == XEN_NETIF_EXTRA_TYPE_GSO) {
                gso = e;
                have_gso = true;
            }
            if (e.type == XEN_NETIF_EXTRA_TYPE_MCAST_ADD || e.type == XEN_NETIF_EXTRA_TYPE_MCAST_DEL) mcast = true;
        } while (e.flags & XEN_NETIF_EXTRA_FLAG_MORE);
    }
    p.slots = k;
    // A multicast filter update rides on a request of its own and carries
    // no data; Linux answers it before looking at any chain.
    if (mcast) {
        p.verdict = TxVerdict::mcast;
        return p;
    }

    // The chain: the first slot's size is the packet's, each following
    // slot's its own, so what is left for the first slot is the difference.
    std::uint16_t remaining = first.size;
    const char* drop = nullptr;
    unsigned following = 0;
    bool more = first.flags & NETTXF_more_data;
    while (more) {
        if (k + following >= available) return fail(p, TxVerdict::fatal, "chain runs past the published requests");
        if (following >= kFatalFollowingSlots) return fail(p, TxVerdict::fatal, "too many slots in one packet");
        if (!drop && following >= kMaxFollowingSlots) drop = "too many slots in one packet";
        netif_tx_request r = ring.peek(k + following);
        // A frame of 64 KiB or more wrapped the first size: the chain looks
        // longer than the packet. Linux drops it rather than failing the
        // queue (some front ends do this).
        if (!drop && r.size > remaining) drop = "slot size exceeds the remaining packet size";
        remaining = static_cast<std::uint16_t>(remaining - r.size);
        ++following;
        if (r.offset + r.size > kXenPageSize) {
            p.slots = k + following;
            return fail(p, TxVerdict::fatal, "slot crosses its page");
        }
        if (!drop) p.data[following] = r;  // data[0] is the first slot
        more = r.flags & NETTXF_more_data;
    }
    p.slots = k + following;
    if (drop) return fail(p, TxVerdict::error, drop);

    first.size = remaining;
    if (first.size < kMinFirstSlot) return fail(p, TxVerdict::error, "first slot shorter than an Ethernet header");
    if (first.offset + first.size > kXenPageSize) return fail(p, TxVerdict::fatal, "first slot crosses its page");
    p.data[0] = first;
    p.data_slots = 1 + following;

    if (have_gso) {
        if (gso.u.gso.size == 0) return fail(p, TxVerdict::fatal, "GSO size zero");
        if (gso.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 && gso.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6)
            return fail(p, TxVerdict::fatal, "bad GSO type");
        p.gso_type = gso.u.gso.type;
        p.gso_size = gso.u.gso.size;
    }
    p.verdict = TxVerdict::send;
    return p;
}

}  // namespace xenolith::backend::net
