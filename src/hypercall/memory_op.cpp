// memory_op: the guest's view of its physical memory.
#include <cstddef>
#include <cstdint>
#include <sys/sysinfo.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

extern "C" {
#include <xen/errno.h>
#include <xen/memory.h>
}

#include "hypercall/compat_abi.hpp"
#include "hypercall/hypercall.hpp"
#include "memory/reservation.hpp"

#include <fmt/format.h>

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
    // Both ABIs read into the native struct; a 32-bit idx/gpfn is
    // zero-extended (so its ~0 is not INVALID_GFN, as under Xen's XLAT).
    xen_add_to_physmap_t xatp{};
    if (ctx.is64) {
        if (!ctx.guest.read(arg, xatp)) return -XEN_EFAULT;
    } else {
        compat::AddToPhysmap c{};
        if (!ctx.guest.read(arg, c)) return -XEN_EFAULT;
        xatp.domid = c.domid;
        xatp.size = c.size;
        xatp.space = c.space;
        xatp.idx = c.idx;
        xatp.gpfn = c.gpfn;
    }
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
            if (ctx.domain.first_time(GuestWarning::unknown_physmap_space, xatp.space))
                ctx.domain.guest_log(fmt::format("unknown add_to_physmap space {}", xatp.space));
            return -XEN_EINVAL;
    }
}

// XENMEM_memory_map in either ABI (Map: xen_memory_map_t or
// compat::MemoryMap); the e820 entries are the same 20 bytes in both.
template <class Map>
long memory_map(Context& ctx, std::uint64_t arg) {
    Map map{};
    if (!ctx.guest.read(arg, map)) return -XEN_EFAULT;
    std::uint64_t buffer = 0;
    if constexpr (std::is_same_v<Map, xen_memory_map_t>)
        buffer = reinterpret_cast<std::uint64_t>(map.buffer.p);
    else
        buffer = map.buffer;
    const auto& e820 = ctx.domain.memory_map();
    std::vector<E820Entry> entries;
    for (const auto& e : e820) entries.push_back({e.addr, e.size, e.type});
    // Xen truncates to the caller's buffer rather than failing.
    map.nr_entries = std::min<unsigned>(map.nr_entries, static_cast<unsigned>(entries.size()));
    if (!ctx.guest.copy_to(buffer, entries.data(), map.nr_entries * sizeof(E820Entry)))
        return -XEN_EFAULT;
    return ctx.guest.write(arg, map) ? 0 : -XEN_EFAULT;
}

long reservation(Context& ctx, std::uint64_t arg, bool maximum) {
    domid_t domid;
    if (!ctx.guest.read(arg, domid)) return -XEN_EFAULT;
    if (long rc = check_self_domid(ctx, domid); rc) return rc;
    const GuestMemory& mem = ctx.domain.memory();
    // Xen: d->max_pages and domain_tot_pages(d).
    return static_cast<long>(maximum ? mem.max_pages() : mem.tot_pages());
}

