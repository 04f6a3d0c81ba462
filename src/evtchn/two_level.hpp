// 2-level event channels: pending and mask bitmaps in shared_info, a
// selector word per vCPU in vcpu_info. The words are 64 or 32 bits and
// sit where the domain's shared_info layout puts them (shared_info_layout.hpp):
// 4096 ports in the native layout, 1024 in the compat one.
#pragma once

#include "evtchn/event_delivery.hpp"

namespace xenolith::evtchn {

class TwoLevelDelivery final : public EventDelivery {
public:
    unsigned port_limit(EventTarget& t) const override;
    void set_pending(EventTarget& t, Port port, unsigned vcpu) override;
    void clear_pending(EventTarget& t, Port port) override;
    bool is_pending(EventTarget& t, Port port) override;
    bool is_masked(EventTarget& t, Port port) override;
    void unmask(EventTarget& t, Port port, unsigned vcpu) override;
};

}  // namespace xenolith::evtchn
