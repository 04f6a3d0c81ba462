// grant_table_op: the grant-table operations of an HVM/PVH guest, as Xen
// 4.17's arch/x86/hvm/hypercall.c hvm_grant_table_op() filters them and
// common/grant_table.c do_grant_table_op() (compat/grant_table.c for 32-bit
// callers) carries them out. 32-bit layouts: compat_abi.hpp (setup_table
// and copy differ; query_size, set_version and get_version do not). The table itself is grant::GrantTable;
// frames are mapped through memory_op's add_to_physmap; copies are
// grant::copy_one.
#include <cstddef>
#include <cstdint>

extern "C" {
#include <xen/errno.h>
#include <xen/grant_table.h>
}

#include "grant/grant_copy.hpp"
#include "hypercall/compat_abi.hpp"
#include "hypercall/guest_domain.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

// rcu_lock_domain_by_any_id() and the default XSM policy, as a GNTST_ code.
std::int16_t domain_status(Context& ctx, domid_t dom) {
    switch (check_self_domid(ctx, dom)) {
        case 0: return GNTST_okay;
        case -XEN_EPERM: return GNTST_permission_denied;
        default: return GNTST_bad_domain;
    }
}

// gnttab_query_size(): the status travels in the structure, errors in rc
// only for the call itself.
long query_size(Context& ctx, std::uint64_t uop, std::uint32_t count) {
    if (count != 1) return -XEN_EINVAL;
    gnttab_query_size_t op{};
    if (!ctx.guest.read(uop, op)) return -XEN_EFAULT;
    op.status = domain_status(ctx, op.dom);
    if (op.status == GNTST_okay) {
        const grant::GrantTable& gt = ctx.domain.grants();
        op.nr_frames = gt.nr_frames();
        op.max_nr_frames = gt.limits().max_grant_frames;
    }
    return ctx.guest.write(uop, op) ? 0 : -XEN_EFAULT;
}

// gnttab_setup_table(): grows the table and lists where its frames are in
// the guest (INVALID_GFN until add_to_physmap places them, as Xen's M2P
// says for a translated guest).
long setup_table(Context& ctx, std::uint64_t uop, std::uint32_t count) {
    std::uint64_t list = 0;
    std::uint32_t nr_frames = 0;
    domid_t dom = 0;
    compat::GnttabSetupTable setup32{};
    if (ctx.is64) {
        if (count != 1) return -XEN_EINVAL;
        gnttab_setup_table_t op{};
        if (!ctx.guest.read(uop, op)) return -XEN_EFAULT;
        list = reinterpret_cast<std::uint64_t>(op.frame_list.p);
        nr_frames = op.nr_frames;
        dom = op.dom;
    } else {
        if (count > 1) return -XEN_EINVAL;
        if (count == 0) return 0;  // compat_grant_table_op() loops zero times
        if (!ctx.guest.read(uop, setup32)) return -XEN_EFAULT;
        list = setup32.frame_list;
        nr_frames = setup32.nr_frames;
        dom = setup32.dom;
    }

    std::int16_t status = domain_status(ctx, dom);
    if (status == GNTST_okay) {
        auto gfns = ctx.domain.grants().setup(nr_frames);
        if (!gfns) status = GNTST_general_error;
        for (std::size_t i = 0; gfns && i < gfns->size(); ++i) {
            const std::uint64_t gfn = (*gfns)[i];
            const bool ok = ctx.is64 ? ctx.guest.write(list + i * 8, gfn)
                                     : ctx.guest.write(list + i * 4,
                                                       static_cast<std::uint32_t>(gfn));
            if (!ok) status = GNTST_bad_virt_addr;
        }
    }
    if (ctx.is64)
        return ctx.guest.write(uop + offsetof(gnttab_setup_table_t, status), status)
                   ? 0
                   : -XEN_EFAULT;
    setup32.status = status;
    return ctx.guest.write(uop, setup32) ? 0 : -XEN_EFAULT;
}

// gnttab_set_version(): the version in effect is written back even when
// the switch is refused.
long set_version(Context& ctx, std::uint64_t uop) {
    gnttab_set_version_t op{};
    if (!ctx.guest.read(uop, op)) return -XEN_EFAULT;
    grant::GrantTable& gt = ctx.domain.grants();
    long rc = gt.set_version(op.version);
    op.version = gt.version();
    if (!ctx.guest.write(uop, op)) rc = -XEN_EFAULT;
    return rc;
}

