#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/vcpu.h>
}

#include "fake_guest.hpp"
#include "hypercall/runstate_area.hpp"
#include "hypercall/system_time.hpp"

namespace xenolith::test {
namespace {

struct VcpuOp : HypercallTest {
    long vcpu_op(std::uint64_t cmd, std::uint64_t vcpu, std::uint64_t arg = 0,
                 unsigned caller = 0) {
        return call(__HYPERVISOR_vcpu_op, cmd, vcpu, arg, caller);
    }
};

TEST_F(VcpuOp, vcpu_id_out_of_range_when_any_subop_then_enoent) {
    EXPECT_EQ(vcpu_op(VCPUOP_is_up, 2), -XEN_ENOENT);
    EXPECT_EQ(vcpu_op(VCPUOP_up, std::uint64_t{1} << 32), -XEN_ENOENT);  // not truncated to 0
    EXPECT_EQ(vcpu_op(VCPUOP_down, ~std::uint64_t{0}), -XEN_ENOENT);
    EXPECT_EQ(vcpu_op(0x7777, 9), -XEN_ENOENT);
}

TEST_F(VcpuOp, initialise_when_bad_pointer_mode_or_twice_then_xen_errnos) {
    EXPECT_EQ(vcpu_op(VCPUOP_initialise, 1, kBad), -XEN_EFAULT);
    vcpu_hvm_context_t c{};
    c.mode = 7;
    put(kArg, c);
    EXPECT_EQ(vcpu_op(VCPUOP_initialise, 1, kArg), -XEN_EINVAL);
    c.mode = VCPU_HVM_MODE_64B;
    put(kArg, c);
    EXPECT_EQ(vcpu_op(VCPUOP_initialise, 1, kArg), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_initialise, 1, kArg), -XEN_EEXIST);
    EXPECT_EQ(vcpu_op(VCPUOP_initialise, 0, kArg), -XEN_EEXIST);
}

TEST_F(VcpuOp, up_when_not_initialised_then_einval_else_online) {
    EXPECT_EQ(vcpu_op(VCPUOP_up, 1), -XEN_EINVAL);
    EXPECT_EQ(vcpu_op(VCPUOP_is_up, 1), 0);
    dom.fake_vcpu(1).initialised_ = true;
    EXPECT_EQ(vcpu_op(VCPUOP_up, 1), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_is_up, 1), 1);
    EXPECT_EQ(vcpu_op(VCPUOP_down, 1), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_is_up, 1), 0);
}

TEST_F(VcpuOp, runstate_info_when_asked_then_copied_or_efault) {
    dom.fake_vcpu(1).runstate_.state = RUNSTATE_blocked;
    dom.fake_vcpu(1).runstate_.time[RUNSTATE_blocked] = 42;
    ASSERT_EQ(vcpu_op(VCPUOP_get_runstate_info, 1, kArg), 0);
    EXPECT_EQ(get<vcpu_runstate_info_t>(kArg).state, RUNSTATE_blocked);
    EXPECT_EQ(get<vcpu_runstate_info_t>(kArg).time[RUNSTATE_blocked], 42u);
    EXPECT_EQ(vcpu_op(VCPUOP_get_runstate_info, 1, kBad), -XEN_EFAULT);
}

TEST_F(VcpuOp, memory_areas_when_registered_then_recorded_bad_time_area_efault) {
    vcpu_register_runstate_memory_area_t r{};
    r.addr.p = 0x5000;
    put(kArg, r);
    EXPECT_EQ(vcpu_op(VCPUOP_register_runstate_memory_area, 1, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(1).runstate_area, 0x5000u);
    EXPECT_EQ(vcpu_op(VCPUOP_register_runstate_memory_area, 1, kBad), -XEN_EFAULT);

    vcpu_register_time_memory_area_t t{};
    t.addr.p = 0x6000;
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(0).time_area, 0x6000u);
    t.addr.p = 0;  // unregisters
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(0).time_area, 0u);
}

