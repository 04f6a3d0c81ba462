// An event channel between two ends of this process, one eventfd per end:
// notify() on one side makes the other's fd readable. Unit tests and
// bench/blkback connect a back-end to a harness front end with it.
#pragma once

#include <optional>

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

    std::uint64_t notifications_sent() const { return sent_; }
    bool bound() const { return bound_; }
    // The one remote port this end may bind to, as an unbound port the
    // front end allocated; any other is refused with EINVAL, as Xen does.
    void expect_remote_port(Port remote) { expected_remote_ = remote; }

private:
    UniqueFd fd_;
    LocalEventChannel* peer_ = nullptr;
    Port port_ = 1;
    bool bound_ = false;
    std::optional<Port> expected_remote_;
    std::uint64_t sent_ = 0;
};

}  // namespace xenolith::backend
