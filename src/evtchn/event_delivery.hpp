// The per-ABI part of event channels: how a pending event is recorded and
// signalled. 2-level (two_level.cpp) is one implementation; FIFO is the
// other (as Xen's evtchn_port_ops).
#pragma once

#include <cstdint>

#include "evtchn/event_target.hpp"

namespace xenolith::evtchn {

using Port = std::uint32_t;

class EventDelivery {
public:
    virtual ~EventDelivery() = default;

    // Highest number of ports the ABI can address for this guest.
    virtual unsigned port_limit() const = 0;
    virtual void set_pending(EventTarget& t, Port port, unsigned vcpu) = 0;
    virtual void clear_pending(EventTarget& t, Port port) = 0;
    virtual bool is_pending(EventTarget& t, Port port) = 0;
    virtual bool is_masked(EventTarget& t, Port port) = 0;
    // Clears the mask and, if the event is pending, signals `vcpu`.
    virtual void unmask(EventTarget& t, Port port, unsigned vcpu) = 0;
};

}  // namespace xenolith::evtchn
