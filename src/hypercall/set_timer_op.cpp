// set_timer_op: the legacy singleshot timer; 0 stops it, a past deadline
// fires at once (VIRQ_TIMER).
#include <cstdint>
#include "hypercall/hypercall.hpp"
#include "hypercall/system_time.hpp"

namespace xenolith::hypercall {

long set_timer_op(Context& ctx) {
    // The 32-bit ABI splits the 64-bit time across ebx (low) and ecx (high).
    const std::uint64_t timeout = ctx.is64 ? ctx.arg[0] : ctx.arg[0] | (ctx.arg[1] << 32);
    if (timeout == 0)
        ctx.vcpu.set_singleshot_timer(std::nullopt);
    else
        ctx.vcpu.set_singleshot_timer(system_time_to_deadline(timeout));
    return 0;
}

}  // namespace xenolith::hypercall
