// FIFO event channels (Xen's docs/misc FIFO design, public
// event_channel.h "FIFO ABI"): one 32-bit event word per port in guest
// "event array" pages (PENDING, MASKED, LINKED, BUSY and a 17-bit link),
// and per vCPU a control block in a guest frame holding a ready bitmap and
// the head of each of 16 priority queues.
//
// The guest consumes each queue from its head; we append at the tail we
// remember, by setting the old tail word's link with a bounded cmpxchg
// loop while it is still LINKED (fifo_link.hpp; BUSY keeps the guest from
// unmasking it meanwhile). A queue whose tail is no longer linked is empty: the event
// becomes its head and its ready bit is set; the bit's 0 -> 1 transition
// sets evtchn_upcall_pending and raises the upcall, as Xen does.
//
// We never follow the guest's links, so forged words, out-of-range links
// and loops only confuse the guest itself. Every pointer we keep was
// checked when the guest gave us the frame, and frames live as long as
// the domain.
//
// Locking: called with the owning EventChannels' lock held (so one table
// lock orders all queue updates), except is_pending/is_masked, which read
// the event array through atomics and may run without it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

extern "C" {
#include <xen/event_channel.h>
}

#include "evtchn/event_delivery.hpp"

namespace xenolith::evtchn {

class FifoDelivery final : public EventDelivery {
public:
    static constexpr unsigned kWordsPerPage = 4096 / sizeof(event_word_t);
    // Xen's EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES (a private Xen header).
    static constexpr unsigned kMaxArrayPages = EVTCHN_FIFO_NR_CHANNELS / kWordsPerPage;

    explicit FifoDelivery(unsigned max_vcpus);

    unsigned port_limit(EventTarget& t) const override;
    void init_port(EventTarget& t, Port port) override;
    void set_pending(EventTarget& t, Port port, unsigned vcpu) override;
    void clear_pending(EventTarget& t, Port port) override;
    bool is_pending(EventTarget& t, Port port) override;
    bool is_masked(EventTarget& t, Port port) override;
    void unmask(EventTarget& t, Port port, unsigned vcpu) override;
    bool is_busy(EventTarget& t, Port port) override;

    // EVTCHNOP_init_control for `vcpu`: 0, -ENOENT or -EINVAL (bad offset,
    // alignment, frame, or a vCPU that has its control block already).
    long init_control(EventTarget& t, unsigned vcpu, std::uint64_t gfn, std::uint32_t offset);
    // EVTCHNOP_expand_array: one more event-array page; on success the new
    // ports are [*first, *end). -ENOSPC when full, -EINVAL for a bad frame.
    long expand_array(EventTarget& t, std::uint64_t gfn, Port* first, Port* end);
    // EVTCHNOP_set_priority on a bound port: takes effect for the next
    // time the event is queued. -EINVAL above EVTCHN_FIFO_PRIORITY_MIN.
    long set_priority(Port port, unsigned priority);
    // An event raised while its event-array page was missing (or migrated
    // from 2-level) is remembered; this reports and forgets it.
    bool take_deferred(Port port);
    // Forget every control block and event-array page (EVTCHNOP_reset).
    void reset();

    bool has_control_block(unsigned vcpu) const;

private:
    struct VcpuQueues {
        evtchn_fifo_control_block_t* control = nullptr;  // in a guest frame
        std::array<Port, EVTCHN_FIFO_MAX_QUEUES> tail{};  // 0: none
    };
    // Xen keeps this in struct evtchn (priority, fifo_lastq, pending).
    struct PortState {
        std::uint8_t priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
        std::uint8_t last_priority = 0;  // the queue the event was last linked on
        std::uint16_t last_vcpu = 0;
        bool deferred = false;
    };

    event_word_t* word(Port port) const;
    PortState& state(Port port);
    void mark_vcpu_pending(EventTarget& t, unsigned vcpu);

    std::vector<VcpuQueues> vcpus_;
    std::vector<PortState> ports_;  // grows with the highest port seen
    std::array<std::atomic<event_word_t*>, kMaxArrayPages> pages_{};
    std::atomic<unsigned> nr_words_{0};  // published after the page pointer
    bool warned_no_control_ = false;
};

}  // namespace xenolith::evtchn
