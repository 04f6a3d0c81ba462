// FIFO event channels: EVTCHNOP_init_control / expand_array / set_priority
// / reset semantics and the queue protocol, with a guest-side consumer that
// follows the public FIFO ABI (as Linux's events_fifo does).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
}

#include "evtchn/event_channels.hpp"
#include "evtchn/fifo_link.hpp"
#include "evtchn/two_level.hpp"
#include "fake_target.hpp"

namespace xenolith::evtchn {
namespace {

using test::FakeTarget;

constexpr std::uint32_t kPending = 1u << EVTCHN_FIFO_PENDING;
constexpr std::uint32_t kMasked = 1u << EVTCHN_FIFO_MASKED;
constexpr std::uint32_t kLinked = 1u << EVTCHN_FIFO_LINKED;
constexpr std::uint32_t kBusy = 1u << EVTCHN_FIFO_BUSY;

constexpr std::uint64_t kControlGfn = FakeTarget::kFirstGfn;      // vCPU 0 at 0, vCPU 1 at 512
constexpr std::uint64_t kArrayGfn = FakeTarget::kFirstGfn + 1;    // ports 0..1023
constexpr std::uint64_t kArrayGfn2 = FakeTarget::kFirstGfn + 2;   // ports 1024..2047

using Domains = test::FakeDomains;

// The guest's side of the ABI: its control blocks, its event array, and
// the consumer loop (bounded, so a broken queue fails the test instead of
// hanging it).
class FifoGuest {
public:
    explicit FifoGuest(FakeTarget& t) : t_(t) {}

    evtchn_fifo_control_block_t* control(unsigned v) {
        return reinterpret_cast<evtchn_fifo_control_block_t*>(t_.guest_frame(kControlGfn) +
                                                               512 * v);
    }
    std::uint32_t* word(Port p) {
        std::uint64_t gfn = kArrayGfn + p / 1024;
        if (p >= 2048) return nullptr;
        return reinterpret_cast<std::uint32_t*>(t_.guest_frame(gfn)) + p % 1024;
    }
    std::uint32_t load(Port p) { return __atomic_load_n(word(p), __ATOMIC_SEQ_CST); }
    void set(Port p, std::uint32_t bits) { __atomic_fetch_or(word(p), bits, __ATOMIC_SEQ_CST); }
    void clear(Port p, std::uint32_t bits) { __atomic_fetch_and(word(p), ~bits, __ATOMIC_SEQ_CST); }

    // Consume every ready queue, highest priority first; returns the ports
    // of the pending, unmasked events in delivery order.
    std::vector<Port> drain(unsigned v = 0) {
        std::vector<Port> out;
        evtchn_fifo_control_block_t* cb = control(v);
        t_.vcpu_info(v)->evtchn_upcall_pending = 0;
        // Like a careful guest, only look at the 16 queues that exist (a
        // hostile test may have scribbled on the other ready bits).
        constexpr std::uint32_t kQueues = (1u << EVTCHN_FIFO_MAX_QUEUES) - 1;
        std::uint32_t ready = __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST) & kQueues;
        for (int steps = 0; ready && steps < 10000; ++steps) {
            const unsigned q = static_cast<unsigned>(__builtin_ctz(ready));
            Port head = heads_[v][q] ? heads_[v][q] : __atomic_load_n(&cb->head[q], __ATOMIC_SEQ_CST);
            std::uint32_t* w = word(head);
            Port next = 0;
            if (w && head != 0) {
                std::uint32_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST);
                while (!__atomic_compare_exchange_n(w, &old,
                                                    old & ~(kLinked | EVTCHN_FIFO_LINK_MASK), false,
                                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                }
                next = old & EVTCHN_FIFO_LINK_MASK;
                if ((old & kPending) && !(old & kMasked)) {
                    clear(head, kPending);
                    out.push_back(head);
                }
            }
            heads_[v][q] = next;
            if (!next) ready &= ~(1u << q);
            ready |= __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST) & kQueues;
        }
        return out;
    }

