#include <cstdint>
#include <map>
#include <memory>

#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
}

#include "evtchn/event_channels.hpp"
#include "evtchn/two_level.hpp"
#include "fake_target.hpp"

namespace xenolith::evtchn {
namespace {

using test::FakeTarget;

using Domains = test::FakeDomains;

class EventChannelsTest : public ::testing::Test {
protected:
    Domains reg;
    FakeTarget t1{1}, t2{2};
    std::shared_ptr<EventChannels> host = reg.add(0, nullptr);
    std::shared_ptr<EventChannels> d1 = reg.add(1, &t1);
    std::shared_ptr<EventChannels> d2 = reg.add(2, &t2);
};

TEST_F(EventChannelsTest, loopback_send_delivers_to_the_peer_port_and_raises_one_upcall) {
    Port a = 0, b = 0;
    ASSERT_EQ(d1->alloc_unbound(DOMID_SELF, &a), 0);
    ASSERT_EQ(d1->bind_interdomain(DOMID_SELF, a, &b), 0);
    EXPECT_EQ(t1.take_pending(), std::vector<unsigned>{b});  // Xen notifies the binder
    EXPECT_EQ(d1->send(b), 0);
    EXPECT_EQ(t1.take_pending(), std::vector<unsigned>{a});
    EXPECT_EQ(t1.upcalls[0], 2u);
}

TEST_F(EventChannelsTest, port_zero_is_reserved_and_ports_are_allocated_from_one) {
    Port p = 0;
    ASSERT_EQ(d1->alloc_unbound(0, &p), 0);
    EXPECT_EQ(p, 1u);
    EXPECT_EQ(d1->close(0), -XEN_EINVAL);
    EXPECT_EQ(d1->send(0), -XEN_EINVAL);
    EXPECT_EQ(d1->unmask(0), 0);  // valid, not usable: Xen ignores it
}

TEST_F(EventChannelsTest, bad_ports_get_einval) {
    EXPECT_EQ(d1->send(4096), -XEN_EINVAL);
    EXPECT_EQ(d1->close(77), -XEN_EINVAL);
    EXPECT_EQ(d1->unmask(100000), -XEN_EINVAL);
    evtchn_status_t st{};
    st.port = 5000;
    EXPECT_EQ(d1->status(st), -XEN_EINVAL);
}

TEST_F(EventChannelsTest, send_on_unbound_port_is_dropped_silently) {
    Port p = 0;
    ASSERT_EQ(d1->alloc_unbound(2, &p), 0);
    EXPECT_EQ(d1->send(p), 0);
    EXPECT_EQ(t1.upcalls[0], 0u);
}

TEST_F(EventChannelsTest, interdomain_requires_the_unbound_port_to_name_the_binder) {
    Port p = 0, q = 0;
    ASSERT_EQ(d2->alloc_unbound(1, &p), 0);
    EXPECT_EQ(d1->bind_interdomain(7, p, &q), -XEN_ESRCH);
    Port other = 0;
    ASSERT_EQ(d2->alloc_unbound(0, &other), 0);
    EXPECT_EQ(d1->bind_interdomain(2, other, &q), -XEN_EINVAL);  // reserved for dom0
    ASSERT_EQ(d1->bind_interdomain(2, p, &q), 0);
    t1.take_pending();
    EXPECT_EQ(d1->send(q), 0);
    EXPECT_EQ(t2.take_pending(), std::vector<unsigned>{p});
    EXPECT_EQ(d2->send(p), 0);
    EXPECT_EQ(t1.take_pending(), std::vector<unsigned>{q});
}

TEST_F(EventChannelsTest, closing_one_end_returns_the_other_to_unbound) {
    Port p = 0, q = 0;
    ASSERT_EQ(d2->alloc_unbound(1, &p), 0);
    ASSERT_EQ(d1->bind_interdomain(2, p, &q), 0);
    ASSERT_EQ(d1->close(q), 0);
    evtchn_status_t st{};
    st.port = p;
    ASSERT_EQ(d2->status(st), 0);
    EXPECT_EQ(st.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(st.u.unbound.dom, 1);
    st.port = q;
    ASSERT_EQ(d1->status(st), 0);
    EXPECT_EQ(st.status, EVTCHNSTAT_closed);
}

TEST_F(EventChannelsTest, masked_events_stay_pending_until_unmask) {
    Port p = 0;
    ASSERT_EQ(d1->bind_ipi(0, &p), 0);
    t1.mask(p);
    EXPECT_EQ(d1->send(p), 0);
    EXPECT_TRUE(t1.pending(p));
    EXPECT_EQ(t1.upcalls[0], 0u);
    EXPECT_EQ(d1->unmask(p), 0);
    EXPECT_EQ(t1.upcalls[0], 1u);
    EXPECT_EQ(t1.take_pending(), std::vector<unsigned>{p});
}

TEST_F(EventChannelsTest, a_second_event_while_the_upcall_is_pending_raises_no_new_upcall) {
    Port a = 0, b = 0;
    ASSERT_EQ(d1->bind_ipi(0, &a), 0);
    ASSERT_EQ(d1->bind_ipi(0, &b), 0);
    d1->send(a);
    d1->send(b);
    EXPECT_EQ(t1.upcalls[0], 1u);
    auto ports = t1.take_pending();
    EXPECT_EQ(ports.size(), 2u);
}

TEST_F(EventChannelsTest, virq_rules_match_xen) {
    Port p = 0;
    EXPECT_EQ(d1->bind_virq(NR_VIRQS, 0, &p), -XEN_EINVAL);
    EXPECT_EQ(d1->bind_virq(VIRQ_CONSOLE, 1, &p), -XEN_EINVAL);  // global VIRQ on vCPU 1
    EXPECT_EQ(d1->bind_virq(VIRQ_TIMER, 9, &p), -XEN_ENOENT);
    ASSERT_EQ(d1->bind_virq(VIRQ_TIMER, 1, &p), 0);
    Port again = 0;
    EXPECT_EQ(d1->bind_virq(VIRQ_TIMER, 1, &again), -XEN_EEXIST);
    d1->raise_virq(1, VIRQ_TIMER);
    EXPECT_EQ(t1.upcalls[1], 1u);
    EXPECT_EQ(t1.take_pending(1), std::vector<unsigned>{p});
    EXPECT_EQ(d1->send(p), -XEN_EINVAL);  // VIRQ ports cannot be sent on
    ASSERT_EQ(d1->close(p), 0);
    EXPECT_EQ(d1->bind_virq(VIRQ_TIMER, 1, &again), 0);  // free again after close
}

TEST_F(EventChannelsTest, ipi_to_a_missing_vcpu_is_enoent) {
    Port p = 0;
    EXPECT_EQ(d1->bind_ipi(2, &p), -XEN_ENOENT);
}

TEST_F(EventChannelsTest, port_space_is_bounded_by_max_ports) {
    FakeTarget small{3};
    auto d3 = reg.add(3, &small, 10);
    Port p = 0;
    for (int i = 1; i < 10; ++i) ASSERT_EQ(d3->alloc_unbound(0, &p), 0);
    EXPECT_EQ(d3->alloc_unbound(0, &p), -XEN_ENOSPC);
    ASSERT_EQ(d3->close(4), 0);
    EXPECT_EQ(d3->alloc_unbound(0, &p), 0);
    EXPECT_EQ(p, 4u);  // freed ports are reused first
}

TEST_F(EventChannelsTest, host_backend_receives_guest_notifications) {
    Port guest = 0, hport = 0;
    ASSERT_EQ(d1->alloc_unbound(0, &guest), 0);
    int notified = 0;
    ASSERT_EQ(host->bind_host(*d1, guest, [&](Port) { ++notified; }, &hport), 0);
    EXPECT_EQ(d1->send(guest), 0);
    EXPECT_EQ(notified, 1);
    EXPECT_EQ(host->send(hport), 0);
    EXPECT_EQ(t1.take_pending(), std::vector<unsigned>{guest});
}

TEST_F(EventChannelsTest, detached_domain_ignores_late_deliveries) {
    Port p = 0;
    ASSERT_EQ(d1->bind_virq(VIRQ_TIMER, 0, &p), 0);
    d1->close_all();
    d1->detach_target();
    d1->raise_virq(0, VIRQ_TIMER);
    EXPECT_EQ(t1.upcalls[0], 0u);
}

}  // namespace
}  // namespace xenolith::evtchn
