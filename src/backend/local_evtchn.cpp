#include "backend/local_evtchn.hpp"

#include <sys/eventfd.h>

#include <cerrno>
#include <stdexcept>

namespace xenolith::backend {

LocalEventChannel::LocalEventChannel() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!fd_.valid()) throw std::runtime_error("eventfd");
}

void LocalEventChannel::connect(LocalEventChannel& a, LocalEventChannel& b) {
    a.peer_ = &b;
    b.peer_ = &a;
}

std::pair<Port, int> LocalEventChannel::bind_interdomain(DomId, Port remote_port) {
    if (!peer_) return {0, -ESRCH};
    if (expected_remote_ && remote_port != *expected_remote_) return {0, -EINVAL};
    bound_ = true;
    return {port_, 0};
}

void LocalEventChannel::unbind(Port) { bound_ = false; }

std::optional<Port> LocalEventChannel::pending() {
    eventfd_t n = 0;
    if (::eventfd_read(fd_.get(), &n) != 0 || n == 0) return std::nullopt;
    return port_;
}

int LocalEventChannel::notify(Port local) {
    if (!peer_ || local != port_) return -EINVAL;
    ++sent_;
    return ::eventfd_write(peer_->fd_.get(), 1) == 0 ? 0 : -errno;
}

}  // namespace xenolith::backend
