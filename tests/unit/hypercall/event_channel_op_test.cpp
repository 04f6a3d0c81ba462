#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/event_channel.h>
}

#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

struct EventChannelOp : HypercallTest {
    template <class Op>
    long op(std::uint64_t cmd, const Op& o) {
        put(kArg, o);
        return call(__HYPERVISOR_event_channel_op, cmd, kArg);
    }
    evtchn_port_t bind_virq(unsigned virq) {
        evtchn_bind_virq_t b{};
        b.virq = virq;
        b.vcpu = 0;
        EXPECT_EQ(op(EVTCHNOP_bind_virq, b), 0);
        return get<evtchn_bind_virq_t>(kArg).port;
    }
};

TEST_F(EventChannelOp, every_subop_when_bad_pointer_then_efault) {
    for (std::uint64_t cmd = EVTCHNOP_bind_interdomain; cmd <= 14; ++cmd) {
        if (cmd == 10) continue;  // no sub-op 10
        EXPECT_EQ(call(__HYPERVISOR_event_channel_op, cmd, kBad), -XEN_EFAULT) << cmd;
    }
}

TEST_F(EventChannelOp, alloc_unbound_when_self_then_port_written_back) {
    evtchn_alloc_unbound_t a{};
    a.dom = DOMID_SELF;
    a.remote_dom = 0;
    ASSERT_EQ(op(EVTCHNOP_alloc_unbound, a), 0);
    const evtchn_port_t port = get<evtchn_alloc_unbound_t>(kArg).port;
    EXPECT_NE(port, 0u);

    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = port;
    ASSERT_EQ(op(EVTCHNOP_status, st), 0);
    EXPECT_EQ(get<evtchn_status_t>(kArg).status, EVTCHNSTAT_unbound);
}

TEST_F(EventChannelOp, alloc_unbound_or_status_when_other_domain_then_eperm_esrch) {
    dom.others = {9};
    evtchn_alloc_unbound_t a{};
    a.dom = 9;
    EXPECT_EQ(op(EVTCHNOP_alloc_unbound, a), -XEN_EPERM);
    a.dom = 10;
    EXPECT_EQ(op(EVTCHNOP_alloc_unbound, a), -XEN_ESRCH);
    EXPECT_EQ(get<evtchn_alloc_unbound_t>(kArg).port, 0u);  // not written on failure
    evtchn_status_t st{};
    st.dom = 10;
    st.port = 1;
    EXPECT_EQ(op(EVTCHNOP_status, st), -XEN_ESRCH);
}

TEST_F(EventChannelOp, bind_interdomain_when_remote_absent_then_esrch) {
    evtchn_bind_interdomain_t b{};
    b.remote_dom = 10;  // no such domain (or one still being built)
    b.remote_port = 1;
    EXPECT_EQ(op(EVTCHNOP_bind_interdomain, b), -XEN_ESRCH);
}

TEST_F(EventChannelOp, virq_when_bound_sent_and_closed_then_delivered_then_gone) {
    const evtchn_port_t port = bind_virq(VIRQ_TIMER);
    ASSERT_NE(port, 0u);
    evtchn_bind_virq_t again{};
    again.virq = VIRQ_TIMER;
    EXPECT_EQ(op(EVTCHNOP_bind_virq, again), -XEN_EEXIST);

    evtchn_send_t s{};
    s.port = port;
    EXPECT_EQ(op(EVTCHNOP_send, s), -XEN_EINVAL);  // a VIRQ cannot be sent
    evtchn_close_t c{};
    c.port = port;
    EXPECT_EQ(op(EVTCHNOP_close, c), 0);
    EXPECT_EQ(op(EVTCHNOP_close, c), -XEN_EINVAL);
}

TEST_F(EventChannelOp, ipi_when_sent_then_pending) {
    evtchn_bind_ipi_t b{};
    b.vcpu = 1;
    ASSERT_EQ(op(EVTCHNOP_bind_ipi, b), 0);
    const evtchn_port_t port = get<evtchn_bind_ipi_t>(kArg).port;
    evtchn_send_t s{};
    s.port = port;
    EXPECT_EQ(op(EVTCHNOP_send, s), 0);
    EXPECT_TRUE(dom.target().pending(port));
    EXPECT_EQ(dom.target().upcalls[1], 1u);
}

