#include "toolstack/daemon/guest_config.hpp"

extern "C" {
#include <xen/sched.h>
}

namespace xenolith::toolstack {

Action action_for(const LifecycleActions& a, unsigned shutdown_reason) {
    switch (shutdown_reason) {
        case SHUTDOWN_poweroff: return a.on_poweroff;
        case SHUTDOWN_reboot: return a.on_reboot;
        case SHUTDOWN_crash: return a.on_crash;
        case SHUTDOWN_watchdog: return a.on_watchdog;
        case SHUTDOWN_soft_reset: return a.on_soft_reset;
        default: return Action::preserve;
    }
}

std::uint64_t initial_max_pages(const domain::DomainIdentity& id) {
    return (id.memory_kib + kLibxlMaxmemKib) / 4;
}

}  // namespace xenolith::toolstack
