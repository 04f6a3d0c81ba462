#include "memory/reservation.hpp"

#include <algorithm>
#include <climits>

extern "C" {
#include <xen/memory.h>
}

namespace xenolith {
namespace {

// Xen refuses a request too large to encode as a continuation
// (nr_extents > UINT_MAX >> MEMOP_EXTENT_SHIFT) before doing anything.
constexpr std::uint64_t kMaxExtents = UINT_MAX >> 6;

// construct_memop_from_reservation: an address-bits restriction of a page
// or less is refused (any real host has more memory than that).
bool mem_flags_ok(unsigned mem_flags) {
    const unsigned address_bits = XENMEMF_get_address_bits(mem_flags);
    return address_bits == 0 || address_bits > kPageShift;
}

// decrease_reservation removes an extent's frames one after another
// (guest_remove_page), stopping at the first that is not populated RAM or
// is held by a grant mapping (a back-end's page is never freed under it;
// Xen instead unhooks the gfn and frees the page at the last unmap).
// Balloon drivers give back long runs of adjacent frames, one order-0
// extent each, so frames that will certainly go are gathered into a
// pending run and returned to the host with one hole punch per run: the
// result is the same as frame by frame, in a fraction of the syscalls.
class Decrease {
public:
    explicit Decrease(GuestMemory& mem) : mem_(mem) {}
    ~Decrease() { flush(); }

    bool extent(std::uint64_t gfn, std::uint64_t pages) {
        if (whole_extent_removable(gfn, pages)) {
            if (gfn == end_ || (count_ && gfn + pages == first_)) {
                first_ = std::min(first_, gfn);
                end_ = std::max(end_, gfn + pages);
                count_ += pages;
                return true;
            }
            flush();
            first_ = gfn;
            end_ = gfn + pages;
            count_ = pages;
            return true;
        }
        // Part of the extent may go: settle the run, then frame by frame.
        flush();
        if (mem_.remove_range(gfn, pages)) return true;
        for (std::uint64_t j = 0; j < pages; ++j)
            if (!mem_.remove_page(gfn + j)) return false;
        return true;
    }

private:
    bool pending(std::uint64_t gfn) const { return count_ && gfn >= first_ && gfn < end_; }
    bool whole_extent_removable(std::uint64_t gfn, std::uint64_t pages) const {
        if (gfn + pages < gfn) return false;  // wraps
        // Populated frames with adjacent gfns share a region (regions are
        // separated by space that is not RAM), so a run is one memfd range.
        const bool held = mem_.any_frame_held();
        for (std::uint64_t j = 0; j < pages; ++j)
            if (pending(gfn + j) || !mem_.is_populated(gfn + j) ||
                (held && mem_.frame_holds(gfn + j)))
                return false;
        return true;
    }
    void flush() {
        if (!count_) return;
        // Every frame was checked populated; should the punch fail, frame
        // by frame is the fallback.
        if (!mem_.remove_range(first_, count_))
            for (std::uint64_t g = first_; g < end_; ++g) mem_.remove_page(g);
        count_ = 0;
    }

    GuestMemory& mem_;
    std::uint64_t first_ = 0, end_ = 0, count_ = 0;
};

// populate_physmap: the extent is allocated (charged against max_pages as
// a whole, Xen's assign_pages) and then mapped frame by frame.
bool populate_extent(GuestMemory& mem, std::uint64_t gfn, std::uint64_t pages) {
    // Only the laid-out RAM space can be populated here (a difference
    // from Xen, whose p2m takes any gfn): check before charging anything.
    for (std::uint64_t j = 0; j < pages; ++j)
        if (!mem.is_ram_gfn(gfn + j)) return false;
    if (!mem.may_charge(pages)) return false;
    for (std::uint64_t j = 0; j < pages; ++j)
        if (!mem.replace_page(gfn + j)) return false;
    return true;
}

}  // namespace

std::uint64_t run_reservation(GuestMemory& mem, ReservationOp op, const ReservationArgs& args,
                              const ExtentReader& read_extent) {
    const std::uint64_t start = args.start_extent;
    if (args.nr_extents > kMaxExtents || start >= args.nr_extents) return start;
    if (!mem_flags_ok(args.mem_flags)) return start;
    if (args.extent_order > kDomUMaxExtentOrder) return start;
    // Populate-on-demand entries may only be made for another domain.
    if (op == ReservationOp::populate && (args.mem_flags & XENMEMF_populate_on_demand))
        return start;
    const std::uint64_t pages = std::uint64_t{1} << args.extent_order;
    Decrease decrease(mem);
    std::uint64_t i = start;
    for (; i < args.nr_extents; ++i) {
        if (op == ReservationOp::increase) {
            // A translated guest is told nothing about the pages: they are
            // charged to it and mapped nowhere, so nothing backs them here.
            if (!mem.may_charge(pages)) break;
            mem.charge_unmapped(pages);
            continue;
        }
        std::uint64_t gfn = 0;
        if (!read_extent(i, &gfn)) break;
        const bool ok = op == ReservationOp::decrease ? decrease.extent(gfn, pages)
                                                      : populate_extent(mem, gfn, pages);
        if (!ok) break;
    }
    return i;
}

}  // namespace xenolith
