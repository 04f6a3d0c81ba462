// 2-level event channels: pending and mask bitmaps in shared_info, a
// selector word per vCPU in vcpu_info.
#pragma once

#include "evtchn/event_delivery.hpp"

namespace xenolith::evtchn {

class TwoLevelDelivery final : public EventDelivery {
public:
    unsigned port_limit() const override;
    void set_pending(EventTarget& t, Port port, unsigned vcpu) override;
    void clear_pending(EventTarget& t, Port port) override;
    bool is_pending(EventTarget& t, Port port) override;
    bool is_masked(EventTarget& t, Port port) override;
    void unmask(EventTarget& t, Port port, unsigned vcpu) override;
};

}  // namespace xenolith::evtchn
