// A domain's event-channel table: port allocation, the binding kinds
// (unbound, interdomain, VIRQ, IPI) and the EVTCHNOP semantics of Xen's
// common/event_channel.c. The way a pending event reaches the guest is the
// EventDelivery's business (2-level or FIFO).
//
// Domain 0 (the host) has a table too, with no EventTarget: its ports are
// bound to in-process back-ends, whose handler runs when the guest notifies.
//
// Locking: each table has one mutex. Operations that touch two tables lock
// both with std::scoped_lock (deadlock-free); a send to another domain
// releases the sender's lock before taking the receiver's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

extern "C" {
#include <xen/event_channel.h>
}

#include "evtchn/event_delivery.hpp"

namespace xenolith::evtchn {

class EventChannels;

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

    // Host side: bind a back-end to `guest`'s unbound port (the guest's
    // remote_dom must be this table's domain). The handler runs on the
    // notifying vCPU's thread, with no event lock held.
    long bind_host(EventChannels& guest, Port guest_port, HostHandler handler, Port* local_port);

    // Raise a VIRQ bound on `vcpu` (global VIRQs are bound on vCPU 0).
    void raise_virq(unsigned vcpu, unsigned virq);

    // Closes every channel (domain destruction): peers' interdomain channels
    // fall back to unbound, as in Xen.
    void close_all();

    unsigned max_ports() const { return max_ports_; }

    // The domain is going away: later deliveries (timers in flight, peers)
    // become no-ops instead of touching it.
    void detach_target();

private:
    bool port_valid(Port p) const { return p != 0 && p < channels_.size(); }
    long get_free_port(Port* port);
    void deliver_locked(Port port);
    long close_locked(Port port, std::unique_lock<std::mutex>& lock);
    long close_interdomain(Port port, domid_t rdom, Port rport, EventChannels& remote);
    void notify_from_peer(Port port);

    const domid_t self_;
    EventTarget* target_;
    std::unique_ptr<EventDelivery> delivery_;
    Registry& registry_;
    const unsigned max_ports_;

    std::mutex mu_;
    std::vector<Channel> channels_;                    // grows in buckets
    std::vector<std::vector<Port>> virq_to_port_;      // [vcpu][virq]
};

}  // namespace xenolith::evtchn
