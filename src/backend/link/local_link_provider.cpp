#include "backend/link/local_link_provider.hpp"

#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace xenolith::backend::link {

LocalLinkProvider::LocalLinkProvider(LocalGrantTable& table)
    : table_(table), guest_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!guest_fd_.valid()) throw std::runtime_error("eventfd");
}

std::int16_t LocalLinkProvider::acquire(GrantRef ref, bool writable, bool, Acquired* out) {
    std::size_t frame = 0;
    if (std::int16_t st = table_.acquire(ref, writable, &frame); st != GNTST_okay) return st;
    out->page_offset = frame * kXenPageSize;
    out->start = 0;
    out->length = kXenPageSize;  // a v1 table has no sub-page grants
    out->cookie = (Cookie{ref} << 1) | (writable ? 1 : 0);
    return GNTST_okay;
}

void LocalLinkProvider::release(Cookie cookie) {
    table_.release(static_cast<GrantRef>(cookie >> 1), cookie & 1);
}

std::pair<Port, int> LocalLinkProvider::bind(DomId remote, Port remote_port,
                                             std::function<void()> on_guest_notify) {
    std::lock_guard lock(mu_);
    if (remote != table_.granter()) return {0, -ESRCH};
    auto it = guest_ports_.find(remote_port);
    // EVTCHNOP_bind_interdomain: the remote port must be unbound, for us.
    if (it == guest_ports_.end() || it->second.bound) return {0, -EINVAL};
    const Port local = next_local_++;
    it->second = GuestPort{true, local, std::move(on_guest_notify)};
    local_to_guest_[local] = remote_port;
    return {local, 0};
}

int LocalLinkProvider::notify(Port local) {
    std::lock_guard lock(mu_);
    auto it = local_to_guest_.find(local);
    if (it == local_to_guest_.end()) return -EINVAL;
    // Coalesced as a pending bit is: one entry per port at most.
    if (std::find(guest_queue_.begin(), guest_queue_.end(), it->second) == guest_queue_.end())
        guest_queue_.push_back(it->second);
    ++guest_notifications_;
    ::eventfd_write(guest_fd_.get(), 1);
    return 0;
}

void LocalLinkProvider::unbind(Port local) {
    std::lock_guard lock(mu_);
    auto it = local_to_guest_.find(local);
    if (it == local_to_guest_.end()) return;
    // The guest's end falls back to unbound, as Xen's close does.
    guest_ports_[it->second] = GuestPort{};
    local_to_guest_.erase(it);
}

Port LocalLinkProvider::alloc_unbound() {
    std::lock_guard lock(mu_);
    const Port p = next_guest_++;
    guest_ports_[p] = GuestPort{};
    return p;
}

int LocalLinkProvider::guest_notify(Port guest_port) {
    std::function<void()> cb;
    {
        std::lock_guard lock(mu_);
        auto it = guest_ports_.find(guest_port);
        if (it == guest_ports_.end() || !it->second.bound) return -EINVAL;
        cb = it->second.on_notify;
    }
    cb();  // outside the lock, as EventChannels runs host handlers
    return 0;
}

std::optional<Port> LocalLinkProvider::guest_pending() {
    std::lock_guard lock(mu_);
    eventfd_t n = 0;
    ::eventfd_read(guest_fd_.get(), &n);
    if (guest_queue_.empty()) return std::nullopt;
    const Port p = guest_queue_.front();
    guest_queue_.pop_front();
    if (!guest_queue_.empty()) ::eventfd_write(guest_fd_.get(), 1);
    return p;
}

std::size_t LocalLinkProvider::bound() const {
    std::lock_guard lock(mu_);
    return local_to_guest_.size();
}

std::uint64_t LocalLinkProvider::guest_notifications() const {
    std::lock_guard lock(mu_);
    return guest_notifications_;
}

}  // namespace xenolith::backend::link
