#include <cstdint>
#include <algorithm>
#include <utility>

#include "base/log.hpp"
#include "evtchn/fifo.hpp"
#include "evtchn/fifo_link.hpp"

extern "C" {
#include <xen/errno.h>
}

namespace xenolith::evtchn {
namespace {

constexpr std::uint32_t kPageSize = 4096;
constexpr event_word_t kPending = event_word_t{1} << EVTCHN_FIFO_PENDING;
constexpr event_word_t kMasked = event_word_t{1} << EVTCHN_FIFO_MASKED;
constexpr event_word_t kLinked = fifo_link::kLinked;

// Event words and control blocks are guest memory the guest changes
// concurrently: every access is atomic, as the guest's own are.
bool test_and_set(std::uint32_t* w, std::uint32_t m) {
    return __atomic_fetch_or(w, m, __ATOMIC_SEQ_CST) & m;
}
void clear_bits(std::uint32_t* w, std::uint32_t m) { __atomic_fetch_and(w, ~m, __ATOMIC_SEQ_CST); }
bool test(const std::uint32_t* w, std::uint32_t m) { return __atomic_load_n(w, __ATOMIC_SEQ_CST) & m; }

}  // namespace

FifoDelivery::FifoDelivery(unsigned max_vcpus) : vcpus_(std::max(max_vcpus, 1u)) {}

// The same for either shared_info layout: FIFO state lives in its own
// guest pages, and vcpu_info's upcall flag is at +0 in both.
unsigned FifoDelivery::port_limit(EventTarget&) const { return EVTCHN_FIFO_NR_CHANNELS; }

// Readers without the table's lock see the page pointer before the count
// that covers it (expand_array publishes in that order, reset undoes it in
// the reverse one).
event_word_t* FifoDelivery::word(Port port) const {
    if (port >= nr_words_.load(std::memory_order_acquire)) return nullptr;
    event_word_t* page = pages_[port / kWordsPerPage].load(std::memory_order_acquire);
    return page ? page + port % kWordsPerPage : nullptr;
}

FifoDelivery::PortState& FifoDelivery::state(Port port) {
    if (port >= ports_.size()) ports_.resize(std::size_t{port} + 1);
    return ports_[port];
}

bool FifoDelivery::has_control_block(unsigned vcpu) const {
    return vcpu < vcpus_.size() && vcpus_[vcpu].control != nullptr;
}

void FifoDelivery::init_port(EventTarget&, Port port) {
    PortState& s = state(port);
    s.priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    s.deferred = false;
}

void FifoDelivery::set_pending(EventTarget& t, Port port, unsigned vcpu) {
    PortState& s = state(port);
    event_word_t* w = word(port);
    if (!w) {
        s.deferred = true;  // raised when expand_array adds its page
        return;
    }
    if (!has_control_block(vcpu)) {
        // As Xen 4.17: the guest may not unmask an event before the vCPU
        // has a control block, so the event is dropped, not even pending.
        if (!std::exchange(warned_no_control_, true))
            log::warn("d{}: event on port {} for vCPU {}, which has no FIFO control block, "
                      "dropped", t.domid(), port, vcpu);
        return;
    }
    VcpuQueues& v = vcpus_[vcpu];
    const bool was_pending = test_and_set(w, kPending);
    const unsigned prio = s.priority;
    bool new_head = false;
    if (!test(w, kMasked) && !test_and_set(w, kLinked)) {
        // The guest has unlinked the event since it was last queued. If it
        // was that queue's tail, that queue is empty now: never link after
        // it there again (it may be about to join another queue).
        Port& old_tail = vcpus_[s.last_vcpu].tail[s.last_priority];
        if (old_tail == port) old_tail = 0;
        s.last_vcpu = static_cast<std::uint16_t>(vcpu);
        s.last_priority = static_cast<std::uint8_t>(prio);

        Port& tail = v.tail[prio];
        event_word_t* tail_word = tail ? word(tail) : nullptr;
        if (!tail_word || !fifo_link::link_after(tail_word, port, fifo_link::atomic_cas)) {
            // The queue was empty (its tail consumed): the event is its head.
            __atomic_store_n(&v.control->head[prio], port, __ATOMIC_SEQ_CST);
            new_head = true;
        }
        tail = port;
    }
    if (new_head && !test_and_set(&v.control->ready, std::uint32_t{1} << prio))
        mark_vcpu_pending(t, vcpu);
    if (!was_pending) t.notify_pollers(port);  // SCHEDOP_poll wakes even if masked
}

void FifoDelivery::mark_vcpu_pending(EventTarget& t, unsigned vcpu) {
    vcpu_info_t* vi = t.vcpu_info(vcpu);
    if (!vi) return;  // the ready bit stays set for when the guest looks
    if (__atomic_exchange_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST) == 0)
        t.raise_upcall(vcpu);
}

