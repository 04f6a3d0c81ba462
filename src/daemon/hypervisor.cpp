#include "daemon/hypervisor.hpp"

#include <fmt/format.h>

#include "base/log.hpp"
#include "toolstack/config/xl_conf.hpp"
#include "daemon/backend_processes.hpp"
#include "daemon/xenstore_glue.hpp"
#include "domain/vcpu.hpp"
#include "hypercall/transport.hpp"
#include "evtchn/event_channels.hpp"

namespace xenolith::daemon {

Result<std::unique_ptr<Hypervisor>> Hypervisor::create(const HypervisorOptions& opts) {
    std::unique_ptr<Hypervisor> h(new Hypervisor());
    h->opts_ = opts;
    // No usable /dev/kvm (a host without virtualisation, a container without
    // the device) is no reason to refuse xl and xenstore: run degraded, and
    // let `xl create` say why it cannot (request_domain.cpp).
    if (auto kvm = kvm::System::open()) h->kvm_ = std::move(*kvm);
    else h->kvm_unavailable_ = kvm.error().what;
    domain::install_vcpu_kick_signal();
    h->timers_ = std::make_unique<domain::TimerService>();
    h->domains_ = std::make_unique<domain::DomainTable>();
    // Domain 0 is the host: its event-channel table binds in-process
    // back-ends and has no shared_info.
    auto host_events = std::make_shared<evtchn::EventChannels>(0, nullptr, nullptr,
                                                               *h->domains_, 4096);
    // xenstore runs in-process, on its own thread (docs/xenstore.md).
    h->xenstore_glue_ = std::make_unique<XenstoreGlue>(*h->domains_, host_events);
    xenstore::ServiceOptions xs;
    xs.socket_path = opts.xenstore_socket;
    auto service = xenstore::XenstoreService::start(xs, h->xenstore_glue_.get());
    if (!service) return service.error();
    h->xenstore_ = std::move(*service);

    domain::DomainTable* table = h->domains_.get();
    xenstore::XenstoreService* store = h->xenstore_.get();
    Hypervisor* self = h.get();
    // The toolstack exists before any domain can shut down (set below).
    h->services_.reset(new domain::Services{
        h->kvm_ ? *h->kvm_ : h->no_kvm_, h->log_, *h->timers_, *h->domains_, host_events,
        [self, table, store](domid_t d) {
            {
                std::lock_guard lock(self->shutdown_mu_);
                self->shut_down_.insert(d);
            }
            store->domain_shutdown(d);  // queued: fires @releaseDomain
            table->notify_shutdown(d);
            self->toolstack_->domain_shut_down(d);  // its on_* action, later
        },
        [self, store](domain::Domain& d) {
            {
                std::lock_guard lock(self->shutdown_mu_);
                self->shut_down_.erase(d.domid());  // a new domain reusing the id
            }
            (void)store->domain_created(XenstoreGlue::record_for(d));
        },
        [store](domid_t d) { store->domain_destroyed(d); },
        [self, store](domain::Domain& d) {
            {
                std::lock_guard lock(self->shutdown_mu_);
                self->shut_down_.erase(d.domid());  // running again
            }
            (void)store->domain_soft_reset(d.domid(), d.param(HVM_PARAM_STORE_PFN),
                                           static_cast<evtchn_port_t>(
                                               d.param(HVM_PARAM_STORE_EVTCHN)));
        }});
    h->domains_->set_services(h->services_.get());
    h->services_->grant_domains = [table](domid_t d) -> std::optional<grant::ForeignDomain> {
        std::shared_ptr<domain::Domain> dom = table->get(d);
        if (!dom) return std::nullopt;
        return grant::ForeignDomain{d, &dom->grants(), &dom->memory(), dom};
    };
    h->device_backends_ = std::make_unique<BackendProcesses>(
        h->services_->grant_domains,
        [table](domid_t d) -> std::shared_ptr<evtchn::EventChannels> {
            auto dom = table->get(d);
            return dom ? dom->events_ptr() : nullptr;
        },
        host_events, *h->xenstore_,
        [&opts] {
            BackendBinaries b = BackendBinaries::beside_daemon();
            if (!opts.blkback_binary.empty()) b.blkback = opts.blkback_binary;
            if (!opts.netback_binary.empty()) b.netback = opts.netback_binary;
            return b;
        }());
    h->toolstack_ = std::make_unique<toolstack::Toolstack>(*h->domains_, *h->services_,
                                                           *h->xenstore_, *h->device_backends_);
    if (!opts.serial_input.empty()) {
        h->serial_input_ = std::make_unique<console::SerialInput>();
        if (auto st = h->serial_input_->start(opts.serial_input,
                                              [table] { table->send_global_virq(VIRQ_CONSOLE); });
            !st)
            return st.error();
        h->services_->serial_input = h->serial_input_.get();
    }
    if (!opts.dump_dir.empty()) h->toolstack_->set_dump_dir(opts.dump_dir);
    // xl.conf as xl reads it: a file that does not parse is refused (it
    // would change every domain's devices); one that is absent is libxl's
    // defaults.
    auto xl_conf = config::load_xl_conf(opts.xl_conf);
    if (!xl_conf) return xl_conf.error();
    for (const auto& w : xl_conf->warnings) log::warn("{}", w.str());
    h->toolstack_->set_vif_defaults(toolstack::vif_defaults(*xl_conf),
                                    xl_conf->run_hotplug_scripts);
    if (h->kvm_) {
        h->log_.append_line(fmt::format(
            "(XEN) xenolith {} on KVM; hypercall transport: {}", XENOLITH_VERSION,
            hypercall::transport_name(hypercall::choose_transport(h->kvm_->xen_hvm_caps()))));
    } else {
        log::warn("xenolithd: no usable /dev/kvm ({}): domains cannot be created; "
                  "serving xl and xenstore only",
                  h->kvm_unavailable_);
        h->log_.append_line(fmt::format("(XEN) xenolith {} without KVM ({}): domains cannot be "
                                        "created",
                                        XENOLITH_VERSION, h->kvm_unavailable_));
    }
    return h;
}

Hypervisor::~Hypervisor() {
    serial_input_.reset();  // its reader raises VIRQs through the table
    if (toolstack_) toolstack_->stop();  // no on_* action runs (or restarts) from here on
    // Domains first: their vCPU threads use the timers and the log, and
    // their destruction tells xenstore. The toolstack's destroy takes their
    // devices down first (back-ends, hotplug scripts, nodes).
    if (toolstack_) toolstack_->destroy_all();
    if (domains_) domains_->destroy_all();
    domains_.reset();
    toolstack_.reset();  // after the domains: a vCPU thread may still report a shutdown
    device_backends_.reset();  // its thread writes to xenstore
    xenstore_.reset();
    xenstore_glue_.reset();
    timers_.reset();
}

bool Hypervisor::shutdown_reported(domid_t domid) {
    std::lock_guard lock(shutdown_mu_);
    return shut_down_.count(domid) != 0;
}

void Hypervisor::stop_xenstore() {
    if (xenstore_) xenstore_->stop();
}

}  // namespace xenolith::daemon
