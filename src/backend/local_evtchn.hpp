// An event channel between two ends of this process, one eventfd per end:
// notify(p) on one side makes the other's fd readable with port p pending.
// Unit tests and bench/blkback connect a back-end to a harness front end
// with it.
//
// Ports pair up by number: the two ends' port p are the two ends of one
// channel. Port 1 always exists (a lone ring needs no bind); each
// bind_interdomain() takes the lowest free port, so a back-end binding one
// port per queue gets 1, 2, 3... in order, and the test playing the front
// end notifies (and sees notifications on) the same numbers.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "backend/services.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend {

class LocalEventChannel final : public EventChannels {
public:
    LocalEventChannel();
    // Joins the two ends: each one's notify() signals the other.
    static void connect(LocalEventChannel& a, LocalEventChannel& b);

    std::pair<Port, int> bind_interdomain(DomId remote, Port remote_port) override;
    void unbind(Port local) override;
    int fd() const override { return fd_.get(); }
    std::optional<Port> pending() override;
    void unmask(Port) override {}
    int notify(Port local) override;

    std::uint64_t notifications_sent() const { return sent_.load(); }
    // Some port is bound now.
    bool bound() const;
    // The local port bound to the front end's `remote` port, if any.
    std::optional<Port> local_port_of(Port remote) const;
    // A remote port this end may bind to, as an unbound port the front end
    // allocated; once any is named, any other is refused with EINVAL, as
    // Xen does. May be called once per port.
    void expect_remote_port(Port remote);

private:
    bool has_port(Port p) const;  // mu_ held

    UniqueFd fd_;
    LocalEventChannel* peer_ = nullptr;
    mutable std::mutex mu_;
    std::map<Port, Port> bound_;  // local -> remote
    std::set<Port> expected_remote_;
    std::set<Port> pending_;      // ports the peer notified, not yet taken
    std::atomic<std::uint64_t> sent_{0};
};

}  // namespace xenolith::backend
