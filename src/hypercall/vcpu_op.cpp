// vcpu_op: per-vCPU areas and timers.
#include <cstdint>
#include <chrono>

extern "C" {
#include <xen/errno.h>
#include <xen/vcpu.h>
}

#include "domain/domain.hpp"
#include "domain/vcpu.hpp"
#include "hypercall/hypercall.hpp"
#include "hypercall/system_time.hpp"

namespace xenolith::hypercall {

long vcpu_op(Context& ctx) {
    const std::uint64_t cmd = ctx.arg[0];
    const std::uint64_t vcpuid = ctx.arg[1];
    const std::uint64_t arg = ctx.arg[2];
    if (vcpuid >= ctx.domain.nr_vcpus()) return -XEN_ENOENT;
    domain::Vcpu& v = ctx.domain.vcpu(static_cast<unsigned>(vcpuid));

    switch (cmd) {
        case VCPUOP_register_vcpu_info: {
            vcpu_register_vcpu_info_t info{};
            if (!ctx.guest.read(arg, info)) return -XEN_EFAULT;
            return ctx.domain.register_vcpu_info(v.id(), info.mfn, info.offset);
        }
        case VCPUOP_is_up:
            return v.online() ? 1 : 0;
        case VCPUOP_set_singleshot_timer: {
            if (&v != &ctx.vcpu) return -XEN_EINVAL;  // only on oneself, as Xen
            vcpu_set_singleshot_timer_t t{};
            if (!ctx.guest.read(arg, t)) return -XEN_EFAULT;
            const auto when = system_time_to_deadline(t.timeout_abs_ns);
            if ((t.flags & VCPU_SSHOTTMR_future) && when < std::chrono::steady_clock::now())
                return -XEN_ETIME;
            v.set_singleshot_timer(when);
            return 0;
        }
        case VCPUOP_stop_singleshot_timer:
            if (&v != &ctx.vcpu) return -XEN_EINVAL;
            v.set_singleshot_timer(std::nullopt);
            return 0;
        case VCPUOP_stop_periodic_timer:
            return 0;  // no periodic timer runs unless one is set
        default:
            return unknown_subop(ctx, "vcpu_op", cmd);
    }
}

}  // namespace xenolith::hypercall