    // Start over from the control block's heads (after a hostile test
    // scribbled over the queues).
    void forget_heads() {
        for (auto& per_vcpu : heads_)
            for (Port& h : per_vcpu) h = 0;
    }

private:
    FakeTarget& t_;
    Port heads_[2][EVTCHN_FIFO_MAX_QUEUES]{};
};

class FifoTest : public ::testing::Test {
protected:
    // Both control blocks and the first event-array page: FIFO fully on.
    void init_fifo() {
        std::uint8_t bits = 0;
        ASSERT_EQ(d1->init_control(kControlGfn, 0, 0, &bits), 0);
        ASSERT_EQ(bits, EVTCHN_FIFO_LINK_BITS);
        ASSERT_EQ(d1->init_control(kControlGfn, 512, 1, &bits), 0);
        ASSERT_EQ(d1->expand_array(kArrayGfn), 0);
    }
    Port ipi(unsigned vcpu = 0) {
        Port p = 0;
        EXPECT_EQ(d1->bind_ipi(vcpu, &p), 0);
        return p;
    }

    Domains reg;
    FakeTarget t1{1}, t2{2};
    std::shared_ptr<EventChannels> host = reg.add(0, nullptr);
    std::shared_ptr<EventChannels> d1 = reg.add(1, &t1);
    std::shared_ptr<EventChannels> d2 = reg.add(2, &t2);
    FifoGuest g{t1};
};

TEST_F(FifoTest, init_control_switches_the_domain_to_fifo_and_reports_17_link_bits) {
    EXPECT_FALSE(d1->fifo_active());
    std::uint8_t bits = 0;
    ASSERT_EQ(d1->init_control(kControlGfn, 0, 0, &bits), 0);
    EXPECT_EQ(bits, 17);
    EXPECT_TRUE(d1->fifo_active());
    EXPECT_FALSE(d2->fifo_active());
}

TEST_F(FifoTest, init_control_rejects_bad_vcpu_offset_alignment_frame_and_reinit) {
    std::uint8_t bits = 0;
    const std::uint32_t last_ok = 4096 - sizeof(evtchn_fifo_control_block_t);
    EXPECT_EQ(d1->init_control(kControlGfn, 0, 2, &bits), -XEN_ENOENT);
    EXPECT_EQ(d1->init_control(kControlGfn, last_ok + 8, 0, &bits), -XEN_EINVAL);
    EXPECT_EQ(d1->init_control(kControlGfn, 0xfffffff8u, 0, &bits), -XEN_EINVAL);
    EXPECT_EQ(d1->init_control(kControlGfn, 4, 0, &bits), -XEN_EINVAL);
    EXPECT_EQ(d1->init_control(0x5, 0, 0, &bits), -XEN_EINVAL);  // not a guest frame
    EXPECT_EQ(d1->init_control(~0ull, 0, 0, &bits), -XEN_EINVAL);
    EXPECT_FALSE(d1->fifo_active());  // failures leave the domain on 2-level
    ASSERT_EQ(d1->init_control(kControlGfn, last_ok, 0, &bits), 0);
    EXPECT_EQ(d1->init_control(kControlGfn, 0, 0, &bits), -XEN_EINVAL);  // once per vCPU
    EXPECT_EQ(d1->init_control(kControlGfn, 0, 1, &bits), 0);
}

TEST_F(FifoTest, expand_array_needs_fifo_a_frame_and_stops_at_128_pages) {
    EXPECT_EQ(d1->expand_array(kArrayGfn), -XEN_EOPNOTSUPP);
    std::uint8_t bits = 0;
    ASSERT_EQ(d1->init_control(kControlGfn, 0, 0, &bits), 0);
    EXPECT_EQ(d1->expand_array(0x5), -XEN_EINVAL);
    // Xen does not mind a frame added twice; the guest only hurts itself.
    for (unsigned i = 0; i < FifoDelivery::kMaxArrayPages; ++i)
        ASSERT_EQ(d1->expand_array(kArrayGfn), 0) << i;
    EXPECT_EQ(d1->expand_array(kArrayGfn), -XEN_ENOSPC);
}

