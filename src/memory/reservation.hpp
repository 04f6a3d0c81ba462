// XENMEM_increase_reservation, XENMEM_decrease_reservation and
// XENMEM_populate_physmap on a translated (PVH) guest, as Xen 4.17's
// common/memory.c does them, over GuestMemory. The hypercall layer reads
// the argument and resolves the domid; this runs the extents.
//
// Every outcome is a count of extents done, never an errno: a failure
// stops at the extent it hit and returns how many were completed before
// it (an extent cut short by a failure is not counted, though its pages
// before the failure stay done, as on Xen). Xen preempts long requests
// and continues them; xenolith has no continuations, so it runs the whole
// request, which is bounded: every extent either fails (and stops) or
// changes the reservation by at least one page within max_pages or the
// physmap.
#pragma once

#include <cstdint>
#include <functional>

#include "memory/guest_memory.hpp"

namespace xenolith {

enum class ReservationOp { increase, decrease, populate };

struct ReservationArgs {
    std::uint64_t nr_extents = 0;
    unsigned extent_order = 0;
    unsigned mem_flags = 0;          // XENMEMF_*
    std::uint64_t start_extent = 0;  // from the command word (continuations)
};

// Reads entry `index` of the guest's extent list; false: the read faulted.
using ExtentReader = std::function<bool(std::uint64_t index, std::uint64_t* gfn)>;

// Xen's domU limit on extent_order (memop-max-order's default domU value).
inline constexpr unsigned kDomUMaxExtentOrder = 9;

// The number of extents done (>= args.start_extent). The caller holds the
// domain's memory lock.
std::uint64_t run_reservation(GuestMemory& mem, ReservationOp op, const ReservationArgs& args,
                              const ExtentReader& read_extent);

}  // namespace xenolith