// increase_reservation, decrease_reservation and populate_physmap: Xen's
// do_memory_op preamble returns the extents done (start_extent) for every
// refusal, an unreadable argument, an unknown domid or another domain
// (rcu_lock_domain_by_any_id, then XSM) included; never an errno.
long reservation_op(Context& ctx, std::uint64_t op, std::uint64_t start_extent,
                    std::uint64_t arg) {
    ReservationArgs args;
    args.start_extent = start_extent;
    std::uint64_t list = 0;
    std::uint64_t entry_bytes = sizeof(xen_pfn_t);
    domid_t domid = 0;
    if (ctx.is64) {
        xen_memory_reservation_t r{};
        if (!ctx.guest.read(arg, r)) return static_cast<long>(start_extent);
        args.nr_extents = r.nr_extents;
        args.extent_order = r.extent_order;
        args.mem_flags = r.mem_flags;
        list = reinterpret_cast<std::uint64_t>(r.extent_start.p);
        domid = r.domid;
    } else {
        compat::MemoryReservation r{};
        if (!ctx.guest.read(arg, r)) return static_cast<long>(start_extent);
        args.nr_extents = r.nr_extents;
        args.extent_order = r.extent_order;
        args.mem_flags = r.mem_flags;
        list = r.extent_start;
        entry_bytes = sizeof(std::uint32_t);
        domid = r.domid;
    }
    if (check_self_domid(ctx, domid) != 0) return static_cast<long>(start_extent);
    const ReservationOp which = op == XENMEM_increase_reservation   ? ReservationOp::increase
                                : op == XENMEM_decrease_reservation ? ReservationOp::decrease
                                                                    : ReservationOp::populate;
    // The list is read a chunk at a time (one page walk per chunk, not
    // per entry); an entry in a chunk that faults is read on its own, so
    // a fault stops exactly where Xen's per-entry copy would.
    constexpr std::uint64_t kChunk = 512;
    std::array<std::uint64_t, kChunk> chunk{};
    std::uint64_t chunk_first = 0, chunk_count = 0;
    auto read_one = [&](std::uint64_t index, std::uint64_t* gfn) {
        const std::uint64_t at = list + index * entry_bytes;
        if (entry_bytes == sizeof(std::uint32_t)) {
            std::uint32_t v = 0;
            if (!ctx.guest.read(at, v)) return false;
            *gfn = v;
            return true;
        }
        xen_pfn_t v = 0;
        if (!ctx.guest.read(at, v)) return false;
        *gfn = v;
        return true;
    };
    auto read_extent = [&](std::uint64_t index, std::uint64_t* gfn) {
        if (index >= chunk_first && index - chunk_first < chunk_count) {
            *gfn = chunk[index - chunk_first];
            return true;
        }
        const std::uint64_t n = std::min<std::uint64_t>(kChunk, args.nr_extents - index);
        std::array<std::uint8_t, kChunk * sizeof(std::uint64_t)> raw{};
        if (!ctx.guest.copy_from(list + index * entry_bytes, raw.data(), n * entry_bytes)) {
            chunk_count = 0;
            return read_one(index, gfn);
        }
        for (std::uint64_t k = 0; k < n; ++k) {
            if (entry_bytes == sizeof(std::uint32_t)) {
                std::uint32_t v;
                std::memcpy(&v, raw.data() + k * 4, 4);
                chunk[k] = v;
            } else {
                std::memcpy(&chunk[k], raw.data() + k * 8, 8);
            }
        }
        chunk_first = index;
        chunk_count = n;
        *gfn = chunk[0];
        return true;
    };
    const auto thread_cpu_ns = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
               static_cast<std::uint64_t>(ts.tv_nsec);
    };
    const std::uint64_t t0 = thread_cpu_ns();
    GuestMemory& mem = ctx.domain.memory();
    std::uint64_t done = 0;
    {
        std::lock_guard lock(ctx.domain.memory_lock());
        done = run_reservation(mem, which, args, read_extent);
    }
    mem.account_reservation_op(thread_cpu_ns() - t0);
    return static_cast<long>(done);
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
            return ctx.is64 ? memory_map<xen_memory_map_t>(ctx, arg)
                            : memory_map<compat::MemoryMap>(ctx, arg);
        case XENMEM_current_reservation:
        case XENMEM_maximum_reservation:
            if (start_extent) return -XEN_EINVAL;
            return reservation(ctx, arg, op == XENMEM_maximum_reservation);
        case XENMEM_increase_reservation:
        case XENMEM_decrease_reservation:
        case XENMEM_populate_physmap:
            return reservation_op(ctx, op, start_extent, arg);
        case XENMEM_maximum_gpfn:
            if (start_extent) return -XEN_EINVAL;
            return maximum_gpfn(ctx, arg);
        case XENMEM_maximum_ram_page:
            if (start_extent) return -XEN_EINVAL;
            return maximum_ram_page();
        default:
            return unknown_subop(ctx, __HYPERVISOR_memory_op, op);
    }
}

}  // namespace xenolith::hypercall
