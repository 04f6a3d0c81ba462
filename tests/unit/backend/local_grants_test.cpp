#include <gtest/gtest.h>

#include <cstring>

#include "backend/local_grants.hpp"

using namespace xenolith::backend;

namespace {
constexpr DomId kFront = 5, kBack = 0;
}

TEST(LocalGrants, granted_frames_when_mapped_then_same_memory_contiguous) {
    LocalGrantTable gt(kFront, kBack, 8, 16);
    gt.grant(1, 3, false);
    gt.grant(2, 6, false);
    std::memcpy(gt.page(3), "three", 6);
    GrantRef refs[] = {1, 2};
    auto [m, st] = gt.map(kFront, refs, true);
    ASSERT_EQ(st, GNTST_okay);
    EXPECT_STREQ(reinterpret_cast<char*>(m.data()), "three");
    std::memcpy(m.data() + 4096, "six", 4);
    EXPECT_STREQ(reinterpret_cast<char*>(gt.page(6)), "six");
    EXPECT_EQ(gt.mapped_pages(), 2u);
    m.reset();
    EXPECT_EQ(gt.mapped_pages(), 0u);
}

TEST(LocalGrants, bad_entries_when_mapped_then_xen_status_codes) {
    LocalGrantTable gt(kFront, kBack, 8, 16);
    gt.grant(1, 3, true);
    gt.grant_to(2, 3, 9, GTF_permit_access);  // granted to someone else
    gt.grant(3, 100, false);                  // frame outside the guest
    GrantRef ro[] = {1}, other[] = {2}, outside[] = {3}, unset[] = {4}, range[] = {16};
    EXPECT_EQ(gt.map(kFront, ro, true).second, GNTST_general_error);
    EXPECT_EQ(gt.map(kFront, ro, false).second, GNTST_okay);
    EXPECT_EQ(gt.map(kFront, other, false).second, GNTST_general_error);
    EXPECT_EQ(gt.map(kFront, outside, false).second, GNTST_bad_page);
    EXPECT_EQ(gt.map(kFront, unset, false).second, GNTST_general_error);
    EXPECT_EQ(gt.map(kFront, range, false).second, GNTST_bad_gntref);
    EXPECT_EQ(gt.map(7, ro, false).second, GNTST_bad_domain);
    EXPECT_EQ(gt.mapped_pages(), 0u);
}

TEST(LocalGrants, readonly_grant_when_mapped_then_writes_fault) {
    LocalGrantTable gt(kFront, kBack, 2, 4);
    gt.grant(0, 1, true);
    auto write_through_mapping = [&gt] {
        GrantRef refs[] = {0};
        auto [m, st] = gt.map(kFront, refs, false);
        if (st != GNTST_okay) std::exit(0);  // surviving fails the test
        *reinterpret_cast<volatile char*>(m.data()) = 1;
        std::exit(0);
    };
    // A plain SIGSEGV, or AddressSanitizer's report of it in ASan builds.
    EXPECT_DEATH(write_through_mapping(), "");
}

TEST(LocalGrants, copy_when_ops_mix_good_and_bad_then_status_per_op) {
    LocalGrantTable gt(kFront, kBack, 4, 8);
    gt.grant(1, 2, false);
    gt.grant(2, 3, true);
    std::memcpy(gt.page(2) + 100, "hello", 6);
    char local[16] = {};
    CopyOp ops[3];
    ops[0].source = CopyPlace{true, kFront, 1, 100, nullptr};
    ops[0].dest = CopyPlace{false, 0, 0, 0, reinterpret_cast<std::byte*>(local)};
    ops[0].len = 6;
    ops[1].source = CopyPlace{false, 0, 0, 0, reinterpret_cast<std::byte*>(local)};
    ops[1].dest = CopyPlace{true, kFront, 2, 0, nullptr};  // read-only grant
    ops[1].len = 6;
    ops[2].source = CopyPlace{true, kFront, 1, 4000, nullptr};  // crosses the frame
    ops[2].dest = CopyPlace{false, 0, 0, 0, reinterpret_cast<std::byte*>(local)};
    ops[2].len = 200;
    gt.copy(ops);
    EXPECT_EQ(ops[0].status, GNTST_okay);
    EXPECT_STREQ(local, "hello");
    EXPECT_EQ(ops[1].status, GNTST_general_error);
    EXPECT_EQ(ops[2].status, GNTST_bad_copy_arg);
}

TEST(LocalGrants, consecutive_and_scattered_frames_when_mapped_together_then_each_page_right) {
    LocalGrantTable gt(kFront, kBack, 16, 16);
    std::size_t frames[] = {4, 5, 6, 9, 2, 3};
    GrantRef refs[6];
    for (GrantRef i = 0; i < 6; ++i) {
        gt.grant(i, frames[i], false);
        refs[i] = i;
        std::memset(gt.page(frames[i]), static_cast<int>('a' + frames[i]), 4096);
    }
    auto [m, st] = gt.map(kFront, refs, false);
    ASSERT_EQ(st, GNTST_okay);
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_EQ(static_cast<char>(m.data()[i * 4096]), static_cast<char>('a' + frames[i])) << i;
        EXPECT_EQ(static_cast<char>(m.data()[i * 4096 + 4095]), static_cast<char>('a' + frames[i])) << i;
    }
}

TEST(LocalGrants, pins_when_acquired_then_gtf_flags_as_xen_until_the_last_release) {
    LocalGrantTable gt(kFront, kBack, 8, 16);
    gt.grant(1, 3, false);
    gt.grant(2, 4, true);
    std::size_t frame = 0;
    ASSERT_EQ(gt.acquire(1, false, &frame), GNTST_okay);
    EXPECT_EQ(frame, 3u);
    EXPECT_EQ(gt.flags(1), GTF_permit_access | GTF_reading);
    ASSERT_EQ(gt.acquire(1, true, &frame), GNTST_okay);
    EXPECT_EQ(gt.flags(1), GTF_permit_access | GTF_reading | GTF_writing);
    EXPECT_EQ(gt.acquire(2, true, &frame), GNTST_general_error) << "read-only grant";
    EXPECT_EQ(gt.acquire(9, false, &frame), GNTST_general_error) << "not granted";
    EXPECT_EQ(gt.acquire(16, false, &frame), GNTST_bad_gntref);
    EXPECT_EQ(gt.pins_held(), 2u);
    gt.release(1, true);
    EXPECT_EQ(gt.flags(1), GTF_permit_access | GTF_reading);
    gt.release(1, true);  // not held: nothing happens
    EXPECT_EQ(gt.pins_held(), 1u);
    gt.release(1, false);
    EXPECT_EQ(gt.flags(1), GTF_permit_access);
    gt.set_pin_limit(0);
    EXPECT_EQ(gt.acquire(1, false, &frame), GNTST_no_space);
}