TEST_F(FifoTest, events_are_delivered_by_priority_then_in_send_order_with_one_upcall) {
    init_fifo();
    const Port low = ipi(), high = ipi(), mid = ipi(), d = ipi(), e = ipi(), f = ipi();
    ASSERT_EQ(d1->set_priority(low, 10), 0);
    ASSERT_EQ(d1->set_priority(high, 3), 0);
    // mid, d, e, f keep EVTCHN_FIFO_PRIORITY_DEFAULT (7).
    for (Port p : {low, e, mid, high, f, d}) ASSERT_EQ(d1->send(p), 0);
    EXPECT_EQ(t1.upcalls[0], 1u);
    EXPECT_EQ(t1.vcpu_info(0)->evtchn_upcall_pending, 1);
    EXPECT_EQ(g.control(0)->ready, (1u << 3) | (1u << 7) | (1u << 10));
    EXPECT_EQ(g.drain(), (std::vector<Port>{high, e, mid, f, d, low}));
    EXPECT_EQ(t1.vcpu_info(0)->evtchn_pending_sel, 0u);  // FIFO leaves the 2-level selector alone
}

TEST_F(FifoTest, a_queue_whose_tail_was_consumed_starts_again_at_its_head) {
    init_fifo();
    const Port a = ipi(), b = ipi();
    d1->send(a);
    EXPECT_EQ(g.drain(), std::vector<Port>{a});
    d1->send(b);  // a is still our tail but no longer linked: b becomes the head
    EXPECT_EQ(g.control(0)->head[EVTCHN_FIFO_PRIORITY_DEFAULT], b);
    d1->send(a);
    EXPECT_EQ(g.load(b) & EVTCHN_FIFO_LINK_MASK, a);  // linked after b
    EXPECT_EQ(t1.upcalls[0], 2u);
    EXPECT_EQ(g.drain(), (std::vector<Port>{b, a}));
    EXPECT_EQ(g.load(a) & (kLinked | kBusy | kPending), 0u);
}

TEST_F(FifoTest, a_second_send_of_a_linked_event_queues_nothing) {
    init_fifo();
    const Port a = ipi();
    d1->send(a);
    d1->send(a);
    EXPECT_EQ(t1.upcalls[0], 1u);
    EXPECT_EQ(g.drain(), std::vector<Port>{a});
}

TEST_F(FifoTest, masked_events_stay_pending_and_unlinked_until_unmask) {
    init_fifo();
    const Port a = ipi();
    g.set(a, kMasked);
    ASSERT_EQ(d1->send(a), 0);
    EXPECT_EQ(g.load(a) & (kPending | kLinked), kPending);
    EXPECT_EQ(t1.upcalls[0], 0u);
    EXPECT_EQ(t1.poller_wakeups, 1u);  // SCHEDOP_poll still sees it
    EXPECT_TRUE(d1->poll_pending(a));
    ASSERT_EQ(d1->unmask(a), 0);
    EXPECT_EQ(g.load(a) & (kPending | kLinked | kMasked), kPending | kLinked);
    EXPECT_EQ(t1.upcalls[0], 1u);
    EXPECT_EQ(g.drain(), std::vector<Port>{a});
    EXPECT_FALSE(d1->poll_pending(a));
}

TEST_F(FifoTest, unmask_of_an_idle_event_raises_nothing) {
    init_fifo();
    const Port a = ipi();
    g.set(a, kMasked);
    ASSERT_EQ(d1->unmask(a), 0);
    EXPECT_EQ(g.load(a), 0u);
    EXPECT_EQ(t1.upcalls[0], 0u);
}