// Xen checks the time area is writable when it is registered.
TEST_F(VcpuOp, time_area_when_not_mapped_then_efault) {
    map_first_2mib_only();
    vcpu_register_time_memory_area_t t{};
    t.addr.p = 0x200000;  // RAM, but not mapped by the guest's page tables
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg), -XEN_EFAULT);
    EXPECT_EQ(dom.fake_vcpu(0).time_area, 0u);
    t.addr.p = 0x1ff000;
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(0).time_area, 0x1ff000u);
}

TEST_F(VcpuOp, register_vcpu_info_when_other_vcpu_online_then_einval) {
    vcpu_register_vcpu_info_t info{};
    info.mfn = 0x123;
    info.offset = 64;
    put(kArg, info);
    dom.fake_vcpu(1).online_ = true;
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_info, 1, kArg), -XEN_EINVAL);
    dom.fake_vcpu(1).online_ = false;
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_info, 1, kArg), 0);
    EXPECT_EQ(dom.vcpu_info, (std::array<std::uint64_t, 3>{1, 0x123, 64}));
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_info, 0, kArg), 0);  // oneself, online
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_info, 0, kBad), -XEN_EFAULT);
}

TEST_F(VcpuOp, periodic_timer_when_below_1ms_then_einval) {
    vcpu_set_periodic_timer_t t{};
    t.period_ns = 999999;
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_set_periodic_timer, 0, kArg), -XEN_EINVAL);
    EXPECT_EQ(dom.fake_vcpu(0).periodic_calls, 0u);
    t.period_ns = 1000000;
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_set_periodic_timer, 0, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(0).periodic, std::chrono::nanoseconds(1000000));
    t.period_ns = ~std::uint64_t{0};  // clamped, never negative
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_set_periodic_timer, 0, kArg), 0);
    EXPECT_GT(dom.fake_vcpu(0).periodic->count(), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_stop_periodic_timer, 0), 0);
    EXPECT_FALSE(dom.fake_vcpu(0).periodic);
    EXPECT_EQ(vcpu_op(VCPUOP_set_periodic_timer, 0, kBad), -XEN_EFAULT);
}

TEST_F(VcpuOp, singleshot_timer_when_other_vcpu_then_einval) {
    vcpu_set_singleshot_timer_t t{};
    t.timeout_abs_ns = hypercall::system_time_now() + 1000000000;
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_set_singleshot_timer, 1, kArg), -XEN_EINVAL);
    EXPECT_EQ(vcpu_op(VCPUOP_stop_singleshot_timer, 1), -XEN_EINVAL);
    EXPECT_EQ(dom.fake_vcpu(1).singleshot_calls, 0u);
    // The same call from vCPU 1 itself is fine.
    EXPECT_EQ(vcpu_op(VCPUOP_set_singleshot_timer, 1, kArg, 1), 0);
    EXPECT_EQ(dom.fake_vcpu(1).singleshot, hypercall::system_time_to_deadline(t.timeout_abs_ns));
    EXPECT_EQ(vcpu_op(VCPUOP_stop_singleshot_timer, 1, 0, 1), 0);
    EXPECT_FALSE(dom.fake_vcpu(1).singleshot);
}

TEST_F(VcpuOp, singleshot_timer_when_future_flag_and_past_then_etime) {
    vcpu_set_singleshot_timer_t t{};
    t.timeout_abs_ns = 1;
    t.flags = VCPU_SSHOTTMR_future;
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_set_singleshot_timer, 0, kArg), -XEN_ETIME);
    EXPECT_EQ(dom.fake_vcpu(0).singleshot_calls, 0u);
    t.flags = 0;  // without the flag a past deadline fires at once
    put(kArg, t);
    EXPECT_EQ(vcpu_op(VCPUOP_set_singleshot_timer, 0, kArg), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_set_singleshot_timer, 0, kBad), -XEN_EFAULT);
}

