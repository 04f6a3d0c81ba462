// memory_op: the guest's view of its physical memory.
#include <cstdint>
#include <sys/sysinfo.h>

#include <span>
#include <vector>

extern "C" {
#include <xen/errno.h>
#include <xen/memory.h>
}

#include "domain/domain.hpp"
#include "hypercall/guest_domain.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

// The memory_op command word: sub-op in the low 6 bits, the continuation's
// start extent above (Xen's MEMOP_EXTENT_SHIFT; not in the public headers).
constexpr unsigned kMemopExtentShift = 6;
constexpr std::uint64_t kMemopCmdMask = (1u << kMemopExtentShift) - 1;

// Xen's e820 entry as XENMEM_memory_map returns it (packed, 20 bytes).
struct __attribute__((packed)) E820Entry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
};
static_assert(sizeof(E820Entry) == 20);

long add_to_physmap(Context& ctx, std::uint64_t arg) {
    xen_add_to_physmap_t xatp{};
    if (!ctx.guest.read(arg, xatp)) return -XEN_EFAULT;
    if (long rc = check_self_domid(ctx, xatp.domid); rc) return rc;
    switch (xatp.space) {
        case XENMAPSPACE_shared_info:
            if (xatp.idx != 0) return -XEN_EINVAL;
            return ctx.domain.map_shared_info(xatp.gpfn);
        case XENMAPSPACE_grant_table:
            // xenmem_add_to_physmap() refuses INVALID_GFN for every space.
            if (xatp.gpfn == ~xen_pfn_t{0}) return -XEN_EINVAL;
            return ctx.domain.grants().map_frame(
                xatp.idx, xatp.gpfn,
                [&](std::uint64_t gfn, std::span<const std::uint8_t> initial,
                    std::uint8_t** host) { return ctx.domain.map_frame_at(gfn, initial, host); });
        case XENMAPSPACE_gmfn_foreign:
            return -XEN_ENOSYS;  // only through add_to_physmap_batch, as on Xen
        default:
            // Moving RAM frames (gmfn, gmfn_range) is not offered to guests.
            unknown_subop(ctx, "add_to_physmap space", xatp.space);
            return -XEN_EINVAL;
    }
}

long memory_map(Context& ctx, std::uint64_t arg) {
    xen_memory_map_t map{};
    if (!ctx.guest.read(arg, map)) return -XEN_EFAULT;
    const auto& e820 = ctx.domain.memory_map();
    std::vector<E820Entry> entries;
    for (const auto& e : e820) entries.push_back({e.addr, e.size, e.type});
    // Xen truncates to the caller's buffer rather than failing.
    map.nr_entries = std::min<unsigned>(map.nr_entries, static_cast<unsigned>(entries.size()));
    if (!ctx.guest.copy_to(reinterpret_cast<std::uint64_t>(map.buffer.p), entries.data(),
                           map.nr_entries * sizeof(E820Entry)))
        return -XEN_EFAULT;
    return ctx.guest.write(arg, map) ? 0 : -XEN_EFAULT;
}

long reservation(Context& ctx, std::uint64_t arg, bool maximum) {
    domid_t domid;
    if (!ctx.guest.read(arg, domid)) return -XEN_EFAULT;
    if (long rc = check_self_domid(ctx, domid); rc) return rc;
    if (maximum) return static_cast<long>(ctx.domain.identity().max_memory_kib / 4);
    return static_cast<long>(ctx.domain.memory().populated_pages());
}

// The largest extent a domU may ask for (Xen's default domU max order).
constexpr unsigned kMaxExtentOrder = 9;

// increase_reservation, decrease_reservation and populate_physmap share
// Xen's preamble and return the number of extents completed.
long reservation_op(Context& ctx, std::uint64_t op, std::uint64_t start_extent,
                    std::uint64_t arg) {
    xen_memory_reservation_t r{};
    // Xen reports "extents done" even for an unreadable argument.
    if (!ctx.guest.read(arg, r)) return static_cast<long>(start_extent);
    if (start_extent >= r.nr_extents) return static_cast<long>(start_extent);
    if (r.extent_order > kMaxExtentOrder) return static_cast<long>(start_extent);
    if (long rc = check_self_domid(ctx, r.domid); rc) return rc;
    if (op == XENMEM_increase_reservation) {
        // A translated guest gets nothing mappable from this operation;
        // balloon drivers use populate_physmap instead.
        return static_cast<long>(start_extent);
    }
    GuestMemory& mem = ctx.domain.memory();
    std::lock_guard lock(ctx.domain.memory_lock());
    const std::uint64_t max_pages = ctx.domain.identity().max_memory_kib / 4;
    const std::uint64_t pages_per_extent = std::uint64_t{1} << r.extent_order;
    const auto list = reinterpret_cast<std::uint64_t>(r.extent_start.p);
    std::uint64_t i = start_extent;
    for (; i < r.nr_extents; ++i) {
        xen_pfn_t gfn;
        if (!ctx.guest.read(list + i * sizeof(xen_pfn_t), gfn)) break;
        if (gfn & (pages_per_extent - 1)) break;  // extents are naturally aligned
        bool ok = true;
        for (std::uint64_t j = 0; ok && j < pages_per_extent; ++j) {
            if (op == XENMEM_decrease_reservation) {
                ok = mem.remove_page(gfn + j);
            } else {
                if (!mem.is_populated(gfn + j) && mem.populated_pages() >= max_pages) ok = false;
                else ok = mem.populate_page(gfn + j);
            }
        }
        if (!ok) break;
    }
    return static_cast<long>(i);
}

long maximum_gpfn(Context& ctx, std::uint64_t arg) {
    domid_t domid;
    if (!ctx.guest.read(arg, domid)) return -XEN_EFAULT;
    if (long rc = check_self_domid(ctx, domid); rc) return rc;
    return static_cast<long>(ctx.domain.memory().max_backed_gfn());
}

long maximum_ram_page() {
    struct sysinfo si {};
    sysinfo(&si);
    return static_cast<long>((static_cast<std::uint64_t>(si.totalram) * si.mem_unit) >> 12);
}

}  // namespace

long memory_op(Context& ctx) {
    const std::uint64_t op = ctx.arg[0] & kMemopCmdMask;
    const std::uint64_t start_extent = ctx.arg[0] >> kMemopExtentShift;
    const std::uint64_t arg = ctx.arg[1];
    switch (op) {
        case XENMEM_add_to_physmap:
            return add_to_physmap(ctx, arg);
        case XENMEM_memory_map:
            return memory_map(ctx, arg);
        case XENMEM_current_reservation:
            return reservation(ctx, arg, false);
        case XENMEM_maximum_reservation:
            return reservation(ctx, arg, true);
        case XENMEM_increase_reservation:
        case XENMEM_decrease_reservation:
        case XENMEM_populate_physmap:
            return reservation_op(ctx, op, start_extent, arg);
        case XENMEM_maximum_gpfn:
            return maximum_gpfn(ctx, arg);
        case XENMEM_maximum_ram_page:
            if (start_extent) return -XEN_EINVAL;
            return maximum_ram_page();
        default:
            return unknown_subop(ctx, "memory_op", op);
    }
}

}  // namespace xenolith::hypercall
