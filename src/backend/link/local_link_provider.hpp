// A LinkProvider over a LocalGrantTable: the serving side for a back-end
// process whose "guest" is this process (the host front-end harness, the
// bench, unit tests). The harness plays the front end's event channel too:
// alloc_unbound() makes a port the back-end may bind, guest_notify() is the
// guest's EVTCHNOP_send, guest_fd()/guest_pending() what the guest sees of
// the back-end's notifications.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

#include "backend/link/link_provider.hpp"
#include "backend/local_grants.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::link {

class LocalLinkProvider final : public LinkProvider {
public:
    explicit LocalLinkProvider(LocalGrantTable& table);

    int memory_fd() const override { return table_.memfd(); }
    std::uint64_t memory_bytes() const override { return table_.pages() * kXenPageSize; }
    DomId frontend() const override { return table_.granter(); }

    std::int16_t acquire(GrantRef ref, bool writable, bool for_copy, Acquired* out) override;
    void release(Cookie cookie) override;

    std::pair<Port, int> bind(DomId remote, Port remote_port,
                              std::function<void()> on_guest_notify) override;
    int notify(Port local) override;
    void unbind(Port local) override;

    // The guest's side. Thread-safe.
    Port alloc_unbound();
    // -EINVAL unless `guest_port` is bound to the back-end.
    int guest_notify(Port guest_port);
    // Readable while a notification from the back-end is untaken.
    int guest_fd() const { return guest_fd_.get(); }
    std::optional<Port> guest_pending();
    // Back-end ports bound now, and notifications the guest got in total.
    std::size_t bound() const;
    std::uint64_t guest_notifications() const;

private:
    struct GuestPort {
        bool bound = false;
        Port local = 0;
        std::function<void()> on_notify;
    };

    LocalGrantTable& table_;
    mutable std::mutex mu_;
    std::map<Port, GuestPort> guest_ports_;
    std::map<Port, Port> local_to_guest_;
    Port next_guest_ = 1, next_local_ = 1;
    UniqueFd guest_fd_;
    std::deque<Port> guest_queue_;
    std::uint64_t guest_notifications_ = 0;
};

}  // namespace xenolith::backend::link
