#include <gtest/gtest.h>

#include "fake_guest.hpp"
#include "hypercall/system_time.hpp"

namespace xenolith::test {
namespace {

using SetTimerOp = HypercallTest;

TEST_F(SetTimerOp, zero_when_set_then_timer_stopped) {
    EXPECT_EQ(call(__HYPERVISOR_set_timer_op, 0), 0);
    EXPECT_EQ(dom.fake_vcpu(0).singleshot_calls, 1u);
    EXPECT_FALSE(dom.fake_vcpu(0).singleshot);
}

TEST_F(SetTimerOp, deadline_when_64bit_then_from_one_register) {
    EXPECT_EQ(call(__HYPERVISOR_set_timer_op, 123456789, 0xdead), 0);
    EXPECT_EQ(dom.fake_vcpu(0).singleshot, hypercall::system_time_to_deadline(123456789));
}

TEST_F(SetTimerOp, deadline_when_32bit_then_split_low_high) {
    EXPECT_EQ(call(__HYPERVISOR_set_timer_op, 0x89abcdef, 0x1, 0, 0, false), 0);
    EXPECT_EQ(dom.fake_vcpu(0).singleshot, hypercall::system_time_to_deadline(0x189abcdefull));
}

TEST_F(SetTimerOp, far_future_when_set_then_clamped_not_overflowed) {
    EXPECT_EQ(call(__HYPERVISOR_set_timer_op, ~std::uint64_t{0}), 0);
    ASSERT_TRUE(dom.fake_vcpu(0).singleshot);
    EXPECT_GT(*dom.fake_vcpu(0).singleshot, std::chrono::steady_clock::now());
}

TEST_F(SetTimerOp, any_vcpu_when_called_then_only_its_own_timer) {
    EXPECT_EQ(call(__HYPERVISOR_set_timer_op, 5000, 0, 0, 1), 0);
    EXPECT_EQ(dom.fake_vcpu(0).singleshot_calls, 0u);
    EXPECT_EQ(dom.fake_vcpu(1).singleshot_calls, 1u);
}

}  // namespace
}  // namespace xenolith::test
