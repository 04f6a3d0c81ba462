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
#include "loader/kernel_image.hpp"

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

// The whole build: the kernel is read and checked first, then
// build_empty_domain and load_pvh_image.
Result<std::shared_ptr<Domain>> build_domain(const BuildRequest& req, Services& services);

// An empty domain, what a restore fills: guest memory laid out up to
// maxmem, the KVM VM with its memory slots, irqchip and vCPUs (CPUID, an
// enabled LAPIC, none initialised), the toolstack's pages, console and
// xenstore channels (ports allocated console first, as on every build)
// and the console back-end. req.kernel, ramdisk and cmdline are unused.
Result<std::shared_ptr<Domain>> build_empty_domain(const BuildRequest& req, Services& services);

// The boot image into an empty domain: kernel, ramdisk (module 0), ACPI
// tables and hvm_start_info, vCPU 0 initialised at the PVH entry.
Status load_pvh_image(Domain& dom, const BuildRequest& req, const loader::KernelImage& kernel);

}  // namespace xenolith::domain