TEST_F(FifoTest, pending_two_level_events_move_to_fifo_when_their_page_arrives) {
    const Port a = ipi();
    t1.mask(a);
    ASSERT_EQ(d1->send(a), 0);  // pending in the 2-level bitmap
    ASSERT_TRUE(t1.pending(a));
    std::uint8_t bits = 0;
    ASSERT_EQ(d1->init_control(kControlGfn, 0, 0, &bits), 0);
    EXPECT_FALSE(t1.pending(a));  // moved, not copied
    EXPECT_EQ(t1.upcalls[0], 0u);
    ASSERT_EQ(d1->expand_array(kArrayGfn), 0);
    EXPECT_EQ(t1.upcalls[0], 1u);
    EXPECT_EQ(g.drain(), std::vector<Port>{a});
}

TEST_F(FifoTest, events_beyond_the_event_array_wait_for_expand_array) {
    FakeTarget big{3};
    auto d3 = reg.add(3, &big, 4000);
    FifoGuest g3{big};
    std::uint8_t bits = 0;
    ASSERT_EQ(d3->init_control(kControlGfn, 0, 0, &bits), 0);
    ASSERT_EQ(d3->expand_array(kArrayGfn), 0);
    Port p = 0;
    for (int i = 0; i < 1100; ++i) ASSERT_EQ(d3->bind_ipi(0, &p), 0);
    ASSERT_GE(p, 1024u);
    ASSERT_EQ(d3->send(p), 0);
    EXPECT_EQ(big.upcalls[0], 0u);
    EXPECT_FALSE(d3->poll_pending(p));
    ASSERT_EQ(d3->expand_array(kArrayGfn2), 0);
    EXPECT_EQ(big.upcalls[0], 1u);
    EXPECT_EQ(g3.drain(), std::vector<Port>{p});
}

TEST_F(FifoTest, events_for_a_vcpu_without_a_control_block_are_dropped_as_xen_does) {
    std::uint8_t bits = 0;
    ASSERT_EQ(d1->init_control(kControlGfn, 0, 0, &bits), 0);
    ASSERT_EQ(d1->expand_array(kArrayGfn), 0);
    const Port a = ipi(1);
    ASSERT_EQ(d1->send(a), 0);
    EXPECT_EQ(g.load(a), 0u);
    EXPECT_EQ(t1.upcalls[1], 0u);
}

TEST_F(FifoTest, set_priority_errnos_follow_xen) {
    const Port a = ipi();
    EXPECT_EQ(d1->set_priority(a, 3), -XEN_ENOSYS);  // 2-level has no priorities
    EXPECT_EQ(d1->set_priority(5000, 3), -XEN_EINVAL);  // not a port: checked first
    init_fifo();
    EXPECT_EQ(d1->set_priority(5000, 3), -XEN_EINVAL);
    EXPECT_EQ(d1->set_priority(0, 3), -XEN_EACCES);  // reserved
    const Port b = ipi();
    ASSERT_EQ(d1->close(b), 0);
    EXPECT_EQ(d1->set_priority(b, 3), -XEN_EACCES);  // valid but closed
    EXPECT_EQ(d1->set_priority(a, EVTCHN_FIFO_PRIORITY_MIN + 1), -XEN_EINVAL);
    EXPECT_EQ(d1->set_priority(a, EVTCHN_FIFO_PRIORITY_MIN), 0);
    EXPECT_EQ(d1->set_priority(a, EVTCHN_FIFO_PRIORITY_MAX), 0);
}

TEST_F(FifoTest, a_rebound_port_gets_the_default_priority_again) {
    init_fifo();
    const Port a = ipi();
    ASSERT_EQ(d1->set_priority(a, 1), 0);
    ASSERT_EQ(d1->close(a), 0);
    const Port again = ipi();
    ASSERT_EQ(again, a);
    d1->send(again);
    EXPECT_EQ(g.control(0)->ready, 1u << EVTCHN_FIFO_PRIORITY_DEFAULT);
}

