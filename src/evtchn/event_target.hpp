// What event delivery needs from a domain: its shared_info and vcpu_info
// pages and their layout, and a way to raise the upcall. Implemented by
// domain::Domain and by fakes in tests.
#pragma once

#include <cstdint>

extern "C" {
#include <xen/xen.h>
}

#include "evtchn/shared_info_layout.hpp"

namespace xenolith::evtchn {

class EventTarget {
public:
    virtual ~EventTarget() = default;

    virtual domid_t domid() const = 0;
    virtual unsigned max_vcpus() const = 0;
    // The current shared_info: the guest's frame once it has mapped one,
    // the domain's own page before that. Never null. Stable while the
    // domain's event lock is held.
    virtual shared_info_t* shared_info() = 0;
    // The vCPU's vcpu_info (registered area or its slot in shared_info), or
    // null when the vCPU has none (id >= XEN_LEGACY_MAX_VCPUS, unregistered).
    virtual vcpu_info_t* vcpu_info(unsigned vcpu) = 0;
    // Which layout shared_info and vcpu_info have (Xen's has_32bit_shinfo).
    // Changes only with the domain's event lock held.
    virtual SharedInfoLayout shared_info_layout() const { return SharedInfoLayout::native64; }
    // evtchn_upcall_pending went 0 -> 1 on `vcpu`: inject its callback.
    virtual void raise_upcall(unsigned vcpu) = 0;
    // `port` became pending (masked or not): wake vCPUs in SCHEDOP_poll.
    virtual void notify_pollers(unsigned port) { (void)port; }
    // Host mapping of one guest frame (RAM or a page the guest mapped), or
    // null when the frame is not backed. Stable for the domain's lifetime.
    // Used by ABIs whose state lives in guest frames (FIFO control blocks
    // and event arrays).
    virtual std::uint8_t* guest_frame(std::uint64_t gfn) { (void)gfn; return nullptr; }
};

}  // namespace xenolith::evtchn