TEST_F(VcpuOp, send_nmi_when_argument_then_einval_else_accepted_and_logged_once) {
    EXPECT_EQ(vcpu_op(VCPUOP_send_nmi, 1, 1), -XEN_EINVAL);
    EXPECT_EQ(vcpu_op(VCPUOP_send_nmi, 1), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_send_nmi, 0), 0);
    EXPECT_EQ(dom.log.size(), 1u);
}

TEST_F(VcpuOp, physid_and_unknown_when_called_then_einval_and_enosys) {
    EXPECT_EQ(vcpu_op(VCPUOP_get_physid, 0, kArg), -XEN_EINVAL);
    EXPECT_EQ(vcpu_op(0x4242, 0, kArg), -XEN_ENOSYS);
    EXPECT_EQ(dom.log, std::vector<std::string>{"unknown vcpu_op sub-op 16962"});
}

// ---- Both ABIs: hand-computed layouts. ------------------------------------
// vcpu_runstate_info:        state @0 (4); state_entry_time @4 / @8;
//                            time[4] @12 / @16; size 44 / 48.
// vcpu_set_singleshot_timer: timeout_abs_ns @0; flags @8; size 12 / 16.
// register_*_memory_area:    a 32-bit caller's handle is the low 4 bytes.
struct VcpuOpAbi : BothAbis {
    long vcpu_op(std::uint64_t cmd, std::uint64_t vcpu, std::uint64_t arg = 0,
                 unsigned caller = 0) {
        return abi_call(__HYPERVISOR_vcpu_op, cmd, vcpu, arg, caller);
    }
};

TEST_P(VcpuOpAbi, get_runstate_info_when_asked_then_callers_layout_and_nothing_past_it) {
    auto& r = dom.fake_vcpu(1).runstate_;
    r.state = RUNSTATE_blocked;
    r.state_entry_time = 0x1111222233334444;
    for (unsigned i = 0; i < 4; ++i) r.time[i] = 0x100 + i;
    poison(kArg, 64);
    ASSERT_EQ(vcpu_op(VCPUOP_get_runstate_info, 1, kArg), 0);
    EXPECT_EQ(get_uint(kArg, 4), static_cast<std::uint64_t>(RUNSTATE_blocked));
    EXPECT_EQ(get_uint(kArg + at(4, 8), 8), 0x1111222233334444u);
    for (unsigned i = 0; i < 4; ++i)
        EXPECT_EQ(get_uint(kArg + at(12, 16) + 8 * i, 8), 0x100u + i) << i;
    EXPECT_EQ(get_uint(kArg + at(44, 48), 4), 0xa5a5a5a5u);
}

TEST_P(VcpuOpAbi, runstate_area_when_registered_then_address_and_layout_recorded) {
    // A 32-bit guest writes only the handle; the union's upper half is
    // whatever was on its stack.
    put_uint(kArg, 0xdead0000'00005000ull, 8);
    ASSERT_EQ(vcpu_op(VCPUOP_register_runstate_memory_area, 1, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(1).runstate_area, is64() ? 0xdead0000'00005000ull : 0x5000u);
    EXPECT_EQ(dom.fake_vcpu(1).runstate_area_is64, is64());
}

TEST_P(VcpuOpAbi, time_area_when_registered_then_handle_of_callers_width) {
    put_uint(kArg, 0xdead0000'00006000ull, 8);
    if (is64()) {
        EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg), -XEN_EFAULT);
        EXPECT_EQ(dom.fake_vcpu(0).time_area, 0u);
    } else {
        EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg), 0);
        EXPECT_EQ(dom.fake_vcpu(0).time_area, 0x6000u);
    }
    put_uint(kArg, 0x7000, 8);
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(0).time_area, 0x7000u);
}