TEST_F(FifoTest, a_closed_port_still_on_a_queue_is_not_reused_until_unlinked) {
    init_fifo();
    const Port a = ipi();
    d1->send(a);
    ASSERT_EQ(d1->close(a), 0);  // PENDING cleared, still LINKED in the guest's list
    EXPECT_EQ(g.load(a) & (kPending | kLinked), kLinked);
    const Port b = ipi();
    EXPECT_NE(b, a);
    EXPECT_TRUE(g.drain().empty());  // unlinked, nothing pending
    EXPECT_EQ(ipi(), a);
}

TEST_F(FifoTest, a_priority_change_applies_from_the_next_queueing) {
    init_fifo();
    const Port a = ipi(), b = ipi();
    d1->send(a);
    ASSERT_EQ(d1->set_priority(a, 2), 0);
    d1->send(a);  // still linked on queue 7
    EXPECT_EQ(g.control(0)->ready, 1u << 7);
    EXPECT_EQ(g.drain(), std::vector<Port>{a});
    d1->send(a);  // now queue 2; queue 7's tail (a) must be forgotten
    d1->send(b);
    EXPECT_EQ(g.control(0)->head[2], a);
    EXPECT_EQ(g.control(0)->head[7], b);
    EXPECT_EQ(g.load(a) & EVTCHN_FIFO_LINK_MASK, 0u);
    EXPECT_EQ(g.drain(), (std::vector<Port>{a, b}));
}

TEST_F(FifoTest, moving_an_event_to_another_vcpu_leaves_the_old_queue_consistent) {
    init_fifo();
    Port a = 0, b = 0;
    ASSERT_EQ(d1->alloc_unbound(DOMID_SELF, &a), 0);
    ASSERT_EQ(d1->bind_interdomain(DOMID_SELF, a, &b), 0);
    EXPECT_EQ(g.drain(), std::vector<Port>{b});  // the bind-time notification
    ASSERT_EQ(d1->send(b), 0);                   // a queued on vCPU 0
    EXPECT_EQ(g.drain(), std::vector<Port>{a});
    ASSERT_EQ(d1->bind_vcpu(a, 1), 0);
    ASSERT_EQ(d1->send(b), 0);  // a -> vCPU 1
    EXPECT_EQ(t1.upcalls[1], 1u);
    const Port c = ipi(0);
    ASSERT_EQ(d1->send(c), 0);  // vCPU 0's queue is empty: c is its head
    EXPECT_EQ(g.control(0)->head[7], c);
    EXPECT_EQ(g.drain(0), std::vector<Port>{c});
    EXPECT_EQ(g.drain(1), std::vector<Port>{a});
}

TEST_F(FifoTest, reset_closes_every_port_and_returns_to_two_level) {
    init_fifo();
    const Port a = ipi();
    Port remote = 0, local = 0;
    ASSERT_EQ(d2->alloc_unbound(1, &remote), 0);
    ASSERT_EQ(d1->bind_interdomain(2, remote, &local), 0);
    ASSERT_EQ(d1->reset(), 0);
    EXPECT_FALSE(d1->fifo_active());
    evtchn_status_t st{};
    st.port = a;
    ASSERT_EQ(d1->status(st), 0);
    EXPECT_EQ(st.status, EVTCHNSTAT_closed);
    st.port = remote;
    ASSERT_EQ(d2->status(st), 0);
    EXPECT_EQ(st.status, EVTCHNSTAT_unbound);  // the peer's end waits again
    // 2-level again: delivery through shared_info.
    t1.upcalls[0] = 0;
    const Port p = ipi();
    ASSERT_EQ(d1->send(p), 0);
    EXPECT_EQ(t1.take_pending(), std::vector<unsigned>{p});
    EXPECT_EQ(d1->set_priority(p, 1), -XEN_ENOSYS);
    // ... and FIFO can be set up afresh.
    std::uint8_t bits = 0;
    EXPECT_EQ(d1->init_control(kControlGfn, 0, 0, &bits), 0);
}

