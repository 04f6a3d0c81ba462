// Everything xenolithd owns, in construction order: KVM, the hypervisor
// log, timers, domain 0's event channels, the domain table, xenstore, and
// the toolstack above them. Without a usable /dev/kvm the daemon runs
// degraded: xl's host requests and xenstore work, domains cannot be created
// (ARCHITECTURE.md, "Hosts without KVM").
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "console/serial_input.hpp"
#include "domain/domain_table.hpp"
#include "domain/hypervisor_log.hpp"
#include "domain/timer_service.hpp"
#include "kvm/kvm_system.hpp"
#include "toolstack/daemon/toolstack.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::daemon {

struct HypervisorOptions {
    std::string run_dir;        // control socket
    std::string console_log_dir;
    std::string xenstore_socket;  // where host tools reach xenstore
    std::string serial_input;     // the hypervisor's serial line (empty: none)
    std::string dump_dir;         // on_*=coredump-* cores (xl's XEN_DUMP_DIR)
    std::string blkback_binary;   // xenolith-blkback (empty: beside xenolithd)
    std::string netback_binary;   // xenolith-netback (empty: beside xenolithd)
    std::string xl_conf = "/etc/xen/xl.conf";  // vif.default.*, run_hotplug_scripts
};

class XenstoreGlue;

class Hypervisor {
public:
    static Result<std::unique_ptr<Hypervisor>> create(const HypervisorOptions& opts);
    ~Hypervisor();

    const HypervisorOptions& options() const { return opts_; }
    // Null on a host without a usable /dev/kvm; kvm_unavailable() says why.
    const kvm::System* kvm() const { return kvm_.get(); }
    const std::string& kvm_unavailable() const { return kvm_unavailable_; }
    domain::HypervisorLog& log() { return log_; }
    domain::DomainTable& domains() { return *domains_; }
    // Creates, destroys, renames and restarts domains as xl's policy says.
    toolstack::Toolstack& toolstack() { return *toolstack_; }
    xenstore::XenstoreService& xenstore() { return *xenstore_; }
    // Stops serving xenstore and removes its socket (daemon exit).
    void stop_xenstore();
    // Whether the domain now using `domid` has shut down, as reported by
    // Services::on_shutdown (which runs after the reason is recorded).
    bool shutdown_reported(domid_t domid);
    std::chrono::steady_clock::time_point started_at() const { return started_; }

private:
    Hypervisor() = default;

    HypervisorOptions opts_;
    std::unique_ptr<kvm::System> kvm_;
    std::string kvm_unavailable_;  // the open error, when kvm_ is null
    // What Services refer to without KVM: never opened, so any ioctl through
    // it fails (EBADF); create is refused before one could be tried.
    kvm::System no_kvm_;
    domain::HypervisorLog log_;
    std::unique_ptr<domain::TimerService> timers_;
    std::unique_ptr<domain::DomainTable> domains_;
    std::unique_ptr<domain::Services> services_;
    std::unique_ptr<XenstoreGlue> xenstore_glue_;
    std::unique_ptr<xenstore::XenstoreService> xenstore_;
    std::unique_ptr<console::SerialInput> serial_input_;
    // What serves devices: a sandboxed back-end process per vbd.
    std::unique_ptr<toolstack::DeviceBackends> device_backends_;
    std::unique_ptr<toolstack::Toolstack> toolstack_;
    std::mutex shutdown_mu_;  // a leaf
    std::set<domid_t> shut_down_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace xenolith::daemon
