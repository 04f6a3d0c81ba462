// Where the xenstore service meets the domains: the RingHost that maps a
// domain's ring page and binds domain 0's end of its store channel, and the
// DomainRecord (libxl's view of a domain) for the nodes written at creation.
#pragma once

#include <memory>

#include "domain/domain_table.hpp"
#include "evtchn/event_channels.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::daemon {

class XenstoreGlue final : public xenstore::RingHost {
public:
    XenstoreGlue(domain::DomainTable& table, std::shared_ptr<evtchn::EventChannels> host_events)
        : table_(table), host_events_(std::move(host_events)) {}

    // The ring at guest frame `gfn` of a live domain, and the guest's
    // unbound `port` (allocated for domain 0 at build time) bound here.
    xenstore::XsResult<xenstore::RingBinding> connect(domid_t domid, std::int64_t gfn,
                                                      evtchn_port_t port,
                                                      std::function<void()> on_event) override;

    // What libxl would write for `d` (name, uuid, memory, vCPUs, the store
    // and console pages and ports from its HVM params).
    static xenstore::DomainRecord record_for(domain::Domain& d);

private:
    domain::DomainTable& table_;
    std::shared_ptr<evtchn::EventChannels> host_events_;
};

}  // namespace xenolith::daemon
