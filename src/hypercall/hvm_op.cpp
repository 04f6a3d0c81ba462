// hvm_op: HVM parameters and the per-vCPU upcall vector.
#include <cstdint>
#include <chrono>

extern "C" {
#include <xen/errno.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
}

#include "hypercall/compat_abi.hpp"  // the layouts are the same in both ABIs
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

// Parameters whose meaning is gone (params.h, "deprecated"): -EINVAL for
// everyone, before any permission check.
bool deprecated(std::uint32_t index) {
    switch (index) {
        case HVM_PARAM_PAE_ENABLED:
        case HVM_PARAM_DM_DOMAIN:
        case HVM_PARAM_MEMORY_EVENT_CR0:
        case HVM_PARAM_MEMORY_EVENT_CR3:
        case HVM_PARAM_MEMORY_EVENT_CR4:
        case HVM_PARAM_MEMORY_EVENT_INT3:
        case HVM_PARAM_MEMORY_EVENT_SINGLE_STEP:
        case HVM_PARAM_BUFIOREQ_EVTCHN:
        case HVM_PARAM_MEMORY_EVENT_MSR:
            return true;
        default:
            return false;
    }
}

// Xen's hvm_allow_set_param / hvm_allow_get_param: what a guest may do
// with its own parameters. The ring PFNs (and ALTP2M) are readable only.
bool guest_may_access(std::uint32_t index, bool set) {
    switch (index) {
        case HVM_PARAM_CALLBACK_IRQ:
        case HVM_PARAM_VM86_TSS:
        case HVM_PARAM_VM86_TSS_SIZED:
        case HVM_PARAM_ACPI_IOPORTS_LOCATION:
        case HVM_PARAM_VM_GENERATION_ID_ADDR:
        case HVM_PARAM_STORE_EVTCHN:
        case HVM_PARAM_CONSOLE_EVTCHN:
        case HVM_PARAM_X87_FIP_WIDTH:
            return true;
        case HVM_PARAM_STORE_PFN:
        case HVM_PARAM_CONSOLE_PFN:
        case HVM_PARAM_ALTP2M:
            return !set;
        default:
            return false;
    }
}

long param_op(Context& ctx, bool set) {
    xen_hvm_param_t p{};
    if (!ctx.guest.read(ctx.arg[1], p)) return -XEN_EFAULT;
    if (p.index >= HVM_NR_PARAMS) return -XEN_EINVAL;
    if (long rc = check_self_domid(ctx, p.domid); rc) return rc;
    if (deprecated(p.index)) return -XEN_EINVAL;
    if (set) {
        if (!guest_may_access(p.index, true)) return -XEN_EPERM;
        ctx.domain.set_param(p.index, p.value);
        // Among the first things PV drivers do: Xen samples the caller's
        // mode here for the shared_info layout (hvm_latch_shinfo_size).
        // Only the guest itself gets here (check_self_domid).
        if (p.index == HVM_PARAM_CALLBACK_IRQ) ctx.domain.latch_shared_info_layout(ctx.is64);
        return 0;
    }
    if (!guest_may_access(p.index, false)) return -XEN_EPERM;
    p.value = ctx.domain.param(p.index);
    return ctx.guest.write(ctx.arg[1], p) ? 0 : -XEN_EFAULT;
}

long set_upcall_vector(Context& ctx) {
    xen_hvm_evtchn_upcall_vector_t op{};
    if (!ctx.guest.read(ctx.arg[1], op)) return -XEN_EFAULT;
    if (op.vector < 0x10) return -XEN_EINVAL;
    if (op.vcpu >= ctx.domain.nr_vcpus()) return -XEN_ENOENT;
    ctx.domain.set_upcall_vector(op.vcpu, op.vector);
    return 0;
}

long get_time(Context& ctx) {
    xen_hvm_get_time_t t{};
    t.now = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now().time_since_epoch())
            .count());
    return ctx.guest.write(ctx.arg[1], t) ? 0 : -XEN_EFAULT;
}

// Linux announces page tables it is about to free; only shadow paging
// cares, and KVM guests run on hardware paging: accepted, nothing to do.
long pagetable_dying(Context& ctx) {
    xen_hvm_pagetable_dying_t a{};
    if (!ctx.guest.read(ctx.arg[1], a)) return -XEN_EFAULT;
    if (a.domid != DOMID_SELF && a.domid != ctx.domain.domid()) return -XEN_EOPNOTSUPP;
    return 0;
}

}  // namespace

long hvm_op(Context& ctx) {
    switch (ctx.arg[0]) {
        case HVMOP_set_param:
            return param_op(ctx, true);
        case HVMOP_get_param:
            return param_op(ctx, false);
        case HVMOP_set_evtchn_upcall_vector:
            return set_upcall_vector(ctx);
        case HVMOP_get_time:
            return get_time(ctx);
        case HVMOP_pagetable_dying:
            return pagetable_dying(ctx);
        default:
            return unknown_subop(ctx, __HYPERVISOR_hvm_op, ctx.arg[0]);
    }
}

}  // namespace xenolith::hypercall