TEST_F(FifoTest, reset_on_two_level_just_closes_ports) {
    const Port a = ipi();
    ASSERT_EQ(d1->reset(), 0);
    EXPECT_EQ(d1->send(a), -XEN_EINVAL);
    EXPECT_FALSE(d1->fifo_active());
}

TEST_F(FifoTest, the_port_limit_follows_the_abi) {
    FakeTarget big{3};
    auto d3 = reg.add(3, &big, 8000);
    EXPECT_EQ(d3->max_ports(), 4096u);
    std::uint8_t bits = 0;
    ASSERT_EQ(d3->init_control(kControlGfn, 0, 0, &bits), 0);
    EXPECT_EQ(d3->max_ports(), 8000u);
    Port p = 0;
    for (int i = 0; i < 5000; ++i) ASSERT_EQ(d3->alloc_unbound(0, &p), 0);
    EXPECT_GE(p, 4096u);
    ASSERT_EQ(d3->reset(), 0);
    EXPECT_EQ(d3->max_ports(), 4096u);
    EXPECT_EQ(d3->send(p), -XEN_EINVAL);
    ASSERT_EQ(d3->alloc_unbound(0, &p), 0);
    EXPECT_EQ(p, 1u);
}

TEST_F(FifoTest, poll_sees_pending_events_in_both_abis) {
    const Port a = ipi();
    t1.mask(a);
    d1->send(a);
    EXPECT_TRUE(d1->poll_pending(a));
    EXPECT_FALSE(d1->poll_pending(100000));
    init_fifo();
    EXPECT_TRUE(d1->poll_pending(a));  // migrated, re-raised with the page
    EXPECT_FALSE(d1->poll_pending(1u << 20));
    d1->detach_target();
    EXPECT_FALSE(d1->poll_pending(a));
}

// Hostile guests: whatever they write into their words and control blocks,
// delivery stays bounded and touches only their own memory.

TEST_F(FifoTest, a_forged_linked_bit_keeps_the_event_off_the_queue_without_harm) {
    init_fifo();
    const Port a = ipi(), b = ipi();
    g.set(a, kLinked | 0x1ffff);  // claims to be queued, links out of range
    d1->send(a);
    EXPECT_EQ(t1.upcalls[0], 0u);
    d1->send(b);
    EXPECT_EQ(g.drain(), std::vector<Port>{b});
}

TEST_F(FifoTest, forged_links_are_overwritten_when_linking) {
    init_fifo();
    const Port a = ipi(), b = ipi();
    d1->send(a);
    g.set(a, EVTCHN_FIFO_LINK_MASK);  // a loop / out-of-range link
    d1->send(b);
    EXPECT_EQ(g.load(a) & EVTCHN_FIFO_LINK_MASK, b);
    EXPECT_EQ(g.drain(), (std::vector<Port>{a, b}));
}

TEST_F(FifoTest, garbage_words_and_control_blocks_cause_no_crash) {
    init_fifo();
    std::vector<Port> ports;
    for (int i = 0; i < 20; ++i) ports.push_back(ipi());
    for (Port p = 0; p < 1024; ++p) *g.word(p) = 0xffffffffu ^ (p * 0x9e3779b9u);
    for (auto& h : g.control(0)->head) h = 0xffffffffu;
    g.control(0)->ready = 0xa5a5a5a5u;
    for (int round = 0; round < 3; ++round)
        for (Port p : ports) {
            d1->send(p);
            d1->unmask(p);
            d1->set_priority(p, p % 16);
        }
    g.drain();  // bounded whatever the queues hold
    for (Port p : ports) d1->close(p);
    EXPECT_EQ(d1->reset(), 0);
}

