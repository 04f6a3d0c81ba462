#include "daemon/hypervisor.hpp"

#include <fmt/format.h>

#include "domain/vcpu.hpp"
#include "hypercall/transport.hpp"
#include "evtchn/event_channels.hpp"

namespace xenolith::daemon {

Result<std::unique_ptr<Hypervisor>> Hypervisor::create(const HypervisorOptions& opts) {
    std::unique_ptr<Hypervisor> h(new Hypervisor());
    h->opts_ = opts;
    auto kvm = kvm::System::open();
    if (!kvm) return kvm.error();
    h->kvm_ = std::move(*kvm);
    domain::install_vcpu_kick_signal();
    h->timers_ = std::make_unique<domain::TimerService>();
    h->domains_ = std::make_unique<domain::DomainTable>();
    // Domain 0 is the host: its event-channel table binds in-process
    // back-ends and has no shared_info.
    auto host_events = std::make_shared<evtchn::EventChannels>(0, nullptr, nullptr,
                                                               *h->domains_, 4096);
    domain::DomainTable* table = h->domains_.get();
    h->services_.reset(new domain::Services{
        *h->kvm_, h->log_, *h->timers_, *h->domains_, host_events,
        [table](domid_t d) { table->notify_shutdown(d); }, nullptr, nullptr});
    h->domains_->set_services(h->services_.get());
    h->log_.append_line(fmt::format(
        "(XEN) xenolith {} on KVM; hypercall transport: {}", XENOLITH_VERSION,
        hypercall::transport_name(hypercall::choose_transport(h->kvm_->xen_hvm_caps()))));
    return h;
}

Hypervisor::~Hypervisor() {
    // Domains first: their vCPU threads use the timers and the log.
    if (domains_) domains_->destroy_all();
    domains_.reset();
    timers_.reset();
}

}  // namespace xenolith::daemon
