// The per-ABI part of event channels: how a pending event is recorded and
// signalled. 2-level (two_level.cpp) and FIFO (fifo.cpp) are the two
// implementations (as Xen's evtchn_port_ops).
//
// Every call is made with the owning table's lock held, except is_pending
// and is_masked, which may also run without it (SCHEDOP_poll) and must
// therefore be safe for any port number and read only guest memory.
#pragma once

#include <cstdint>

#include "evtchn/event_target.hpp"

namespace xenolith::evtchn {

using Port = std::uint32_t;

class EventDelivery {
public:
    virtual ~EventDelivery() = default;

    // How many ports the ABI can address for this guest now (2-level:
    // depends on the shared_info layout, which the guest may latch anew).
    virtual unsigned port_limit(EventTarget& t) const = 0;
    // `port` was just bound (Xen's evtchn_port_init): reset its ABI state.
    virtual void init_port(EventTarget& t, Port port) { (void)t; (void)port; }
    virtual void set_pending(EventTarget& t, Port port, unsigned vcpu) = 0;
    virtual void clear_pending(EventTarget& t, Port port) = 0;
    virtual bool is_pending(EventTarget& t, Port port) = 0;
    virtual bool is_masked(EventTarget& t, Port port) = 0;
    // Clears the mask and, if the event is pending, signals `vcpu`.
    virtual void unmask(EventTarget& t, Port port, unsigned vcpu) = 0;
    // A closed port the guest may still reach (FIFO: still LINKED on a
    // queue) is not handed out again until it is not (Xen's is_busy).
    virtual bool is_busy(EventTarget& t, Port port) { (void)t; (void)port; return false; }
};

}  // namespace xenolith::evtchn