TEST_F(EventChannelOp, out_of_range_values_when_given_then_einval_or_enoent) {
    evtchn_bind_virq_t v{};
    v.virq = NR_VIRQS;
    EXPECT_EQ(op(EVTCHNOP_bind_virq, v), -XEN_EINVAL);
    evtchn_bind_ipi_t i{};
    i.vcpu = 2;
    EXPECT_EQ(op(EVTCHNOP_bind_ipi, i), -XEN_ENOENT);
    evtchn_unmask_t u{};
    u.port = 0xffffffff;
    EXPECT_EQ(op(EVTCHNOP_unmask, u), -XEN_EINVAL);
    evtchn_bind_vcpu_t bv{};
    bv.port = 0xffffffff;
    EXPECT_EQ(op(EVTCHNOP_bind_vcpu, bv), -XEN_EINVAL);
}

TEST_F(EventChannelOp, pirq_when_bound_then_einval) {
    evtchn_bind_pirq_t p{};
    EXPECT_EQ(op(EVTCHNOP_bind_pirq, p), -XEN_EINVAL);
}

TEST_F(EventChannelOp, reset_when_other_domain_then_refused_self_then_ports_closed) {
    const evtchn_port_t port = bind_virq(VIRQ_TIMER);
    dom.others = {9};
    evtchn_reset_t r{};
    r.dom = 9;
    EXPECT_EQ(op(EVTCHNOP_reset, r), -XEN_EPERM);
    r.dom = 10;
    EXPECT_EQ(op(EVTCHNOP_reset, r), -XEN_ESRCH);
    r.dom = DOMID_SELF;
    EXPECT_EQ(op(EVTCHNOP_reset, r), 0);
    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = port;
    ASSERT_EQ(op(EVTCHNOP_status, st), 0);
    EXPECT_EQ(get<evtchn_status_t>(kArg).status, EVTCHNSTAT_closed);
}

TEST_F(EventChannelOp, reset_cont_when_called_then_ebusy_after_domain_check) {
    evtchn_reset_t r{};
    r.dom = DOMID_SELF;
    EXPECT_EQ(op(14, r), -XEN_EBUSY);
    r.dom = 10;
    EXPECT_EQ(op(14, r), -XEN_ESRCH);
}

TEST_F(EventChannelOp, fifo_when_control_block_unbacked_then_einval) {
    evtchn_init_control_t ic{};
    ic.control_gfn = 0xfffffff;
    ic.vcpu = 0;
    EXPECT_EQ(op(EVTCHNOP_init_control, ic), -XEN_EINVAL);
    evtchn_expand_array_t ea{};
    ea.array_gfn = 0x300;
    EXPECT_NE(op(EVTCHNOP_expand_array, ea), 0);  // no FIFO yet
}

TEST_F(EventChannelOp, unknown_subop_when_called_then_enosys_logged) {
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, 99, kArg), -XEN_ENOSYS);
    EXPECT_EQ(dom.log, std::vector<std::string>{"unknown event_channel_op sub-op 99"});
}

// ---- Both ABIs: every event-channel struct is the same in both (see
// compat_abi.hpp); these run the common sub-ops from hand-placed fields.
struct EventChannelOpAbi : BothAbis {
    long op(std::uint64_t cmd) { return abi_call(__HYPERVISOR_event_channel_op, cmd, kArg); }
};

TEST_P(EventChannelOpAbi, alloc_status_ipi_send_close_when_called_then_same_results) {
    poison(kArg, 32);
    put_uint(kArg, DOMID_SELF, 2);  // alloc_unbound: dom @0, remote_dom @2, port @4
    put_uint(kArg + 2, 0, 2);
    ASSERT_EQ(op(EVTCHNOP_alloc_unbound), 0);
    const std::uint64_t port = get_uint(kArg + 4, 4);
    EXPECT_NE(port, 0u);
    EXPECT_EQ(get_uint(kArg + 8, 4), 0xa5a5a5a5u);

    poison(kArg, 32);
    put_uint(kArg, DOMID_SELF, 2);  // status: dom @0, port @4, status @8, vcpu @12
    put_uint(kArg + 4, port, 4);
    ASSERT_EQ(op(EVTCHNOP_status), 0);
    EXPECT_EQ(get_uint(kArg + 8, 4), static_cast<std::uint64_t>(EVTCHNSTAT_unbound));

    put_uint(kArg, 0, 4);  // bind_ipi: vcpu @0, port @4
    ASSERT_EQ(op(EVTCHNOP_bind_ipi), 0);
    const std::uint64_t ipi = get_uint(kArg + 4, 4);
    put_uint(kArg, ipi, 4);  // send / close: port @0
    EXPECT_EQ(op(EVTCHNOP_send), 0);
    EXPECT_EQ(op(EVTCHNOP_close), 0);
    EXPECT_EQ(op(EVTCHNOP_send), -XEN_EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Abi, EventChannelOpAbi, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
