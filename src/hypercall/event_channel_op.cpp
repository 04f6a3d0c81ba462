// event_channel_op: decode each EVTCHNOP_* argument, run it on the domain's
// table, copy results back only on success (as Xen does).
extern "C" {
#include <cstdint>
#include <xen/errno.h>
#include <xen/event_channel.h>
}

#include "domain/domain.hpp"
#include "hypercall/guest_domain.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

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
        default:
            // FIFO (init_control, expand_array, set_priority) and reset come with the core-ABI work; -ENOSYS makes Linux fall
            // back to 2-level channels.
            return unknown_subop(ctx, "event_channel_op", ctx.arg[0]);
    }
}

}  // namespace xenolith::hypercall
