// event_channel_op: decode each EVTCHNOP_* argument, run it on the domain's
// table, copy results back only on success (as Xen does).
extern "C" {
#include <cstdint>
#include <xen/errno.h>
#include <xen/event_channel.h>
}

#include "hypercall/compat_abi.hpp"  // the layouts are the same in both ABIs
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

constexpr std::uint64_t kEvtchnopResetCont = 14;  // EVTCHNOP_reset_cont, Xen-internal name

// Reads the op struct, runs `fn` on it, writes it back if fn returned 0.
template <class Op, class Fn>
long with_op(Context& ctx, Fn&& fn, bool copy_back) {
    Op op{};
    if (!ctx.guest.read(ctx.arg[1], op)) return -XEN_EFAULT;
    long rc = fn(op);
    if (rc == 0 && copy_back && !ctx.guest.write(ctx.arg[1], op)) rc = -XEN_EFAULT;
    return rc;
}

}  // namespace

long event_channel_op(Context& ctx) {
    auto& ev = ctx.domain.events();
    switch (ctx.arg[0]) {
        case EVTCHNOP_alloc_unbound:
            return with_op<evtchn_alloc_unbound_t>(ctx, [&](auto& op) {
                if (long rc = check_self_domid(ctx, op.dom); rc) return rc;
                return ev.alloc_unbound(op.remote_dom, &op.port);
            }, true);
        case EVTCHNOP_bind_interdomain:
            return with_op<evtchn_bind_interdomain_t>(ctx, [&](auto& op) {
                return ev.bind_interdomain(op.remote_dom, op.remote_port, &op.local_port);
            }, true);
        case EVTCHNOP_bind_virq:
            return with_op<evtchn_bind_virq_t>(ctx, [&](auto& op) {
                return ev.bind_virq(op.virq, op.vcpu, &op.port);
            }, true);
        case EVTCHNOP_bind_ipi:
            return with_op<evtchn_bind_ipi_t>(ctx, [&](auto& op) {
                return ev.bind_ipi(op.vcpu, &op.port);
            }, true);
        case EVTCHNOP_bind_pirq:
            return with_op<evtchn_bind_pirq_t>(ctx, [](auto&) { return -XEN_EINVAL; }, false);
        case EVTCHNOP_close:
            return with_op<evtchn_close_t>(ctx, [&](auto& op) { return ev.close(op.port); },
                                           false);
        case EVTCHNOP_send:
            return with_op<evtchn_send_t>(ctx, [&](auto& op) { return ev.send(op.port); },
                                          false);
        case EVTCHNOP_status:
            return with_op<evtchn_status_t>(ctx, [&](auto& op) {
                if (long rc = check_self_domid(ctx, op.dom); rc) return rc;
                return ev.status(op);
            }, true);
        case EVTCHNOP_bind_vcpu:
            return with_op<evtchn_bind_vcpu_t>(ctx, [&](auto& op) {
                return ev.bind_vcpu(op.port, op.vcpu);
            }, false);
        case EVTCHNOP_unmask:
            return with_op<evtchn_unmask_t>(ctx, [&](auto& op) { return ev.unmask(op.port); },
                                            false);
        case EVTCHNOP_reset:
            // Xen looks the domain up, then XSM allows only the domain itself.
            return with_op<evtchn_reset_t>(ctx, [&](auto& op) {
                if (long rc = check_self_domid(ctx, op.dom); rc) return rc;
                return ev.reset();
            }, false);
        case kEvtchnopResetCont:
            // Xen's continuation of a preempted reset, reachable by guests:
            // ours is never preempted, so there is nothing to continue and
            // evtchn_reset(d, resuming) answers -EBUSY.
            return with_op<evtchn_reset_t>(ctx, [&](auto& op) -> long {
                if (long rc = check_self_domid(ctx, op.dom); rc) return rc;
                return -XEN_EBUSY;
            }, false);
        case EVTCHNOP_init_control:
            return with_op<evtchn_init_control_t>(ctx, [&](auto& op) {
                return ev.init_control(op.control_gfn, op.offset, op.vcpu, &op.link_bits);
            }, true);
        case EVTCHNOP_expand_array:
            return with_op<evtchn_expand_array_t>(ctx, [&](auto& op) {
                return ev.expand_array(op.array_gfn);
            }, false);
        case EVTCHNOP_set_priority:
            return with_op<evtchn_set_priority_t>(ctx, [&](auto& op) {
                return ev.set_priority(op.port, op.priority);
            }, false);
        default:
            return unknown_subop(ctx, __HYPERVISOR_event_channel_op, ctx.arg[0]);
    }
}

}  // namespace xenolith::hypercall
