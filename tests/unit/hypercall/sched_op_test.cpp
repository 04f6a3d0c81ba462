#include <gtest/gtest.h>

#include <vector>

extern "C" {
#include <xen/errno.h>
#include <xen/sched.h>
}

#include "fake_guest.hpp"
#include "hypercall/system_time.hpp"

namespace xenolith::test {
namespace {

struct SchedOp : HypercallTest {
    long sched(std::uint64_t cmd, std::uint64_t arg = 0) {
        return call(__HYPERVISOR_sched_op, cmd, arg);
    }
    long poll(std::vector<evtchn_port_t> ports, std::uint64_t timeout = 0) {
        for (std::size_t i = 0; i < ports.size(); ++i) put(kBuf + i * 4, ports[i]);
        sched_poll_t p{};
        set_xen_guest_handle(p.ports, reinterpret_cast<evtchn_port_t*>(kBuf));
        p.nr_ports = static_cast<unsigned>(ports.size());
        p.timeout = timeout;
        put(kArg, p);
        return sched(SCHEDOP_poll, kArg);
    }
    long remote_shutdown(domid_t d) {
        sched_remote_shutdown_t r{};
        r.domain_id = d;
        r.reason = SHUTDOWN_poweroff;
        put(kArg, r);
        return sched(SCHEDOP_remote_shutdown, kArg);
    }
};

TEST_F(SchedOp, yield_and_block_when_called_then_zero) {
    EXPECT_EQ(sched(SCHEDOP_yield), 0);
    EXPECT_EQ(sched(SCHEDOP_block), 0);
    EXPECT_EQ(dom.fake_vcpu(0).blocks, 1u);
}

TEST_F(SchedOp, shutdown_when_reason_wide_then_truncated_to_u8) {
    sched_shutdown_t s{};
    s.reason = 0x100 | SHUTDOWN_reboot;
    put(kArg, s);
    EXPECT_EQ(sched(SCHEDOP_shutdown, kArg), 0);
    EXPECT_EQ(dom.shutdown_reason, unsigned{SHUTDOWN_reboot});
    s.reason = 0x1ff;
    put(kArg, s);
    EXPECT_EQ(sched(SCHEDOP_shutdown_code, kArg), 0);
    EXPECT_EQ(dom.shutdown_code, 0xffu);
}

TEST_F(SchedOp, arguments_when_bad_pointer_then_efault_and_nothing_done) {
    for (std::uint64_t cmd : {SCHEDOP_shutdown, SCHEDOP_shutdown_code, SCHEDOP_poll,
                              SCHEDOP_watchdog, SCHEDOP_remote_shutdown})
        EXPECT_EQ(sched(cmd, kBad), -XEN_EFAULT) << cmd;
    EXPECT_FALSE(dom.shutdown_reason);
    EXPECT_FALSE(dom.shutdown_code);
    EXPECT_TRUE(dom.watchdog_calls.empty());
}

TEST_F(SchedOp, poll_when_too_many_ports_then_einval) {
    EXPECT_EQ(poll(std::vector<evtchn_port_t>(129, 1)), -XEN_EINVAL);
    EXPECT_EQ(dom.fake_vcpu(0).polls, 0u);
}

TEST_F(SchedOp, poll_when_port_beyond_table_then_einval) {
    EXPECT_EQ(poll({1, dom.events().max_ports()}), -XEN_EINVAL);
    EXPECT_EQ(poll({0xffffffff}), -XEN_EINVAL);
    EXPECT_EQ(dom.fake_vcpu(0).polls, 0u);
}

TEST_F(SchedOp, poll_when_port_list_unreadable_then_efault) {
    sched_poll_t p{};
    set_xen_guest_handle(p.ports, reinterpret_cast<evtchn_port_t*>(kBad));
    p.nr_ports = 2;
    put(kArg, p);
    EXPECT_EQ(sched(SCHEDOP_poll, kArg), -XEN_EFAULT);
}

TEST_F(SchedOp, poll_when_port_pending_then_ready_with_deadline) {
    evtchn_port_t port = 0;
    ASSERT_EQ(dom.events().bind_virq(VIRQ_TIMER, 0, &port), 0);
    EXPECT_EQ(poll({port}, 5000), 0);
    EXPECT_EQ(dom.fake_vcpu(0).polls, 1u);
    EXPECT_FALSE(dom.fake_vcpu(0).poll_was_ready);
    EXPECT_EQ(dom.fake_vcpu(0).poll_deadline, hypercall::system_time_to_deadline(5000));

    dom.events().raise_virq(0, VIRQ_TIMER);
    EXPECT_EQ(poll({port}), 0);
    EXPECT_TRUE(dom.fake_vcpu(0).poll_was_ready);
    EXPECT_FALSE(dom.fake_vcpu(0).poll_deadline);  // 0: no timeout
}

TEST_F(SchedOp, watchdog_when_called_then_domain_decides) {
    sched_watchdog_t w{};
    w.id = 0;
    w.timeout = 30;
    put(kArg, w);
    EXPECT_EQ(sched(SCHEDOP_watchdog, kArg), 1);
    EXPECT_EQ(dom.watchdog_calls, (std::vector<std::pair<std::uint32_t, std::uint32_t>>{{0, 30}}));
}

TEST_F(SchedOp, remote_shutdown_when_domids_then_esrch_or_eperm_never_acts) {
    dom.others = {9};
    EXPECT_EQ(remote_shutdown(9), -XEN_EPERM);
    EXPECT_EQ(remote_shutdown(0), -XEN_EPERM);
    EXPECT_EQ(remote_shutdown(dom.domid()), -XEN_EPERM);
    EXPECT_EQ(remote_shutdown(10), -XEN_ESRCH);  // absent, or still being built
    EXPECT_EQ(remote_shutdown(DOMID_SELF), -XEN_ESRCH);
    EXPECT_EQ(remote_shutdown(DOMID_INVALID), -XEN_ESRCH);
    EXPECT_FALSE(dom.shutdown_reason);
}

TEST_F(SchedOp, pin_override_and_unknown_when_called_then_eperm_and_enosys) {
    EXPECT_EQ(sched(SCHEDOP_pin_override, kArg), -XEN_EPERM);
    EXPECT_EQ(sched(100, kArg), -XEN_ENOSYS);
    EXPECT_EQ(sched(~std::uint64_t{0}, kArg), -XEN_ENOSYS);
    EXPECT_EQ(dom.log.size(), 2u);
}

// ---- Both ABIs. sched_poll: ports @0 (4 / 8), nr_ports @4 / @8,
// timeout @8 / @16; size 16 / 24. shutdown, remote_shutdown and watchdog
// are the same 4- and 8-byte structs in both.
struct SchedOpAbi : BothAbis {
    long poll(std::uint64_t list, std::uint32_t nr, std::uint64_t timeout) {
        poison(kArg, 32);
        put_uint(kArg, list, word());
        put_uint(kArg + at(4, 8), nr, 4);
        put_uint(kArg + at(8, 16), timeout, 8);
        return abi_call(__HYPERVISOR_sched_op, SCHEDOP_poll, kArg);
    }
};

TEST_P(SchedOpAbi, poll_when_callers_layout_then_ports_count_and_timeout_read) {
    evtchn_port_t port = 0;
    ASSERT_EQ(dom.events().bind_virq(VIRQ_TIMER, 0, &port), 0);
    dom.events().raise_virq(0, VIRQ_TIMER);
    put_uint(kBuf, port, 4);
    EXPECT_EQ(poll(kBuf, 1, 5000), 0);
    EXPECT_EQ(dom.fake_vcpu(0).polls, 1u);
    EXPECT_TRUE(dom.fake_vcpu(0).poll_was_ready);
    EXPECT_EQ(dom.fake_vcpu(0).poll_deadline, hypercall::system_time_to_deadline(5000));
    EXPECT_EQ(poll(kBuf, 129, 0), -XEN_EINVAL);
    EXPECT_EQ(poll(kBad, 1, 0), -XEN_EFAULT);
    EXPECT_EQ(dom.fake_vcpu(0).polls, 1u);
}

TEST_P(SchedOpAbi, same_layout_subops_when_called_then_same_results) {
    put_uint(kArg, 0x1ff, 4);  // sched_shutdown.reason
    EXPECT_EQ(abi_call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, kArg), 0);
    EXPECT_EQ(dom.shutdown_code, 0xffu);
    EXPECT_EQ(abi_call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, kArg), 0);
    EXPECT_EQ(dom.shutdown_reason, 0xffu);
    put_uint(kArg, 0, 4);      // sched_watchdog: id @0, timeout @4
    put_uint(kArg + 4, 30, 4);
    EXPECT_EQ(abi_call(__HYPERVISOR_sched_op, SCHEDOP_watchdog, kArg), 1);
    EXPECT_EQ(dom.watchdog_calls.back(), (std::pair<std::uint32_t, std::uint32_t>{0, 30}));
    put_uint(kArg, 77, 2);     // sched_remote_shutdown: domain_id @0, reason @4
    put_uint(kArg + 4, SHUTDOWN_poweroff, 4);
    EXPECT_EQ(abi_call(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, kArg), -XEN_ESRCH);
    EXPECT_EQ(abi_call(__HYPERVISOR_sched_op, SCHEDOP_yield), 0);
    EXPECT_EQ(abi_call(__HYPERVISOR_sched_op, SCHEDOP_block), 0);
}

INSTANTIATE_TEST_SUITE_P(Abi, SchedOpAbi, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
