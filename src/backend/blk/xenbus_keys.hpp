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
};

// Writes feature-flush-cache, feature-barrier, feature-discard (with
// discard-granularity, discard-alignment, discard-secure),
// feature-max-indirect-segments, feature-persistent and
// max-ring-page-order under `backend_path`; 0 or an errno.
int write_offer(Xenstore& xs, Xenstore::Tx tx, const std::string& backend_path, const Offer& offer);

// What the front end wrote under `frontend_path` when it moved to
// Initialised: ring-page-order and ring-ref / ring-ref0.., event-channel,
// protocol, feature-persistent. Anything malformed or beyond the offer is
// refused with a message naming the key, as Linux's connect_ring does.
struct FrontendRing {
    std::vector<GrantRef> ring_refs;
    Port event_channel = 0;
    Abi abi = Abi::native;
    bool persistent = false;
};
Result<FrontendRing> read_frontend_ring(Xenstore& xs, const std::string& frontend_path, const Offer& offer);

}  // namespace xenolith::backend::blk
