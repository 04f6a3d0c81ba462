// A LinkProvider over a xenolithd domain: the front end's GuestMemory memfd,
// grants through a grant::GrantMapper of its own (the back-end is a mapping
// domain with Xen's semantics: maptrack limit, GTF_reading/GTF_writing,
// frames held while pinned) and, for copies, GrantTable::acquire with
// Use::copy (sub-page rules); event channels through the host table's
// bind_host on the guest's unbound port. One per back-end process.
#pragma once

#include <memory>
#include <mutex>

#include "backend/link/link_provider.hpp"
#include "base/result.hpp"
#include "evtchn/event_channels.hpp"
#include "grant/grant_mapper.hpp"

namespace xenolith::backend::link {

class DomainLinkProvider final : public LinkProvider {
public:
    // `self` is the back-end's domid (0 for host back-ends), mapping with at
    // most `max_maptrack_frames` x 256 grants; `host` the table its ports
    // live in, `guest` the front end's. Fails when `frontend` is not found.
    static Result<std::unique_ptr<DomainLinkProvider>> create(
        domid_t self, domid_t frontend, grant::DomainLookup lookup, unsigned max_maptrack_frames,
        evtchn::EventChannels& host, std::shared_ptr<evtchn::EventChannels> guest);
    ~DomainLinkProvider() override;

    int memory_fd() const override;
    std::uint64_t memory_bytes() const override { return memory_bytes_; }
    DomId frontend() const override { return frontend_.domid; }

    std::int16_t acquire(GrantRef ref, bool writable, bool for_copy, Acquired* out) override;
    void release(Cookie cookie) override;

    std::pair<Port, int> bind(DomId remote, Port remote_port,
                              std::function<void()> on_guest_notify) override;
    int notify(Port local) override;
    void unbind(Port local) override;

    std::size_t nr_mapped() const { return mapper_.nr_mapped(); }

private:
    DomainLinkProvider(domid_t self, grant::ForeignDomain frontend, grant::DomainLookup lookup,
                       unsigned max_maptrack_frames, evtchn::EventChannels& host,
                       std::shared_ptr<evtchn::EventChannels> guest, std::uint64_t memory_bytes);

    const domid_t self_;
    grant::ForeignDomain frontend_;  // holds the domain while the link lives
    const grant::DomainLookup lookup_;
    grant::GrantMapper mapper_;
    evtchn::EventChannels& host_;
    std::shared_ptr<evtchn::EventChannels> guest_;
    std::uint64_t memory_bytes_;
};

}  // namespace xenolith::backend::link
