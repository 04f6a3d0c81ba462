// A domain's event-channel table: port allocation, the binding kinds
// (unbound, interdomain, VIRQ, IPI) and the EVTCHNOP semantics of Xen's
// common/event_channel.c. The way a pending event reaches the guest is the
// EventDelivery's business: 2-level (given at construction) until the
// guest's first EVTCHNOP_init_control switches the table to FIFO, and
// back to 2-level on EVTCHNOP_reset, as Xen does. Both deliveries live as
// long as the table, so a lock-free reader holding the old one is safe.
//
// Domain 0 (the host) has a table too, with no EventTarget: its ports are
// bound to in-process back-ends, whose handler runs when the guest notifies.
//
// Locking: each table has one mutex. Operations that touch two tables lock
// both with std::scoped_lock (deadlock-free); a send to another domain
// releases the sender's lock before taking the receiver's. The delivery in
// use changes only under the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

extern "C" {
#include <xen/event_channel.h>
}

#include "evtchn/event_delivery.hpp"
#include "evtchn/fifo.hpp"

namespace xenolith::evtchn {

class EventChannels;

// Xen's get_virq_type: VIRQs bound per vCPU (timer, debug, xenoprof,
// xenpmu) and the global ones, bound on vCPU 0 and sent to one domain.
bool virq_is_global(unsigned virq);

// Finds another domain's table for interdomain binding and sending.
class Registry {
public:
    virtual ~Registry() = default;
    virtual std::shared_ptr<EventChannels> find(domid_t domid) = 0;
};

using HostHandler = std::function<void(Port local_port)>;

enum class ChannelState : std::uint8_t { free, reserved, unbound, interdomain, virq, ipi };

struct Channel {
    ChannelState state = ChannelState::free;
    unsigned notify_vcpu = 0;
    domid_t remote_dom = 0;   // unbound: who may bind; interdomain: the peer
    Port remote_port = 0;     // interdomain
    unsigned virq = 0;        // virq
    HostHandler host_handler; // host table only
};

class EventChannels : public std::enable_shared_from_this<EventChannels> {
public:
    // `target` and `delivery` are null for the host's (domain 0's) table.
    EventChannels(domid_t self, EventTarget* target, std::unique_ptr<EventDelivery> delivery,
                  Registry& registry, unsigned max_ports);
    ~EventChannels();

    domid_t domid() const { return self_; }
    std::mutex& mutex() { return mu_; }

    // EVTCHNOP_* as issued by this domain. Each returns 0 or -XEN_Exxx and
    // fills its out-parameters only on success.
    long alloc_unbound(domid_t remote_dom, Port* port);
    long bind_interdomain(domid_t remote_dom, Port remote_port, Port* local_port);
    long bind_virq(unsigned virq, unsigned vcpu, Port* port);
    long bind_ipi(unsigned vcpu, Port* port);
    long close(Port port);
    long send(Port port);
    long status(evtchn_status_t& st);
    long unmask(Port port);
    long bind_vcpu(Port port, unsigned vcpu);

    // The FIFO ABI. The first init_control switches the domain to FIFO:
    // bound ports keep working, their pending 2-level events are raised
    // again once the event-array page covering them is added.
    long init_control(std::uint64_t control_gfn, std::uint32_t offset, unsigned vcpu,
                      std::uint8_t* link_bits);
    long expand_array(std::uint64_t array_gfn);
    long set_priority(Port port, unsigned priority);
    // EVTCHNOP_reset on this domain: closes every port and returns to the
    // 2-level ABI. -EAGAIN if ports were bound meanwhile, -EBUSY while
    // another reset runs.
    long reset();
    bool fifo_active() const;

    // Whether `port` is pending (masked or not), for SCHEDOP_poll. Takes no
    // lock: its caller holds Vcpu::mu_, which nests inside the event lock.
    // The caller keeps the domain alive.
    bool poll_pending(Port port) const;

    // Host side: bind a back-end to `guest`'s unbound port (the guest's
    // remote_dom must be this table's domain). The handler runs on the
    // notifying vCPU's thread, with no event lock held.
    long bind_host(EventChannels& guest, Port guest_port, HostHandler handler, Port* local_port);

    // Raise a VIRQ bound on `vcpu` (global VIRQs are bound on vCPU 0).
    void raise_virq(unsigned vcpu, unsigned virq);

    // Closes every channel (domain destruction): peers' interdomain channels
    // fall back to unbound, as in Xen.
    void close_all();

    // Ports the current ABI allows (max_event_channels + 1, capped by it):
    // read live, as the 2-level limit follows the domain's shared_info
    // layout (Xen's max_evtchns). Ports already bound beyond a limit that
    // shrank stay bound; new ones are not handed out there (-ENOSPC).
    unsigned max_ports() const;

    // The domain is going away: later deliveries (timers in flight, peers)
    // become no-ops instead of touching it.
    void detach_target();

private:
    bool port_valid(Port p) const { return p != 0 && p < channels_.size(); }
    static bool usable(const Channel& c) {
        return c.state != ChannelState::free && c.state != ChannelState::reserved;
    }
    EventDelivery* delivery() const { return active_.load(std::memory_order_acquire); }
    void use_delivery(EventDelivery* d);
    long get_free_port(Port* port);
    void init_port(Port port);
    void deliver_locked(Port port);
    void switch_to_fifo_locked();
    long close_locked(Port port, std::unique_lock<std::mutex>& lock);
    long close_interdomain(Port port, domid_t rdom, Port rport, EventChannels& remote);
    void notify_from_peer(Port port);

    const domid_t self_;
    EventTarget* const target_;  // never changes: lock-free readers use it
    const std::unique_ptr<EventDelivery> base_;  // the 2-level ABI
    std::unique_ptr<FifoDelivery> fifo_;         // made by the first init_control
    std::atomic<EventDelivery*> active_;         // base_, fifo_ or null (detached)
    Registry& registry_;
    const unsigned requested_ports_;

    std::mutex mu_;
    bool resetting_ = false;
    std::vector<Channel> channels_;                    // grows in buckets
    std::vector<std::vector<Port>> virq_to_port_;      // [vcpu][virq]
};

}  // namespace xenolith::evtchn
