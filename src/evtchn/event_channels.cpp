#include <cstdint>
#include "evtchn/event_channels.hpp"

extern "C" {
#include <xen/errno.h>
}

namespace xenolith::evtchn {

bool virq_is_global(unsigned virq) {
    switch (virq) {
        case VIRQ_TIMER:
        case VIRQ_DEBUG:
        case VIRQ_XENOPROF:
        case VIRQ_XENPMU:
            return false;
        default:
            return true;
    }
}

namespace {

constexpr unsigned kBucket = 64;  // ports are made valid 64 at a time, as Xen does


}  // namespace

EventChannels::EventChannels(domid_t self, EventTarget* target,
                             std::unique_ptr<EventDelivery> delivery, Registry& registry,
                             unsigned max_ports)
    : self_(self),
      target_(target),
      base_(std::move(delivery)),
      active_(nullptr),
      registry_(registry),
      requested_ports_(max_ports) {
    use_delivery(base_.get());
    channels_.resize(std::min<std::size_t>(kBucket, std::max(this->max_ports(), 1u)));
    channels_[0].state = ChannelState::reserved;
    virq_to_port_.assign(target_ ? target_->max_vcpus() : 1, std::vector<Port>(NR_VIRQS, 0));
}

EventChannels::~EventChannels() = default;

// Under mu_ (or in the constructor).
void EventChannels::use_delivery(EventDelivery* d) { active_.store(d, std::memory_order_release); }

unsigned EventChannels::max_ports() const {
    EventDelivery* d = delivery();
    return d ? std::min(requested_ports_, d->port_limit(*target_)) : requested_ports_;
}

long EventChannels::get_free_port(Port* port) {
    EventDelivery* d = delivery();
    const std::size_t usable_end = std::min<std::size_t>(channels_.size(), max_ports());
    for (Port p = 1; p < usable_end; ++p) {
        if (channels_[p].state == ChannelState::free && !(d && d->is_busy(*target_, p))) {
            *port = p;
            return 0;
        }
    }
    const std::size_t next = channels_.size();
    const unsigned limit = max_ports();
    if (next >= limit) return -XEN_ENOSPC;
    channels_.resize(std::min<std::size_t>(next + kBucket, limit));
    *port = static_cast<Port>(next);
    return 0;
}

// A port was just bound: the ABI resets its state (FIFO: default priority).
void EventChannels::init_port(Port port) {
    if (EventDelivery* d = delivery()) d->init_port(*target_, port);
}

void EventChannels::deliver_locked(Port port) {
    if (EventDelivery* d = delivery()) d->set_pending(*target_, port, channels_[port].notify_vcpu);
}

long EventChannels::alloc_unbound(domid_t remote_dom, Port* port) {
    std::lock_guard lock(mu_);
    Port p = 0;
    if (long rc = get_free_port(&p); rc) return rc;
    Channel& c = channels_[p];
    c = Channel{};
    c.state = ChannelState::unbound;
    c.remote_dom = remote_dom == DOMID_SELF ? self_ : remote_dom;
    init_port(p);
    *port = p;
    return 0;
}

long EventChannels::bind_interdomain(domid_t remote_dom, Port remote_port, Port* local_port) {
    if (remote_dom == DOMID_SELF) remote_dom = self_;
    std::shared_ptr<EventChannels> remote =
        remote_dom == self_ ? shared_from_this() : registry_.find(remote_dom);
    if (!remote) return -XEN_ESRCH;

    std::unique_lock<std::mutex> l1(mu_, std::defer_lock);
    std::unique_lock<std::mutex> l2(remote->mu_, std::defer_lock);
    if (remote.get() == this)
        l1.lock();
    else
        std::lock(l1, l2);

    Port lport = 0;
    if (long rc = get_free_port(&lport); rc) return rc;
    if (!remote->port_valid(remote_port)) return -XEN_EINVAL;
    Channel& rc = remote->channels_[remote_port];
    if (rc.state != ChannelState::unbound || rc.remote_dom != self_) return -XEN_EINVAL;
    if (remote.get() == this && remote_port == lport) return -XEN_EINVAL;

    Channel& lc = channels_[lport];
    lc = Channel{};
    lc.state = ChannelState::interdomain;
    lc.remote_dom = remote_dom;
    lc.remote_port = remote_port;
    rc.state = ChannelState::interdomain;
    rc.remote_dom = self_;
    rc.remote_port = lport;
    init_port(lport);

    // Notifications sent to the remote unbound port were dropped; Xen sets
    // the new local port pending so the binder rechecks its rings.
    deliver_locked(lport);
    *local_port = lport;
    return 0;
}

long EventChannels::bind_virq(unsigned virq, unsigned vcpu, Port* port) {
    if (virq >= NR_VIRQS) return -XEN_EINVAL;
    if (virq_is_global(virq) && vcpu != 0) return -XEN_EINVAL;
    std::lock_guard lock(mu_);
    if (vcpu >= virq_to_port_.size()) return -XEN_ENOENT;
    if (virq_to_port_[vcpu][virq] != 0) return -XEN_EEXIST;
    Port p = 0;
    if (long rc = get_free_port(&p); rc) return rc;
    Channel& c = channels_[p];
    c = Channel{};
    c.state = ChannelState::virq;
    c.virq = virq;
    c.notify_vcpu = vcpu;
    virq_to_port_[vcpu][virq] = p;
    init_port(p);
    *port = p;
    return 0;
}

long EventChannels::bind_ipi(unsigned vcpu, Port* port) {
    std::lock_guard lock(mu_);
    if (vcpu >= virq_to_port_.size()) return -XEN_ENOENT;
    Port p = 0;
    if (long rc = get_free_port(&p); rc) return rc;
    Channel& c = channels_[p];
    c = Channel{};
    c.state = ChannelState::ipi;
    c.notify_vcpu = vcpu;
    init_port(p);
    *port = p;
    return 0;
}

long EventChannels::close(Port port) {
    std::unique_lock<std::mutex> lock(mu_);
    return close_locked(port, lock);
}

// Called with mu_ held through `lock`; may drop and retake it to lock the
// peer's table in a deadlock-free order.
long EventChannels::close_locked(Port port, std::unique_lock<std::mutex>& lock) {
    if (!port_valid(port)) return -XEN_EINVAL;
    Channel& c = channels_[port];
    switch (c.state) {
        case ChannelState::free:
        case ChannelState::reserved:
            return -XEN_EINVAL;
        case ChannelState::unbound:
        case ChannelState::ipi:
            break;
        case ChannelState::virq:
            if (c.notify_vcpu < virq_to_port_.size())
                virq_to_port_[c.notify_vcpu][c.virq] = 0;
            break;
        case ChannelState::interdomain: {
            const domid_t rdom = c.remote_dom;
            const Port rport = c.remote_port;
            std::shared_ptr<EventChannels> remote =
                rdom == self_ ? shared_from_this() : registry_.find(rdom);
            if (remote && remote.get() != this) {
                lock.unlock();
                const long rc = close_interdomain(port, rdom, rport, *remote);
                lock.lock();
                return rc;
            }
            if (remote.get() == this && port_valid(rport)) {
                Channel& rc = channels_[rport];
                if (rc.state == ChannelState::interdomain && rc.remote_port == port) {
                    rc.state = ChannelState::unbound;
                    rc.remote_dom = self_;
                    rc.remote_port = 0;
                }
            }
            break;
        }
    }
    if (EventDelivery* d = delivery()) d->clear_pending(*target_, port);
    channels_[port] = Channel{};
    return 0;
}

// Closes our end of an interdomain channel to another table, returning the
// peer's end to unbound. Takes both locks; the caller holds neither.
long EventChannels::close_interdomain(Port port, domid_t rdom, Port rport,
                                      EventChannels& remote) {
    std::scoped_lock both(mu_, remote.mu_);
    Channel& c = channels_[port];
    if (c.state != ChannelState::interdomain || c.remote_dom != rdom || c.remote_port != rport)
        return -XEN_EINVAL;  // raced with another close
    Channel& rc = remote.channels_[rport];
    if (rc.state == ChannelState::interdomain && rc.remote_dom == self_ &&
        rc.remote_port == port) {
        rc.state = ChannelState::unbound;
        rc.remote_dom = self_;
        rc.remote_port = 0;
        rc.host_handler = nullptr;
    }
    if (EventDelivery* d = delivery()) d->clear_pending(*target_, port);
    channels_[port] = Channel{};
    return 0;
}

long EventChannels::send(Port port) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!port_valid(port)) return -XEN_EINVAL;
    Channel& c = channels_[port];
    switch (c.state) {
        case ChannelState::unbound:
            return 0;  // nobody listening yet: dropped, as on Xen
        case ChannelState::ipi:
            deliver_locked(port);
            return 0;
        case ChannelState::interdomain: {
            const domid_t rdom = c.remote_dom;
            const Port rport = c.remote_port;
            if (rdom == self_) {
                if (port_valid(rport)) deliver_locked(rport);
                return 0;
            }
            lock.unlock();
            if (auto remote = registry_.find(rdom)) remote->notify_from_peer(rport);
            return 0;
        }
        default:
            return -XEN_EINVAL;
    }
}

