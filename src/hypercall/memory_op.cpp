// memory_op: the guest's view of its physical memory.
#include <cstdint>
#include <sys/sysinfo.h>

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
        default:
            // grant-table frames arrive with the grant-table work; moving
            // RAM frames (gmfn, gmfn_range) is not offered to guests.
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
    const auto& id = ctx.domain.identity();
    return static_cast<long>((maximum ? id.max_memory_kib : id.memory_kib) / 4);
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
        case XENMEM_maximum_ram_page:
            if (start_extent) return -XEN_EINVAL;
            return maximum_ram_page();
        default:
            return unknown_subop(ctx, "memory_op", op);
    }
}

}  // namespace xenolith::hypercall
