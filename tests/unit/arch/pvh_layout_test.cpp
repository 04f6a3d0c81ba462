#include "arch/x86/pvh_layout.hpp"

#include <gtest/gtest.h>

#include <xen/arch-x86/hvm/start_info.h>

namespace xenolith::x86 {
namespace {

constexpr std::uint64_t MiB = 1ull << 20, GiB = 1ull << 30;
constexpr std::uint32_t kRam = XEN_HVM_MEMMAP_TYPE_RAM;
constexpr std::uint32_t kRes = XEN_HVM_MEMMAP_TYPE_RESERVED;
constexpr std::uint32_t kAcpi = XEN_HVM_MEMMAP_TYPE_ACPI;

std::uint64_t ram_total(const std::vector<MemmapEntry>& map) {
    std::uint64_t sum = 0;
    for (const auto& e : map)
        if (e.type == kRam) sum += e.size;
    return sum;
}

TEST(PvhLayout, small_guest_has_low_ram_holes_and_ram_from_1mib) {
    const auto map = pvh_memory_map(256 * MiB);
    const std::vector<MemmapEntry> want{
        {0, 0xa0000, kRam},
        {0xa0000, 0x40000, kRes},
        {0xe0000, 0x20000, kAcpi},
        {MiB, 255 * MiB, kRam},
        {0xfec00000, 0x1000, kRes},
        {0xfee00000, 0x1000, kRes},
    };
    EXPECT_EQ(map, want);
    // The 384 KiB window at 640K is backed but not reported as RAM.
    EXPECT_EQ(ram_total(map), 256 * MiB - 0x60000);
}

TEST(PvhLayout, large_guest_continues_above_4gib) {
    const auto map = pvh_memory_map(8 * GiB);
    ASSERT_EQ(map.size(), 7u);
    EXPECT_EQ(map[3], (MemmapEntry{MiB, 0xf0000000 - MiB, kRam}));
    EXPECT_EQ(map[6], (MemmapEntry{4 * GiB, 8 * GiB - 0xf0000000, kRam}));
    EXPECT_EQ(ram_total(map), 8 * GiB - 0x60000);
}

TEST(PvhLayout, entries_are_sorted_and_disjoint) {
    const std::uint64_t sizes[] = {4 * MiB, 3 * GiB, 0xf0000000, 0xf0000000 + 2 * MiB, 64 * GiB};
    for (std::uint64_t ram : sizes) {
        const auto map = pvh_memory_map(ram);
        for (std::size_t i = 1; i < map.size(); ++i)
            EXPECT_LE(map[i - 1].addr + map[i - 1].size, map[i].addr) << ram;
    }
}

TEST(PvhLayout, exactly_the_low_limit_has_no_high_ram) {
    const auto map = pvh_memory_map(0xf0000000);
    EXPECT_EQ(map.back(), (MemmapEntry{0xfee00000, 0x1000, kRes}));
}

TEST(PvhLayout, extra_entries_are_merged_in_order) {
    const MemmapEntry special{0xfebf0000, 16 * 4096, kRes};
    const auto map = pvh_memory_map(1 * GiB, std::span(&special, 1));
    ASSERT_EQ(map.size(), 7u);
    EXPECT_EQ(map[4], special);
    EXPECT_EQ(map[5].addr, 0xfec00000u);
}

TEST(PvhLayout, backed_ranges_cover_low_window_and_high_ram) {
    EXPECT_EQ(pvh_backed_ranges(256 * MiB), (std::vector<BackedRange>{{0, 256 * MiB}}));
    EXPECT_EQ(pvh_backed_ranges(8 * GiB),
              (std::vector<BackedRange>{{0, 0xf0000000}, {4 * GiB, 8 * GiB - 0xf0000000}}));
    // Firmware area is always backed, even for a tiny guest.
    EXPECT_EQ(pvh_backed_ranges(512 * 1024), (std::vector<BackedRange>{{0, MiB}}));
}

TEST(PvhLayout, tables_fit_their_reserved_windows) {
    EXPECT_EQ(kStartInfoGpa + kStartInfoMaxBytes, kAcpiGpa);
    EXPECT_EQ(kAcpiGpa + kAcpiMaxBytes, kPvhHighRamStart);
}

}  // namespace
}  // namespace xenolith::x86