void EventChannels::notify_from_peer(Port port) {
    HostHandler handler;
    {
        std::lock_guard lock(mu_);
        if (!port_valid(port) || channels_[port].state != ChannelState::interdomain) return;
        if (!target_) {
            handler = channels_[port].host_handler;  // the host's table
        } else {
            deliver_locked(port);
            return;
        }
    }
    if (handler) handler(port);
}

long EventChannels::status(evtchn_status_t& st) {
    std::lock_guard lock(mu_);
    // Port 0 is valid (reserved) and reports "closed", as on Xen.
    if (st.port >= channels_.size()) return -XEN_EINVAL;
    const Channel& c = channels_[st.port];
    st.vcpu = c.notify_vcpu;
    switch (c.state) {
        case ChannelState::free:
        case ChannelState::reserved:
            st.status = EVTCHNSTAT_closed;
            break;
        case ChannelState::unbound:
            st.status = EVTCHNSTAT_unbound;
            st.u.unbound.dom = c.remote_dom;
            break;
        case ChannelState::interdomain:
            st.status = EVTCHNSTAT_interdomain;
            st.u.interdomain.dom = c.remote_dom;
            st.u.interdomain.port = c.remote_port;
            break;
        case ChannelState::virq:
            st.status = EVTCHNSTAT_virq;
            st.u.virq = c.virq;
            break;
        case ChannelState::ipi:
            st.status = EVTCHNSTAT_ipi;
            break;
    }
    return 0;
}

