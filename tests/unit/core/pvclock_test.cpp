#include <cstring>
#include <initializer_list>
#include <utility>

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
    write_wallclock(s, evtchn::SharedInfoLayout::native64, 1700000000123456789ll);
    EXPECT_EQ(s.wc_sec, 1700000000u);
    EXPECT_EQ(s.wc_nsec, 123456789u);
    EXPECT_EQ(s.wc_version % 2, 0u);
}

// The wall clock at byte offsets worked out by hand from the x86-64 and
// i386 rules (never through the structs under test), in a page filled
// with a pattern so a field written anywhere else shows.
class WallclockLayout : public ::testing::Test {
protected:
    static constexpr std::int64_t kWall = (std::int64_t{0x1'2345'6789} * 1000000000) + 987654321;

    std::uint32_t u32(std::size_t off) const {
        std::uint32_t v;
        std::memcpy(&v, page + off, 4);
        return v;
    }
    // Every byte outside [off, off + len) of the listed ranges is the pattern.
    void expect_untouched_except(std::initializer_list<std::pair<std::size_t, std::size_t>> ranges) {
        for (std::size_t i = 0; i < sizeof page; ++i) {
            bool inside = false;
            for (auto [off, len] : ranges) inside |= i >= off && i < off + len;
            if (!inside) {
                EXPECT_EQ(page[i], 0xa5) << "byte " << i;
            }
        }
    }
    shared_info_t& shared() { return *reinterpret_cast<shared_info_t*>(page); }

    alignas(4096) std::uint8_t page[4096];
    void SetUp() override { std::memset(page, 0xa5, sizeof page); }
};

TEST_F(WallclockLayout, native_when_written_then_at_3072_with_sec_hi_at_3084) {
    write_wallclock(shared(), evtchn::SharedInfoLayout::native64, kWall);
    EXPECT_EQ(u32(3072) % 2, 0u);  // wc_version, even
    EXPECT_EQ(u32(3076), 0x23456789u);
    EXPECT_EQ(u32(3080), 987654321u);
    EXPECT_EQ(u32(3084), 0x1u);
    expect_untouched_except({{3072, 16}});
}

// compat: 2048 of vcpu_info, 128 + 128 of 32-bit pending and mask words,
// then wc_version 2304, wc_sec 2308, wc_nsec 2312; arch_shared_info at
// 2316 is six `unsigned long`s (max_pfn, frame_list_list, nmi_reason,
// p2m_cr3, p2m_vaddr, p2m_generation, 4 bytes each) and wc_sec_hi at 2340.
TEST_F(WallclockLayout, compat_when_written_then_at_2304_with_sec_hi_at_2340) {
    write_wallclock(shared(), evtchn::SharedInfoLayout::compat32, kWall);
    EXPECT_EQ(u32(2304) % 2, 0u);
    EXPECT_EQ(u32(2308), 0x23456789u);
    EXPECT_EQ(u32(2312), 987654321u);
    EXPECT_EQ(u32(2340), 0x1u);
    expect_untouched_except({{2304, 12}, {2340, 4}});
}

TEST_F(WallclockLayout, version_when_rewritten_then_advances_by_two_and_stays_even) {
    std::memset(page + 2304, 0, 4);
    write_wallclock(shared(), evtchn::SharedInfoLayout::compat32, kWall);
    write_wallclock(shared(), evtchn::SharedInfoLayout::compat32, kWall + 1);
    EXPECT_EQ(u32(2304), 4u);
    EXPECT_EQ(u32(2312), 987654322u);
}

}  // namespace
}  // namespace xenolith::domain