TEST_P(VcpuOpAbi, singleshot_timer_when_struct_ends_at_end_of_memory_then_read_whole) {
    const std::uint64_t size = at(12, 16);
    const std::uint64_t where = FakeGuest::kRamBytes - size;
    put_uint(where, 1, 8);  // in the past
    put_uint(where + 8, VCPU_SSHOTTMR_future, 4);
    EXPECT_EQ(vcpu_op(VCPUOP_set_singleshot_timer, 0, where), -XEN_ETIME);
    put_uint(where + 8, 0, 4);
    const std::uint64_t when = hypercall::system_time_now() + 1000000000;
    put_uint(where, when, 8);
    EXPECT_EQ(vcpu_op(VCPUOP_set_singleshot_timer, 0, where), 0);
    EXPECT_EQ(dom.fake_vcpu(0).singleshot, hypercall::system_time_to_deadline(when));
}

TEST_P(VcpuOpAbi, same_layout_subops_when_called_then_same_results) {
    // vcpu_register_vcpu_info: mfn @0 (8), offset @8; 16 bytes in both.
    put_uint(kArg, 0x123, 8);
    put_uint(kArg + 8, 64, 4);
    put_uint(kArg + 12, 0, 4);
    EXPECT_EQ(vcpu_op(VCPUOP_register_vcpu_info, 0, kArg), 0);
    EXPECT_EQ(dom.vcpu_info, (std::array<std::uint64_t, 3>{0, 0x123, 64}));
    // vcpu_set_periodic_timer: period_ns @0 (8).
    put_uint(kArg, 2000000, 8);
    EXPECT_EQ(vcpu_op(VCPUOP_set_periodic_timer, 0, kArg), 0);
    EXPECT_EQ(dom.fake_vcpu(0).periodic, std::chrono::nanoseconds(2000000));
    // vcpu_hvm_context: mode @0, x86_32 registers from @8 (120 bytes).
    poison(kArg, 128);
    put_uint(kArg, VCPU_HVM_MODE_32B, 4);
    EXPECT_EQ(vcpu_op(VCPUOP_initialise, 1, kArg), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_up, 1), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_is_up, 1), 1);
    EXPECT_EQ(vcpu_op(VCPUOP_down, 1), 0);
    EXPECT_EQ(vcpu_op(VCPUOP_is_up, 1), 0);
}

INSTANTIATE_TEST_SUITE_P(Abi, VcpuOpAbi, ::testing::Bool(), abi_name);

// The registered area in both layouts, as the vCPU publishes it.
struct RunstateArea : BothAbis {
    vcpu_runstate_info_t info() {
        vcpu_runstate_info_t r{};
        r.state = RUNSTATE_running;
        r.state_entry_time = 0x0000aaaa0000bbbb;
        for (unsigned i = 0; i < 4; ++i) r.time[i] = 10 * (i + 1);
        return r;
    }
};

TEST_P(RunstateArea, write_when_plain_or_flagged_then_callers_layout_final_time_unflagged) {
    hypercall::GuestAccess guest(dom.memory(), paging);
    for (bool flag : {false, true}) {
        poison(kArg, 64);
        ASSERT_TRUE(hypercall::write_runstate_area(guest, kArg, is64(), flag, info()));
        EXPECT_EQ(get_uint(kArg, 4), static_cast<std::uint64_t>(RUNSTATE_running));
        EXPECT_EQ(get_uint(kArg + at(4, 8), 8), 0x0000aaaa0000bbbbu);  // no UPDATE bit left
        EXPECT_EQ(get_uint(kArg + at(12, 16) + 24, 8), 40u);
        EXPECT_EQ(get_uint(kArg + at(44, 48), 4), 0xa5a5a5a5u);
    }
    EXPECT_FALSE(hypercall::write_runstate_area(guest, kBad, is64(), true, info()));
}

INSTANTIATE_TEST_SUITE_P(Abi, RunstateArea, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
