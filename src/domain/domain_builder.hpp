// Builds a PVH domain from its configuration: guest memory, kernel and
// ramdisk, ACPI and hvm_start_info, the KVM VM and its vCPUs in the PVH
// entry state, and the toolstack's pages (console, xenstore). On any error
// nothing is left behind: every resource is owned by RAII objects that die
// with the failed build.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "domain/domain.hpp"

namespace xenolith::domain {

struct BuildRequest {
    DomainIdentity identity;
    std::string kernel;      // path of the PVH ELF or bzImage
    std::string ramdisk;     // optional, becomes module 0
    std::string cmdline;
    std::string console_log_dir;
    bool paused = false;
    // Xen's d->max_pages as the toolstack sets it (XEN_DOMCTL_max_mem):
    // how far the guest may populate. 0: its memory, no more.
    std::uint64_t max_pages = 0;
};

Result<std::shared_ptr<Domain>> build_domain(const BuildRequest& req, Services& services);

}  // namespace xenolith::domain
