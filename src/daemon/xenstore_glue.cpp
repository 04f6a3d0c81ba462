#include "daemon/xenstore_glue.hpp"

#include <chrono>

#include <fmt/format.h>

extern "C" {
#include <xen/hvm/params.h>
}

#include "base/log.hpp"
#include "daemon/uuid.hpp"

namespace xenolith::daemon {

namespace {

// Keeps the domain (and so its memory) alive while its ring is served;
// closing domain 0's port turns the guest's end back into "unbound".
struct RingHold {
    std::shared_ptr<domain::Domain> domain;
    std::shared_ptr<evtchn::EventChannels> host;
    evtchn::Port port = 0;
    RingHold(std::shared_ptr<domain::Domain> d, std::shared_ptr<evtchn::EventChannels> h,
             evtchn::Port p)
        : domain(std::move(d)), host(std::move(h)), port(p) {}
    ~RingHold() { host->close(port); }
    RingHold(const RingHold&) = delete;
    RingHold& operator=(const RingHold&) = delete;
};

}  // namespace

xenstore::XsResult<xenstore::RingBinding> XenstoreGlue::connect(domid_t domid, std::int64_t gfn,
                                                                evtchn_port_t port,
                                                                std::function<void()> on_event) {
    auto d = table_.get(domid);
    if (!d) return xenstore::XsErr::inval;
    if (gfn < 0 || static_cast<std::uint64_t>(gfn) >= (std::uint64_t{1} << 40))
        return xenstore::XsErr::inval;
    auto* page = d->memory().host_ptr(static_cast<std::uint64_t>(gfn) << kPageShift, kPageSize);
    if (!page) {
        log::warn("xenstore: dom{}: ring frame {:#x} is not guest RAM", domid, gfn);
        return xenstore::XsErr::inval;
    }
    evtchn::Port host_port = 0;
    const long rc = host_events_->bind_host(
        d->events(), port, [cb = std::move(on_event)](evtchn::Port) { cb(); }, &host_port);
    if (rc) {
        log::warn("xenstore: dom{}: cannot bind store event channel {}: {}", domid, port, rc);
        return xenstore::XsErr::inval;
    }
    auto hold = std::make_shared<RingHold>(d, host_events_, host_port);
    xenstore::RingBinding b;
    b.page = reinterpret_cast<xenstore_domain_interface*>(page);
    // The binding owns `hold`, so the raw pointer lives as long as `notify`.
    b.notify = [h = hold.get()] { h->host->send(h->port); };
    b.hold = std::move(hold);
    return b;
}

xenstore::DomainRecord XenstoreGlue::record_for(domain::Domain& d) {
    const domain::DomainIdentity& id = d.identity();
    xenstore::DomainRecord r;
    r.domid = d.domid();
    r.name = d.name();
    r.uuid = uuid_string(id.uuid);
    switch (id.type) {  // libxl_domain_type's names, as /libxl/<domid>/type holds them
        case domain::GuestType::pv: r.type = "pv"; break;
        case domain::GuestType::pvh: r.type = "pvh"; break;
        case domain::GuestType::hvm: r.type = "hvm"; break;
    }
    r.max_memkb = std::max(id.max_memory_kib, id.memory_kib);
    r.target_memkb = id.memory_kib;
    r.vcpus = id.vcpus;
    r.max_vcpus = id.max_vcpus;
    r.store_gfn = d.param(HVM_PARAM_STORE_PFN);
    r.store_port = static_cast<std::uint32_t>(d.param(HVM_PARAM_STORE_EVTCHN));
    r.console_gfn = d.param(HVM_PARAM_CONSOLE_PFN);
    r.console_port = static_cast<std::uint32_t>(d.param(HVM_PARAM_CONSOLE_EVTCHN));
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    r.start_time = fmt::format("{}.{:02}", us / 1000000, (us % 1000000) / 10000);
    return r;
}

}  // namespace xenolith::daemon
