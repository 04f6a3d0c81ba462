// The xenstore keys through which blkback's core and a front end agree on a
// ring (Xen's blkif.h "Front/Back-end negotiation"): what the back end
// offers, and the front end's answer read back as hostile input. The
// device's lifecycle (state machine, hotplug, libxl's nodes) lives above.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/blk/abi.hpp"
#include "backend/blk/blkback.hpp"
#include "backend/blk/queues.hpp"
#include "backend/services.hpp"
#include "base/result.hpp"

namespace xenolith::backend::blk {

struct Offer {
    unsigned max_ring_page_order = kMaxRingPageOrder;
    unsigned max_indirect_segments = kDefaultIndirectSegments;
    bool persistent = true;
    bool discard = true;
    bool discard_secure = false;
    std::uint32_t discard_granularity = 4096;  // bytes
    // multi-queue-max-queues; 0: default_max_queues(), resolved by the
    // device. 1 offers no multi-queue at all (the key is not written).
    unsigned max_queues = 0;
};


// Writes feature-flush-cache, feature-barrier, feature-discard (with
// discard-granularity, discard-alignment, discard-secure),
// feature-max-indirect-segments, feature-persistent,
// max-ring-page-order and (above one queue) multi-queue-max-queues under
// `backend_path`; 0 or an errno. `offer.max_queues` must be resolved.
int write_offer(Xenstore& xs, Xenstore::Tx tx, const std::string& backend_path, const Offer& offer);

// What the front end wrote under `frontend_path` when it moved to
// Initialised: multi-queue-num-queues, ring-page-order, protocol and
// feature-persistent at the top; per queue ring-ref / ring-ref0.. and
// event-channel, under queue-N/ when more than one queue is asked for,
// flat otherwise (num-queues absent or 1). Anything malformed or beyond the
// offer is refused with a message naming the key, as Linux's connect_ring
// and read_per_ring_refs do (garbage num-queues too, where Linux would read
// it as absent).
struct FrontendQueue {
    std::vector<GrantRef> ring_refs;
    Port event_channel = 0;
};
struct FrontendRing {
    std::vector<FrontendQueue> queues;  // at least one
    Abi abi = Abi::native;
    bool persistent = false;
};
Result<FrontendRing> read_frontend_ring(Xenstore& xs, const std::string& frontend_path, const Offer& offer);

}  // namespace xenolith::backend::blk
