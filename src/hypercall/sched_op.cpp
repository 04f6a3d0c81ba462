// sched_op: yield, block, poll, and the guest's own shutdown.
#include <cstdint>
#include <sched.h>

#include <vector>

extern "C" {
#include <xen/errno.h>
#include <xen/sched.h>
}

#include "hypercall/compat_abi.hpp"
#include "hypercall/hypercall.hpp"
#include "hypercall/system_time.hpp"

namespace xenolith::hypercall {
namespace {

constexpr unsigned kMaxPollPorts = 128;  // Xen's limit for SCHEDOP_poll

long poll(Context& ctx) {
    // Native or compat::SchedPoll (a 4-byte handle); the ports are
    // evtchn_port_t (4 bytes) in both.
    std::uint64_t list = 0;
    std::uint32_t nr_ports = 0;
    std::uint64_t timeout = 0;
    if (ctx.is64) {
        sched_poll_t p{};
        if (!ctx.guest.read(ctx.arg[1], p)) return -XEN_EFAULT;
        list = reinterpret_cast<std::uint64_t>(p.ports.p);
        nr_ports = p.nr_ports;
        timeout = p.timeout;
    } else {
        compat::SchedPoll p{};
        if (!ctx.guest.read(ctx.arg[1], p)) return -XEN_EFAULT;
        list = p.ports;
        nr_ports = p.nr_ports;
        timeout = p.timeout;
    }
    if (nr_ports > kMaxPollPorts) return -XEN_EINVAL;
    std::vector<evtchn_port_t> ports(nr_ports);
    if (!ctx.guest.copy_from(list, ports.data(), ports.size() * sizeof(evtchn_port_t)))
        return -XEN_EFAULT;
    auto& ev = ctx.domain.events();
    for (evtchn_port_t port : ports)
        if (port >= ev.max_ports()) return -XEN_EINVAL;
    // Returns once any polled port is pending (masked or not), or at the
    // timeout; a timeout already in the past returns at once.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (timeout) deadline = system_time_to_deadline(timeout);
    auto any_pending = [&] {
        for (evtchn_port_t port : ports)
            if (ev.poll_pending(port)) return true;  // either ABI, lock-free
        return false;
    };
    ctx.vcpu.poll(any_pending, deadline);
    return 0;
}

}  // namespace

long sched_op(Context& ctx) {
    switch (ctx.arg[0]) {
        case SCHEDOP_yield:
            sched_yield();
            return 0;
        case SCHEDOP_block:
            ctx.vcpu.block();
            return 0;
        case SCHEDOP_shutdown: {
            sched_shutdown_t s{};
            if (!ctx.guest.read(ctx.arg[1], s)) return -XEN_EFAULT;
            ctx.domain.shutdown(s.reason & 0xff);  // Xen truncates to u8 too
            return 0;
        }
        case SCHEDOP_shutdown_code: {
            sched_shutdown_t s{};
            if (!ctx.guest.read(ctx.arg[1], s)) return -XEN_EFAULT;
            ctx.domain.set_shutdown_code(s.reason & 0xff);
            return 0;
        }
        case SCHEDOP_poll:
            return poll(ctx);
        case SCHEDOP_watchdog: {
            sched_watchdog_t w{};
            if (!ctx.guest.read(ctx.arg[1], w)) return -XEN_EFAULT;
            return ctx.domain.watchdog(w.id, w.timeout);
        }
        case SCHEDOP_remote_shutdown: {
            // Xen reads the argument, finds the domain, then applies the
            // policy: only a device model or privileged domain may do this.
            sched_remote_shutdown_t r{};
            if (!ctx.guest.read(ctx.arg[1], r)) return -XEN_EFAULT;
            if (r.domain_id >= DOMID_FIRST_RESERVED) return -XEN_ESRCH;
            if (r.domain_id != ctx.domain.domid() && !ctx.domain.domain_exists(r.domain_id))
                return -XEN_ESRCH;
            return -XEN_EPERM;
        }
        case SCHEDOP_pin_override:
            return -XEN_EPERM;  // hardware domain only
        default:
            return unknown_subop(ctx, __HYPERVISOR_sched_op, ctx.arg[0]);
    }
}

}  // namespace xenolith::hypercall
