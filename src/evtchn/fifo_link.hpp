// The one step of the FIFO queue protocol that races with the guest:
// pointing the tail event's link at a new event while the guest may be
// consuming that tail. Header-only so tests can play the guest between our
// read and our compare-exchange (the `cas` parameter).
#pragma once

#include <cstdint>

extern "C" {
#include <xen/event_channel.h>
}

namespace xenolith::evtchn::fifo_link {

constexpr std::uint32_t kLinked = std::uint32_t{1} << EVTCHN_FIFO_LINKED;
constexpr std::uint32_t kBusy = std::uint32_t{1} << EVTCHN_FIFO_BUSY;

// With BUSY set the guest may still set MASKED, clear PENDING and clear
// LINKED; each changes the word at most once, so a well-behaved guest
// cannot make this many compare-exchanges fail (Xen's bound).
constexpr unsigned kRetries = 4;

// The real compare-exchange on guest memory.
inline bool atomic_cas(std::uint32_t* word, std::uint32_t* expected, std::uint32_t desired) {
    return __atomic_compare_exchange_n(word, expected, desired, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

// Sets `tail`'s link to `port` iff the tail is still LINKED (the guest has
// not consumed it). Returns false when it was not linked: the queue is
// empty and `port` must become its head. After the first failed attempt
// BUSY is set so the guest cannot unmask meanwhile; it is cleared on every
// way out. A guest that keeps changing the word anyway is given up on
// after kRetries more attempts and the event counts as linked (as Xen):
// that guest loses the event, nobody else is affected.
template <class Cas>
bool link_after(std::uint32_t* tail, std::uint32_t port, Cas&& cas) {
    std::uint32_t old = __atomic_load_n(tail, __ATOMIC_SEQ_CST);
    bool busy = false;
    for (unsigned attempt = 0; attempt <= kRetries; ++attempt) {
        if (!(old & kLinked)) {
            if (busy) __atomic_fetch_and(tail, ~kBusy, __ATOMIC_SEQ_CST);
            return false;
        }
        const std::uint32_t fresh = (old & ~(kBusy | EVTCHN_FIFO_LINK_MASK)) | port;
        if (cas(tail, &old, fresh)) return true;  // also clears the BUSY we set
        if (!busy) {
            old = __atomic_fetch_or(tail, kBusy, __ATOMIC_SEQ_CST) | kBusy;
            busy = true;
        }
    }
    __atomic_fetch_and(tail, ~kBusy, __ATOMIC_SEQ_CST);
    return true;
}

}  // namespace xenolith::evtchn::fifo_link