long EventChannels::bind_vcpu(Port port, unsigned vcpu) {
    std::lock_guard lock(mu_);
    if (!port_valid(port)) return -XEN_EINVAL;
    if (vcpu >= virq_to_port_.size()) return -XEN_ENOENT;
    Channel& c = channels_[port];
    switch (c.state) {
        case ChannelState::virq:
            if (!virq_is_global(c.virq)) return -XEN_EINVAL;  // per-vCPU VIRQs stay put
            // The VIRQ table is indexed by the bound vCPU: move the entry.
            virq_to_port_[c.notify_vcpu][c.virq] = 0;
            virq_to_port_[vcpu][c.virq] = port;
            c.notify_vcpu = vcpu;
            return 0;
        case ChannelState::unbound:
        case ChannelState::interdomain:
            c.notify_vcpu = vcpu;
            return 0;
        default:
            return -XEN_EINVAL;  // IPIs are bound to their vCPU for life
    }
}

long EventChannels::unmask(Port port) {
    std::lock_guard lock(mu_);
    if (port >= channels_.size()) return -XEN_EINVAL;  // port 0 exists (reserved)
    const Channel& c = channels_[port];
    if (!usable(c)) return 0;  // Xen's evtchn_port_unmask ignores closed ports
    if (EventDelivery* d = delivery()) d->unmask(*target_, port, c.notify_vcpu);
    return 0;
}

long EventChannels::init_control(std::uint64_t control_gfn, std::uint32_t offset, unsigned vcpu,
                                 std::uint8_t* link_bits) {
    std::lock_guard lock(mu_);
    if (!delivery()) return -XEN_ENOSYS;  // the host's table, or a dying domain
    if (!fifo_) fifo_ = std::make_unique<FifoDelivery>(target_->max_vcpus());
    const bool switching = !fifo_active();
    if (long rc = fifo_->init_control(*target_, vcpu, control_gfn, offset); rc) return rc;
    if (switching) switch_to_fifo_locked();
    *link_bits = EVTCHN_FIFO_LINK_BITS;
    return 0;
}

// Xen's setup_ports: every bound port gets the default priority, and a
// pending 2-level event moves over. There is no event array yet, so the
// FIFO side only remembers it; expand_array raises it with its page.
void EventChannels::switch_to_fifo_locked() {
    EventDelivery* old = delivery();
    for (Port p = 1; p < channels_.size(); ++p) {
        if (!usable(channels_[p])) continue;
        fifo_->init_port(*target_, p);
        if (old->is_pending(*target_, p)) {
            old->clear_pending(*target_, p);
            fifo_->set_pending(*target_, p, channels_[p].notify_vcpu);
        }
    }
    use_delivery(fifo_.get());
}

