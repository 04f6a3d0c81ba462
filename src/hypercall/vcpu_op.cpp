// vcpu_op: per-vCPU areas and timers. A 32-bit caller's runstate info,
// singleshot timer and area handles use the compat layouts
// (compat_abi.hpp); the rest are the same in both ABIs.
#include <cstdint>
#include <chrono>
#include <optional>

extern "C" {
#include <xen/errno.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/vcpu.h>
}

#include "hypercall/compat_abi.hpp"
#include "hypercall/hypercall.hpp"
#include "hypercall/system_time.hpp"

namespace xenolith::hypercall {
namespace {

// The address in vcpu_register_{runstate,time}_memory_area: the union's
// 64-bit member for a 64-bit caller, the 4-byte handle alone for a 32-bit
// one (whose upper half may be garbage).
std::optional<std::uint64_t> read_area_handle(Context& ctx, std::uint64_t arg) {
    if (ctx.is64) {
        std::uint64_t p = 0;
        if (!ctx.guest.read(arg, p)) return std::nullopt;
        return p;
    }
    compat::Handle h = 0;
    if (!ctx.guest.read(arg, h)) return std::nullopt;
    return h;
}

}  // namespace

long vcpu_op(Context& ctx) {
    const std::uint64_t cmd = ctx.arg[0];
    const std::uint64_t vcpuid = ctx.arg[1];
    const std::uint64_t arg = ctx.arg[2];
    if (vcpuid >= ctx.domain.nr_vcpus()) return -XEN_ENOENT;
    GuestVcpu& v = *ctx.domain.vcpu(static_cast<unsigned>(vcpuid));
    const bool self = v.id() == ctx.vcpu.id();

    switch (cmd) {
        case VCPUOP_initialise: {
            vcpu_hvm_context_t hvm{};
            if (!ctx.guest.read(arg, hvm)) return -XEN_EFAULT;
            if (v.initialised()) return -XEN_EEXIST;
            if (!v.initialise(hvm)) return -XEN_EINVAL;
            return 0;
        }
        case VCPUOP_up:
            if (!v.initialised()) return -XEN_EINVAL;
            v.set_online(true);
            return 0;
        case VCPUOP_down:
            v.set_online(false);
            return 0;
        case VCPUOP_is_up:
            return v.online() ? 1 : 0;
        case VCPUOP_get_runstate_info: {
            const vcpu_runstate_info_t r = v.runstate();
            const bool ok = ctx.is64 ? ctx.guest.write(arg, r)
                                     : ctx.guest.write(arg, compat::to_compat(r));
            return ok ? 0 : -XEN_EFAULT;
        }
        case VCPUOP_register_runstate_memory_area: {
            auto addr = read_area_handle(ctx, arg);
            if (!addr) return -XEN_EFAULT;
            v.set_runstate_area(*addr, ctx.is64);
            return 0;
        }
        case VCPUOP_register_vcpu_time_memory_area: {
            auto addr = read_area_handle(ctx, arg);
            if (!addr) return -XEN_EFAULT;
            // Xen checks the area is writable now (a NULL address unregisters).
            if (*addr && !ctx.guest.to_gpa(*addr, true)) return -XEN_EFAULT;
            v.set_time_area(*addr);
            return 0;
        }
        case VCPUOP_register_vcpu_info: {
            vcpu_register_vcpu_info_t info{};
            if (!ctx.guest.read(arg, info)) return -XEN_EFAULT;
            // Only on oneself or on a vCPU that is down (Xen's rule).
            if (!self && v.online()) return -XEN_EINVAL;
            return ctx.domain.register_vcpu_info(v.id(), info.mfn, info.offset);
        }
        case VCPUOP_set_periodic_timer: {
            vcpu_set_periodic_timer_t t{};
            if (!ctx.guest.read(arg, t)) return -XEN_EFAULT;
            if (t.period_ns < 1000000) return -XEN_EINVAL;  // Xen's 1 ms floor
            v.set_periodic_timer(std::chrono::nanoseconds(
                std::min<std::uint64_t>(t.period_ns, std::uint64_t{1} << 62)));
            return 0;
        }
        case VCPUOP_send_nmi:
            if (arg) return -XEN_EINVAL;
            // NMIs to guests are not wired yet: accepted, and said so once.
            if (ctx.domain.first_time(GuestWarning::nmi_not_delivered, 0))
                ctx.domain.guest_log("VCPUOP_send_nmi: NMIs are not delivered to guests yet");
            return 0;
        case VCPUOP_get_physid:
            return -XEN_EINVAL;  // only for the hardware domain's pinned vCPUs
        case VCPUOP_set_singleshot_timer: {
            if (!self) return -XEN_EINVAL;  // only on oneself, as Xen
            vcpu_set_singleshot_timer_t t{};
            if (ctx.is64) {
                if (!ctx.guest.read(arg, t)) return -XEN_EFAULT;
            } else {
                compat::VcpuSetSingleshotTimer c{};  // 12 bytes, not 16
                if (!ctx.guest.read(arg, c)) return -XEN_EFAULT;
                t.timeout_abs_ns = c.timeout_abs_ns;
                t.flags = c.flags;
            }
            const auto when = system_time_to_deadline(t.timeout_abs_ns);
            if ((t.flags & VCPU_SSHOTTMR_future) && when < std::chrono::steady_clock::now())
                return -XEN_ETIME;
            v.set_singleshot_timer(when);
            return 0;
        }
        case VCPUOP_stop_singleshot_timer:
            if (!self) return -XEN_EINVAL;
            v.set_singleshot_timer(std::nullopt);
            return 0;
        case VCPUOP_stop_periodic_timer:
            v.set_periodic_timer(std::nullopt);
            return 0;
        default:
            return unknown_subop(ctx, __HYPERVISOR_vcpu_op, cmd);
    }
}

}  // namespace xenolith::hypercall