void FifoDelivery::clear_pending(EventTarget&, Port port) {
    // Only PENDING: the guest unlinks and skips events that are not pending.
    if (event_word_t* w = word(port)) clear_bits(w, kPending);
    if (port < ports_.size()) ports_[port].deferred = false;
}

bool FifoDelivery::is_pending(EventTarget&, Port port) {
    const event_word_t* w = word(port);
    return w && test(w, kPending);
}

bool FifoDelivery::is_masked(EventTarget&, Port port) {
    const event_word_t* w = word(port);
    return !w || test(w, kMasked);
}

bool FifoDelivery::is_busy(EventTarget&, Port port) {
    const event_word_t* w = word(port);
    return w && test(w, kLinked);
}

void FifoDelivery::unmask(EventTarget& t, Port port, unsigned vcpu) {
    event_word_t* w = word(port);
    if (!w) return;
    clear_bits(w, kMasked);
    if (test(w, kPending)) set_pending(t, port, vcpu);  // link it now
}

long FifoDelivery::init_control(EventTarget& t, unsigned vcpu, std::uint64_t gfn,
                                std::uint32_t offset) {
    if (vcpu >= vcpus_.size()) return -XEN_ENOENT;
    // The block must not cross the page end and must be 8-byte aligned.
    if (offset > kPageSize - sizeof(evtchn_fifo_control_block_t)) return -XEN_EINVAL;
    if (offset % 8) return -XEN_EINVAL;
    if (vcpus_[vcpu].control) return -XEN_EINVAL;  // once per vCPU
    std::uint8_t* page = t.guest_frame(gfn);
    if (!page) return -XEN_EINVAL;
    vcpus_[vcpu] = VcpuQueues{};
    vcpus_[vcpu].control = reinterpret_cast<evtchn_fifo_control_block_t*>(page + offset);
    return 0;
}

long FifoDelivery::expand_array(EventTarget& t, std::uint64_t gfn, Port* first, Port* end) {
    const unsigned words = nr_words_.load(std::memory_order_relaxed);
    const unsigned slot = words / kWordsPerPage;
    if (slot >= kMaxArrayPages) return -XEN_ENOSPC;
    std::uint8_t* page = t.guest_frame(gfn);
    if (!page) return -XEN_EINVAL;
    pages_[slot].store(reinterpret_cast<event_word_t*>(page), std::memory_order_release);
    nr_words_.store(words + kWordsPerPage, std::memory_order_release);
    *first = words;
    *end = words + kWordsPerPage;
    return 0;
}

long FifoDelivery::set_priority(Port port, unsigned priority) {
    if (priority > EVTCHN_FIFO_PRIORITY_MIN) return -XEN_EINVAL;
    // Only later queueing uses it: an event already linked stays put.
    state(port).priority = static_cast<std::uint8_t>(priority);
    return 0;
}

bool FifoDelivery::take_deferred(Port port) {
    return port < ports_.size() && std::exchange(ports_[port].deferred, false);
}

void FifoDelivery::reset() {
    nr_words_.store(0, std::memory_order_release);
    for (auto& p : pages_) p.store(nullptr, std::memory_order_release);
    for (auto& v : vcpus_) v = VcpuQueues{};
    ports_.clear();
    warned_no_control_ = false;
}

}  // namespace xenolith::evtchn
