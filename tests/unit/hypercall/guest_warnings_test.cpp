// Once-per-domain warnings are keyed by kind and exact value: no warning
// can silence another, and a flood cannot grow the set without bound.
#include <gtest/gtest.h>

#include "base/guest_warnings.hpp"

namespace xenolith {
namespace {

TEST(GuestWarnings, first_time_when_repeated_then_false) {
    GuestWarnings w;
    EXPECT_TRUE(w.first_time(GuestWarning::unknown_hypercall, 60));
    EXPECT_FALSE(w.first_time(GuestWarning::unknown_hypercall, 60));
}

// The old keys folded port 0x1000 + p and hypercall numbers modulo 4096
// onto the same bits: port 0 silenced hypercall 0's warning.
TEST(GuestWarnings, first_time_when_same_value_other_kind_then_both_warn) {
    GuestWarnings w;
    EXPECT_TRUE(w.first_time(GuestWarning::unhandled_port_io, 0));
    EXPECT_TRUE(w.first_time(GuestWarning::unknown_hypercall, 0));
    EXPECT_TRUE(w.first_time(GuestWarning::unknown_memory_op, 0));
    EXPECT_TRUE(w.first_time(GuestWarning::unknown_vcpu_op, 0));
    EXPECT_TRUE(w.first_time(GuestWarning::unhandled_port_io, 4096));
}

TEST(GuestWarnings, first_time_when_values_differ_in_high_bits_then_both_warn) {
    GuestWarnings w;
    EXPECT_TRUE(w.first_time(GuestWarning::unknown_sched_op, 1));
    EXPECT_TRUE(w.first_time(GuestWarning::unknown_sched_op, (std::uint64_t{1} << 63) | 1));
}

TEST(GuestWarnings, first_time_when_full_then_each_new_kind_still_warns_once) {
    GuestWarnings w;
    for (std::uint64_t i = 0; i < GuestWarnings::kMaxKeys; ++i)
        EXPECT_TRUE(w.first_time(GuestWarning::unhandled_port_io, i));
    // Full: no new port is logged, but a kind never seen still is, once.
    EXPECT_FALSE(w.first_time(GuestWarning::unhandled_port_io, GuestWarnings::kMaxKeys));
    EXPECT_TRUE(w.first_time(GuestWarning::unknown_wrmsr, 0));
    EXPECT_FALSE(w.first_time(GuestWarning::unknown_wrmsr, 1));
}

}  // namespace
}  // namespace xenolith