// gnttab_get_version(): here the domain lookup fails the call itself.
long get_version(Context& ctx, std::uint64_t uop) {
    gnttab_get_version_t op{};
    if (!ctx.guest.read(uop, op)) return -XEN_EFAULT;
    if (long rc = check_self_domid(ctx, op.dom); rc) return rc;
    const std::uint32_t version = ctx.domain.grants().version();
    return ctx.guest.write(uop + offsetof(gnttab_get_version_t, version), version)
               ? 0
               : -XEN_EFAULT;
}

// gnttab_copy(): each op's status is written back; a fault ends the batch
// with -EFAULT (the ops before it are done).
long copy(Context& ctx, std::uint64_t uop, std::uint32_t count) {
    const grant::DomainLookup& lookup = ctx.domain.grant_domains();
    const std::size_t size = ctx.is64 ? sizeof(gnttab_copy_t) : sizeof(compat::GnttabCopy);
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint64_t at = uop + std::uint64_t{i} * size;
        gnttab_copy_t op{};
        std::uint64_t status_at = at + offsetof(gnttab_copy_t, status);
        if (ctx.is64) {
            if (!ctx.guest.read(at, op)) return -XEN_EFAULT;
        } else {
            compat::GnttabCopy c{};
            if (!ctx.guest.read(at, c)) return -XEN_EFAULT;
            op.source.u.gmfn = c.source.ref_or_gmfn;  // ref is the low half either way
            op.source.domid = c.source.domid;
            op.source.offset = c.source.offset;
            op.dest.u.gmfn = c.dest.ref_or_gmfn;
            op.dest.domid = c.dest.domid;
            op.dest.offset = c.dest.offset;
            op.len = c.len;
            op.flags = c.flags;
            status_at = at + offsetof(compat::GnttabCopy, status);
        }
        const std::int16_t status =
            lookup ? grant::copy_one(op, ctx.domain.domid(), lookup) : GNTST_general_error;
        if (!ctx.guest.write(status_at, status)) return -XEN_EFAULT;
    }
    return 0;
}

}  // namespace

long grant_table_op(Context& ctx) {
    // The C prototype: (unsigned int cmd, void *uop, unsigned int count).
    const auto cmd = static_cast<std::uint32_t>(ctx.arg[0]);
    const std::uint64_t uop = ctx.arg[1];
    const auto count = static_cast<std::uint32_t>(ctx.arg[2]);

    // hvm_grant_table_op(): an HVM guest gets these commands and no others,
    // compared whole (a continuation argument in the high bits is refused
    // too). PV-only ones (transfer, get_status_frames, unmap_and_replace,
    // dump_table, cache_flush) are known and refused quietly.
    switch (cmd) {
        case GNTTABOP_query_size:
        case GNTTABOP_setup_table:
        case GNTTABOP_set_version:
        case GNTTABOP_get_version:
        case GNTTABOP_copy:
        case GNTTABOP_map_grant_ref:
        case GNTTABOP_unmap_grant_ref:
        case GNTTABOP_swap_grant_ref:
            break;
        default:
            if (cmd > GNTTABOP_cache_flush)
                return unknown_subop(ctx, __HYPERVISOR_grant_table_op, cmd);
            return -XEN_ENOSYS;
    }
    if (static_cast<std::int32_t>(count) < 0) return -XEN_EINVAL;

    switch (cmd) {
        case GNTTABOP_query_size:
            return query_size(ctx, uop, count);
        case GNTTABOP_setup_table:
            return setup_table(ctx, uop, count);
        case GNTTABOP_set_version:
            return set_version(ctx, uop);
        case GNTTABOP_get_version:
            return get_version(ctx, uop);
        case GNTTABOP_copy:
            return copy(ctx, uop, count);
        default:
            // map, unmap and swap for guests: not yet (back-ends map
            // through grant::GrantMapper).
            return unknown_subop(ctx, __HYPERVISOR_grant_table_op, cmd);
    }
}

}  // namespace xenolith::hypercall
