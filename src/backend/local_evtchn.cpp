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
    std::lock_guard lock(mu_);
    if (!peer_) return {0, -ESRCH};
    if (!expected_remote_.empty() && !expected_remote_.contains(remote_port)) return {0, -EINVAL};
    for (const auto& [local, remote] : bound_)
        if (remote == remote_port) return {0, -EINVAL};  // already bound, as Xen refuses
    Port local = 1;
    while (bound_.contains(local)) ++local;
    bound_[local] = remote_port;
    return {local, 0};
}

void LocalEventChannel::unbind(Port local) {
    std::lock_guard lock(mu_);
    bound_.erase(local);
}

bool LocalEventChannel::has_port(Port p) const { return p == 1 || bound_.contains(p); }

std::optional<Port> LocalEventChannel::pending() {
    std::lock_guard lock(mu_);
    eventfd_t n = 0;
    if (pending_.empty()) {
        (void)::eventfd_read(fd_.get(), &n);
        return std::nullopt;
    }
    Port p = *pending_.begin();
    pending_.erase(pending_.begin());
    // The fd stays readable while another port is pending.
    if (pending_.empty()) (void)::eventfd_read(fd_.get(), &n);
    return p;
}

// One lock at a time: the two ends may notify each other from two threads.
int LocalEventChannel::notify(Port local) {
    LocalEventChannel* peer = peer_;
    if (!peer) return -EINVAL;
    bool ours = false;
    {
        std::lock_guard lock(mu_);
        ours = has_port(local);
    }
    std::lock_guard peer_lock(peer->mu_);
    // A port the back end bound is the front end's to notify too.
    if (!ours && !peer->has_port(local)) return -EINVAL;
    peer->pending_.insert(local);
    if (::eventfd_write(peer->fd_.get(), 1) != 0) return -errno;
    ++sent_;
    return 0;
}

bool LocalEventChannel::bound() const {
    std::lock_guard lock(mu_);
    return !bound_.empty();
}

std::optional<Port> LocalEventChannel::local_port_of(Port remote) const {
    std::lock_guard lock(mu_);
    for (const auto& [local, r] : bound_)
        if (r == remote) return local;
    return std::nullopt;
}

void LocalEventChannel::expect_remote_port(Port remote) {
    std::lock_guard lock(mu_);
    expected_remote_.insert(remote);
}

}  // namespace xenolith::backend
