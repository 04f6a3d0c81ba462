// The toolstack's typed record of a domain: what xl asked for, beyond what
// the hypervisor core builds. The core (src/domain, src/memory) knows
// domids, memory and vCPUs; the on_* actions, libxl's configuration JSON,
// the memory targets and libxl's constants are toolstack policy and live
// here (ARCHITECTURE.md, "Hypervisor core and toolstack policy").
#pragma once

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "domain/domain_builder.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/config/nic.hpp"
#include "toolstack/daemon/device_backends.hpp"

namespace xenolith::toolstack {

// What happens when the guest shuts down for a given reason (xl.cfg on_*,
// libxl_action_on_shutdown).
enum class Action { destroy, restart, rename_restart, preserve, coredump_destroy,
                    coredump_restart, soft_reset };

struct LifecycleActions {
    Action on_poweroff = Action::destroy;
    Action on_reboot = Action::restart;
    Action on_watchdog = Action::destroy;
    Action on_crash = Action::destroy;
    Action on_soft_reset = Action::soft_reset;
};

// The action for a SHUTDOWN_* reason; preserve for suspend (the domain
// stays shut down for save) and unknown reasons.
Action action_for(const LifecycleActions& a, unsigned shutdown_reason);

// libxl's LIBXL_MAXMEM_CONSTANT (1 MiB, libxl__arch_extra_memory on x86):
// the toolstack sets a domain's max_pages to its target (or static max)
// plus this, so a guest has room for its own small allocations.
inline constexpr std::uint64_t kLibxlMaxmemKib = 1024;

// One configuration of a domain, as a create or config-update request
// carries it (validated by the daemon).
struct GuestConfig {
    domain::BuildRequest build;  // what the hypervisor core builds
    LifecycleActions actions;
    // disk=, then what block-attach/-detach and cd-insert changed: what a
    // restart attaches and `xl list -l` shows.
    std::vector<config::DiskConfig> disks;
    // vif=, then what network-attach/-detach changed; once attached, each
    // with the MAC it was given (a restart keeps it, as libxl's stored
    // configuration does).
    std::vector<config::NicConfig> nics;
    // Whose rights the disks are opened with (the xl client that created
    // the domain); nullopt: the daemon's own.
    std::optional<Credentials> owner;
    // libxl_domain_config as xl sent it: printed by `xl list -l`, never read
    // back (every field the daemon acts on is typed above).
    nlohmann::json libxl_json = nlohmann::json::object();
};

// libxl__build_pre's max_pages for a build: the target plus the constant.
std::uint64_t initial_max_pages(const domain::DomainIdentity& id);

// A domain the toolstack created, with what it keeps while the domain lives.
struct ToolstackDomain {
    GuestConfig running;                 // what the domain was built from
    std::optional<GuestConfig> next;     // xl config-update: the next restart's
    std::uint64_t target_kib = 0;        // memory/target set by xl mem-set (0: never)
    std::uint64_t static_max_kib = 0;    // memory/static-max set by xl mem-max (0: never)
    bool restartable = true;             // false once preserved by rename-restart

    // What a restart builds: the config-update's if any, else the running one.
    const GuestConfig& restart_config() const { return next ? *next : running; }
};

}  // namespace xenolith::toolstack
