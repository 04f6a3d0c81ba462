#include <gtest/gtest.h>

#include "domain/pvclock.hpp"

namespace xenolith::domain {
namespace {

TEST(Pvclock, a_guest_read_at_the_timestamp_is_the_system_time) {
    vcpu_time_info_t t{};
    write_vcpu_time(t, 1000000, 5000000000ull, pvclock_scale(3000000, true));
    EXPECT_EQ(read_vcpu_time(t, 1000000), 5000000000ull);
    EXPECT_EQ(t.version % 2, 0u);
    EXPECT_EQ(t.flags, XEN_PVCLOCK_TSC_STABLE_BIT);
}

TEST(Pvclock, one_second_of_tsc_is_one_second_of_system_time) {
    for (std::uint64_t khz : {1000000ull, 2100000ull, 2995123ull, 3600000ull, 24000ull}) {
        vcpu_time_info_t t{};
        write_vcpu_time(t, 777, 0, pvclock_scale(khz, false));
        const std::uint64_t ns = read_vcpu_time(t, 777 + khz * 1000);
        EXPECT_NEAR(static_cast<double>(ns), 1e9, 2.0) << khz;
    }
}

TEST(Pvclock, updates_keep_time_monotonic_and_versions_even) {
    vcpu_time_info_t t{};
    const auto scale = pvclock_scale(2000000, true);
    write_vcpu_time(t, 0, 0, scale);
    const std::uint64_t before = read_vcpu_time(t, 2000000000ull);  // 1 s later
    write_vcpu_time(t, 2000000000ull, 1000000000ull, scale);
    EXPECT_GE(read_vcpu_time(t, 2000000001ull), before);
    EXPECT_EQ(t.version, 4u);
}

TEST(Pvclock, wallclock_is_published_with_an_even_version) {
    shared_info_t s{};
    write_wallclock(s, 1700000000123456789ll);
    EXPECT_EQ(s.wc_sec, 1700000000u);
    EXPECT_EQ(s.wc_nsec, 123456789u);
    EXPECT_EQ(s.wc_version % 2, 0u);
}

}  // namespace
}  // namespace xenolith::domain