long EventChannels::expand_array(std::uint64_t array_gfn) {
    std::lock_guard lock(mu_);
    if (!fifo_active()) return -XEN_EOPNOTSUPP;  // Xen 4.17 evtchn_fifo_expand_array
    Port first = 0, end = 0;
    if (long rc = fifo_->expand_array(*target_, array_gfn, &first, &end); rc) return rc;
    // Events raised while these ports had no event word are raised now.
    for (Port p = first; p < end && p < channels_.size(); ++p)
        if (usable(channels_[p]) && fifo_->take_deferred(p)) deliver_locked(p);
    return 0;
}

long EventChannels::set_priority(Port port, unsigned priority) {
    std::lock_guard lock(mu_);
    // Xen's order: a port beyond the table, then an ABI without
    // priorities, then a port that is not bound (port 0 is reserved).
    if (port >= channels_.size()) return -XEN_EINVAL;
    if (!fifo_active()) return -XEN_ENOSYS;
    if (!usable(channels_[port])) return -XEN_EACCES;
    return fifo_->set_priority(port, priority);
}

long EventChannels::reset() {
    std::unique_lock<std::mutex> lock(mu_);
    if (resetting_) return -XEN_EBUSY;
    resetting_ = true;
    // close_locked may drop the lock to take a peer's: re-read the size.
    for (Port p = 1; p < channels_.size(); ++p)
        if (usable(channels_[p])) close_locked(p, lock);
    resetting_ = false;
    for (Port p = 1; p < channels_.size(); ++p)
        if (usable(channels_[p])) return -XEN_EAGAIN;  // bound meanwhile, as Xen
    if (fifo_active()) {
        fifo_->reset();
        use_delivery(base_.get());
        // Every port is free: the table shrinks to what 2-level addresses.
        channels_.resize(std::min<std::size_t>(channels_.size(), max_ports()));
    }
    return 0;
}

bool EventChannels::fifo_active() const {
    EventDelivery* d = delivery();
    return d && d != base_.get();
}

bool EventChannels::poll_pending(Port port) const {
    EventDelivery* d = delivery();
    return d && target_ && d->is_pending(*target_, port);
}

long EventChannels::bind_host(EventChannels& guest, Port guest_port, HostHandler handler,
                              Port* local_port) {
    EventChannels* remote = &guest;
    std::scoped_lock both(mu_, remote->mu_);
    Port lport = 0;
    if (long rc = get_free_port(&lport); rc) return rc;
    if (!remote->port_valid(guest_port)) return -XEN_EINVAL;
    Channel& rc = remote->channels_[guest_port];
    if (rc.state != ChannelState::unbound || rc.remote_dom != self_) return -XEN_EINVAL;
    Channel& lc = channels_[lport];
    lc = Channel{};
    lc.state = ChannelState::interdomain;
    lc.remote_dom = guest.self_;
    lc.remote_port = guest_port;
    lc.host_handler = std::move(handler);
    rc.state = ChannelState::interdomain;
    rc.remote_dom = self_;
    rc.remote_port = lport;
    *local_port = lport;
    return 0;
}

void EventChannels::raise_virq(unsigned vcpu, unsigned virq) {
    std::lock_guard lock(mu_);
    if (virq >= NR_VIRQS) return;
    if (virq_is_global(virq)) {
        // A global VIRQ is raised wherever bind_vcpu moved it.
        for (auto& per_vcpu : virq_to_port_)
            if (Port p = per_vcpu[virq]; p != 0) deliver_locked(p);
        return;
    }
    if (vcpu >= virq_to_port_.size()) return;
    if (Port p = virq_to_port_[vcpu][virq]; p != 0) deliver_locked(p);
}

// The deliveries stay allocated (lock-free readers may hold one); only
// the active pointer goes, and every use of target_ checks it.
void EventChannels::detach_target() {
    std::lock_guard lock(mu_);
    active_.store(nullptr, std::memory_order_release);
}

void EventChannels::close_all() {
    std::unique_lock<std::mutex> lock(mu_);
    for (Port p = 1; p < channels_.size(); ++p) {
        const ChannelState s = channels_[p].state;
        if (s != ChannelState::free && s != ChannelState::reserved) close_locked(p, lock);
    }
}

}  // namespace xenolith::evtchn