TEST_F(FifoTest, a_guest_rewriting_event_words_concurrently_cannot_stall_delivery) {
    init_fifo();
    const Port a = ipi(), b = ipi();
    std::atomic<bool> stop{false};
    std::thread hostile([&] {
        std::uint32_t x = 1;
        while (!stop.load(std::memory_order_relaxed)) {
            x = x * 1664525u + 1013904223u;  // LINKED, MASKED, BUSY, links: all random
            __atomic_store_n(g.word(x & 1 ? a : b), x, __ATOMIC_SEQ_CST);
        }
    });
    // Each send may link after the other port's word while it changes:
    // the compare-exchange loop must give up after its few retries.
    for (int i = 0; i < 20000; ++i) {
        d1->send(a);
        d1->send(b);
        d1->unmask(a);
    }
    stop = true;
    hostile.join();
    g.clear(a, ~0u);
    g.clear(b, ~0u);
    g.drain();
    g.forget_heads();
    d1->send(a);  // the queue still works once the guest behaves
    EXPECT_EQ(g.drain(), std::vector<Port>{a});
}

// The link step against a guest that changes the tail word between our
// read and our compare-exchange, `changes` times in a row.
struct RacingGuest {
    std::vector<std::uint32_t> writes;  // what the guest stores before each of our attempts
    unsigned attempts = 0;
    bool operator()(std::uint32_t* w, std::uint32_t* expected, std::uint32_t desired) {
        if (attempts < writes.size()) {
            // Keep whatever BUSY we set: the guest never touches it.
            const std::uint32_t busy = __atomic_load_n(w, __ATOMIC_SEQ_CST) & kBusy;
            __atomic_store_n(w, writes[attempts] | busy, __ATOMIC_SEQ_CST);
        }
        ++attempts;
        return fifo_link::atomic_cas(w, expected, desired);
    }
};

TEST(FifoLink, links_a_linked_tail_in_one_attempt) {
    std::uint32_t w = kPending | kLinked;
    RacingGuest guest;
    EXPECT_TRUE(fifo_link::link_after(&w, 42, std::ref(guest)));
    EXPECT_EQ(w, kPending | kLinked | 42);
    EXPECT_EQ(guest.attempts, 1u);
}

TEST(FifoLink, an_unlinked_tail_means_an_empty_queue) {
    std::uint32_t w = kPending;
    RacingGuest guest;
    EXPECT_FALSE(fifo_link::link_after(&w, 42, std::ref(guest)));
    EXPECT_EQ(w, kPending);
    EXPECT_EQ(guest.attempts, 0u);
}

TEST(FifoLink, retries_while_the_guest_masks_and_clears_pending_then_clears_busy) {
    std::uint32_t w = kPending | kLinked;
    RacingGuest guest{{kPending | kLinked | kMasked, kLinked | kMasked}};
    EXPECT_TRUE(fifo_link::link_after(&w, 7, std::ref(guest)));
    EXPECT_EQ(w, kLinked | kMasked | 7);  // BUSY gone, guest's changes kept
    EXPECT_EQ(guest.attempts, 3u);
}

TEST(FifoLink, the_guest_consuming_the_tail_meanwhile_makes_the_queue_empty) {
    std::uint32_t w = kPending | kLinked;
    RacingGuest guest{{0}};  // consumed: LINKED and PENDING cleared
    EXPECT_FALSE(fifo_link::link_after(&w, 7, std::ref(guest)));
    EXPECT_EQ(w, 0u);  // and our BUSY is not left behind
}

TEST(FifoLink, a_guest_that_never_stops_changing_the_word_is_given_up_on) {
    std::uint32_t w = kPending | kLinked;
    RacingGuest guest;
    for (std::uint32_t i = 0; i < 100; ++i) guest.writes.push_back(kLinked | (i & 1 ? kMasked : 0) | i);
    EXPECT_TRUE(fifo_link::link_after(&w, 7, std::ref(guest)));
    EXPECT_EQ(guest.attempts, fifo_link::kRetries + 1);
    EXPECT_EQ(w & kBusy, 0u);
}

}  // namespace
}  // namespace xenolith::evtchn
