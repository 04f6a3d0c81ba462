// vm_assist: optional behaviours a guest switches on. For HVM/PVH guests
// Xen offers only VMASST_TYPE_runstate_update_flag.
#include <cstdint>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {

long vm_assist(Context& ctx) {
    const std::uint64_t cmd = ctx.arg[0], type = ctx.arg[1];
    constexpr unsigned kValid = 1u << VMASST_TYPE_runstate_update_flag;
    if (type >= 32 || !(kValid & (1u << type))) return -XEN_EINVAL;
    const unsigned bit = 1u << type;
    switch (cmd) {
        case VMASST_CMD_enable:
            ctx.domain.set_vm_assist(ctx.domain.vm_assist() | bit);
            return 0;
        case VMASST_CMD_disable:
            ctx.domain.set_vm_assist(ctx.domain.vm_assist() & ~bit);
            return 0;
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace xenolith::hypercall
