#include "arch/x86/pagewalk.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace xenolith::x86 {
namespace {

constexpr std::uint64_t kP = 1, kRW = 2, kUS = 4, kPS = 0x80, kNX = 1ull << 63;
constexpr std::uint64_t kPE = 1, kWP = 1ull << 16, kPG = 1ull << 31;
constexpr std::uint64_t kPSE = 1ull << 4, kPAE = 1ull << 5, kLA57 = 1ull << 12;
constexpr std::uint64_t kLME = 1ull << 8, kLMA = 1ull << 10, kNXE = 1ull << 11;
constexpr Access kRead{};
constexpr Access kWrite{true, false};
constexpr Access kUserRead{false, true};
constexpr Access kUserWrite{true, true};

// 1 MiB of guest-physical memory holding page tables; reads beyond fail.
class Memory {
public:
    Memory() : bytes_(1 << 20, 0) {}
    void put64(std::uint64_t gpa, std::uint64_t v) { std::memcpy(&bytes_.at(gpa + 7) - 7, &v, 8); }
    void put32(std::uint64_t gpa, std::uint32_t v) { std::memcpy(&bytes_.at(gpa + 3) - 3, &v, 4); }

    std::optional<std::uint64_t> operator()(std::uint64_t gpa, unsigned size) {
        ++reads;
        if (gpa >= bytes_.size() || bytes_.size() - gpa < size) return std::nullopt;
        std::uint64_t v = 0;
        std::memcpy(&v, bytes_.data() + gpa, size);
        return v;
    }
    int reads = 0;

private:
    std::vector<std::uint8_t> bytes_;
};

WalkResult walk(Memory& m, const PagingState& s, std::uint64_t la, Access a = kRead,
                unsigned maxphy = 52) {
    return translate_linear(s, la, a, m, maxphy);
}

// ---- paging off ----

TEST(PageWalk, paging_off_is_identity_within_32_bits) {
    Memory m;
    const PagingState s{kPE, 0, 0, 0};
    const auto r = walk(m, s, 0x12345678, kWrite);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x12345678u);
    EXPECT_EQ(r.translation.page_size, 4096u);
    EXPECT_EQ(m.reads, 0);
    EXPECT_EQ(walk(m, s, 0x1'0000'0000).fault, WalkFault::kNonCanonical);
}

// ---- 32-bit 2-level ----

PagingState two_level(std::uint64_t cr4 = 0, std::uint64_t cr0_extra = kWP) {
    return {kPE | kPG | cr0_extra, 0x1000, cr4, 0};
}

TEST(PageWalk, two_level_4k_page) {
    Memory m;
    const std::uint64_t la = 0x00c0'3abc;  // PDE 3, PTE 3
    m.put32(0x1000 + 3 * 4, 0x2000 | kP | kRW);
    m.put32(0x2000 + 3 * 4, 0x0055'5000 | kP | kRW);
    const auto r = walk(m, two_level(), la, kWrite);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x0055'5abcu);
    EXPECT_EQ(r.translation.page_size, 4096u);
    EXPECT_TRUE(r.translation.writable);
    EXPECT_FALSE(r.translation.user);
}

TEST(PageWalk, two_level_pse_4m_page_with_pse36_high_bits) {
    Memory m;
    const std::uint64_t la = 0x0123'4567;  // PDE 4
    m.put32(0x1000 + 4 * 4, 0x0840'0000 | (0x5u << 13) | kPS | kP);
    const auto r = walk(m, two_level(kPSE), la);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x5'0840'0000ull | (la & 0x3f'ffff));
    EXPECT_EQ(r.translation.page_size, 4u << 20);
    // PSE-36 bits above maxphyaddr are reserved.
    EXPECT_EQ(walk(m, two_level(kPSE), la, kRead, 34).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, two_level_pse_bit21_is_reserved) {
    Memory m;
    m.put32(0x1000, 0x0040'0000 | (1u << 21) | kPS | kP);
    EXPECT_EQ(walk(m, two_level(kPSE), 0x1000).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, two_level_ps_ignored_without_cr4_pse) {
    Memory m;
    m.put32(0x1000, 0x3000 | kPS | kP);
    m.put32(0x3000 + 1 * 4, 0x7000 | kP);
    const auto r = walk(m, two_level(0), 0x1010);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x7010u);
}

TEST(PageWalk, two_level_not_present) {
    Memory m;
    EXPECT_EQ(walk(m, two_level(), 0x1000).fault, WalkFault::kNotPresent);
    m.put32(0x1000, 0x2000 | kP);
    EXPECT_EQ(walk(m, two_level(), 0x1000).fault, WalkFault::kNotPresent);
}

TEST(PageWalk, supervisor_write_to_read_only_depends_on_cr0_wp) {
    Memory m;
    m.put32(0x1000, 0x2000 | kP | kRW);
    m.put32(0x2000, 0x9000 | kP);  // read-only PTE
    EXPECT_EQ(walk(m, two_level(0, kWP), 0x10, kWrite).fault, WalkFault::kWriteProtected);
    const auto r = walk(m, two_level(0, 0), 0x10, kWrite);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.translation.writable);
    EXPECT_TRUE(walk(m, two_level(0, kWP), 0x10, kRead).ok());
}

TEST(PageWalk, user_access_needs_us_on_every_level_and_rw_regardless_of_wp) {
    Memory m;
    m.put32(0x1000, 0x2000 | kP | kRW | kUS);
    m.put32(0x2000, 0x9000 | kP | kUS);  // user, read-only
    EXPECT_TRUE(walk(m, two_level(0, 0), 0x10, kUserRead).ok());
    EXPECT_EQ(walk(m, two_level(0, 0), 0x10, kUserWrite).fault, WalkFault::kWriteProtected);
    m.put32(0x1000, 0x2000 | kP | kRW);  // supervisor PDE
    EXPECT_EQ(walk(m, two_level(0, 0), 0x10, kUserRead).fault, WalkFault::kUserProtected);
}

TEST(PageWalk, two_level_ignores_address_above_4g) {
    Memory m;
    EXPECT_EQ(walk(m, two_level(), 0x1'0000'1000).fault, WalkFault::kNonCanonical);
}

// ---- PAE ----

PagingState pae(std::uint64_t efer = kNXE) { return {kPE | kPG | kWP, 0x1020, kPAE, efer}; }

void map_pae_4k(Memory& m, std::uint64_t la, std::uint64_t gpa, std::uint64_t leaf_flags) {
    // PDPT at 0x1020 (32-byte aligned), PD at 0x3000, PT at 0x4000.
    m.put64(0x1020 + ((la >> 30) & 3) * 8, 0x3000 | kP);
    m.put64(0x3000 + ((la >> 21) & 511) * 8, 0x4000 | kP | kRW | kUS);
    m.put64(0x4000 + ((la >> 12) & 511) * 8, gpa | leaf_flags);
}

TEST(PageWalk, pae_4k_page) {
    Memory m;
    const std::uint64_t la = 0xc012'3456;
    map_pae_4k(m, la, 0xf'1234'5000, kP | kRW | kNX);
    const auto r = walk(m, pae(), la, kWrite);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0xf'1234'5456u);
    EXPECT_EQ(m.reads, 3);
}

TEST(PageWalk, pae_2m_page) {
    Memory m;
    const std::uint64_t la = 0x4060'1234;  // PDPTE 1, PDE 3
    m.put64(0x1020 + 8, 0x3000 | kP);
    m.put64(0x3000 + 3 * 8, 0x8000'0000 | (1u << 12) /* PAT */ | kPS | kP);
    const auto r = walk(m, pae(), la);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x8000'0000u | (la & 0x1f'ffff));
    EXPECT_EQ(r.translation.page_size, 2u << 20);
    m.put64(0x3000 + 3 * 8, 0x8000'0000 | (1u << 13) | kPS | kP);
    EXPECT_EQ(walk(m, pae(), la).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, pae_pdpte_reserved_bits) {
    Memory m;
    map_pae_4k(m, 0, 0x5000, kP);
    EXPECT_TRUE(walk(m, pae(), 0).ok());
    for (std::uint64_t bit : {kRW, kUS, kPS, kNX, std::uint64_t{1} << 60}) {
        m.put64(0x1020, 0x3000 | kP | bit);
        EXPECT_EQ(walk(m, pae(), 0).fault, WalkFault::kReservedBit) << std::hex << bit;
    }
}

TEST(PageWalk, pae_nx_is_reserved_without_efer_nxe) {
    Memory m;
    map_pae_4k(m, 0, 0x5000, kP | kNX);
    EXPECT_TRUE(walk(m, pae(kNXE), 0).ok());
    EXPECT_EQ(walk(m, pae(0), 0).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, pae_bits_above_maxphyaddr_are_reserved) {
    Memory m;
    map_pae_4k(m, 0, 1ull << 40, kP);
    EXPECT_TRUE(walk(m, pae(), 0, kRead, 46).ok());
    EXPECT_EQ(walk(m, pae(), 0, kRead, 36).fault, WalkFault::kReservedBit);
}

// ---- 4-level and 5-level ----

PagingState long4(std::uint64_t cr3 = 0x1000) {
    return {kPE | kPG | kWP, cr3, kPAE, kLME | kLMA | kNXE};
}
PagingState long5() { return {kPE | kPG | kWP, 0x1000, kPAE | kLA57, kLME | kLMA | kNXE}; }

std::uint64_t idx(std::uint64_t la, unsigned level) { return (la >> (12 + 9 * (level - 1))) & 511; }

// Tables for `levels` levels at 0x1000, 0x2000, ... ending in a 4K page.
void map_long(Memory& m, unsigned levels, std::uint64_t la, std::uint64_t leaf) {
    std::uint64_t table = 0x1000;
    for (unsigned level = levels; level > 1; --level) {
        const std::uint64_t next = table + 0x1000;
        m.put64(table + idx(la, level) * 8, next | kP | kRW | kUS);
        table = next;
    }
    m.put64(table + idx(la, 1) * 8, leaf);
}

TEST(PageWalk, long_mode_4k_page_in_high_half) {
    Memory m;
    const std::uint64_t la = 0xffff'8000'1234'5678;
    map_long(m, 4, la, 0x7'0000'0000 | kP | kRW | kNX);
    const auto r = walk(m, long4(), la, kWrite);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x7'0000'0678u);
    EXPECT_EQ(m.reads, 4);
}

TEST(PageWalk, long_mode_cr3_low_bits_pcid_are_ignored) {
    Memory m;
    map_long(m, 4, 0x5000, 0x9000 | kP);
    EXPECT_TRUE(walk(m, long4(0x1000 | 0x7ff), 0x5000).ok());
}

TEST(PageWalk, long_mode_2m_and_1g_pages) {
    Memory m;
    const std::uint64_t la = 0x0000'0040'4030'2010;
    m.put64(0x1000 + idx(la, 4) * 8, 0x2000 | kP | kRW);
    m.put64(0x2000 + idx(la, 3) * 8, 0x3000 | kP | kRW);
    m.put64(0x3000 + idx(la, 2) * 8, 0x1'0000'0000 | kPS | kP | kRW);
    auto r = walk(m, long4(), la);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x1'0000'0000u | (la & 0x1f'ffff));
    EXPECT_EQ(r.translation.page_size, 2u << 20);

    m.put64(0x2000 + idx(la, 3) * 8, 0x40'0000'0000 | (1u << 12) | kPS | kP | kRW);
    r = walk(m, long4(), la);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x40'0000'0000u | (la & 0x3fff'ffff));
    EXPECT_EQ(r.translation.page_size, 1u << 30);

    // 1 GiB page address bits 29:13 must be zero.
    m.put64(0x2000 + idx(la, 3) * 8, 0x40'0000'0000 | (1u << 20) | kPS | kP);
    EXPECT_EQ(walk(m, long4(), la).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, long_mode_ps_in_pml4e_is_reserved) {
    Memory m;
    m.put64(0x1000, 0x2000 | kPS | kP);
    EXPECT_EQ(walk(m, long4(), 0).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, long_mode_non_canonical) {
    Memory m;
    EXPECT_EQ(walk(m, long4(), 0x0000'8000'0000'0000).fault, WalkFault::kNonCanonical);
    EXPECT_EQ(walk(m, long4(), 0xffff'0000'0000'0000).fault, WalkFault::kNonCanonical);
    EXPECT_EQ(m.reads, 0);
}

TEST(PageWalk, long_mode_reserved_address_bits_and_nx) {
    Memory m;
    map_long(m, 4, 0, (1ull << 45) | kP);
    EXPECT_TRUE(walk(m, long4(), 0).ok());
    EXPECT_EQ(walk(m, long4(), 0, kRead, 40).fault, WalkFault::kReservedBit);
    // Bits 62:52 are ignored (software available / protection keys).
    map_long(m, 4, 0, 0x9000 | (0x7ffull << 52) | kP);
    EXPECT_TRUE(walk(m, long4(), 0).ok());
    PagingState no_nxe = long4();
    no_nxe.efer &= ~kNXE;
    map_long(m, 4, 0, 0x9000 | kNX | kP);
    EXPECT_EQ(walk(m, no_nxe, 0).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, long_mode_without_pae_is_rejected) {
    Memory m;
    PagingState s = long4();
    s.cr4 = 0;
    EXPECT_EQ(walk(m, s, 0).fault, WalkFault::kReservedBit);
}

TEST(PageWalk, five_level_walks_five_tables_and_widens_canonical_range) {
    Memory m;
    const std::uint64_t la = 0xff12'3456'789a'b000;  // canonical only with LA57
    map_long(m, 5, la, 0x8000 | kP);
    EXPECT_EQ(walk(m, long4(), la).fault, WalkFault::kNonCanonical);
    m.reads = 0;
    const auto r = walk(m, long5(), la);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.translation.gpa, 0x8000u);
    EXPECT_EQ(m.reads, 5);
    EXPECT_EQ(walk(m, long5(), 0x0100'0000'0000'0000).fault, WalkFault::kNonCanonical);
}

TEST(PageWalk, permissions_accumulate_over_levels) {
    Memory m;
    const std::uint64_t la = 0x40'0000;
    m.put64(0x1000 + idx(la, 4) * 8, 0x2000 | kP | kUS);  // read-only at the top
    m.put64(0x2000 + idx(la, 3) * 8, 0x3000 | kP | kRW | kUS);
    m.put64(0x3000 + idx(la, 2) * 8, 0x4000 | kP | kRW | kUS);
    m.put64(0x4000 + idx(la, 1) * 8, 0x9000 | kP | kRW | kUS);
    const auto r = walk(m, long4(), la);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.translation.writable);
    EXPECT_TRUE(r.translation.user);
    EXPECT_EQ(walk(m, long4(), la, kWrite).fault, WalkFault::kWriteProtected);
}

// ---- hostile tables ----

TEST(PageWalk, self_referencing_entries_terminate_after_one_read_per_level) {
    Memory m;
    for (std::uint64_t i = 0; i < 512; ++i) m.put64(0x1000 + i * 8, 0x1000 | kP | kRW);
    auto r = walk(m, long5(), 0x1234);
    ASSERT_TRUE(r.ok());  // the "page" is the table itself
    EXPECT_EQ(r.translation.gpa, 0x1234u);
    EXPECT_EQ(m.reads, 5);

    Memory m32;
    for (std::uint64_t i = 0; i < 1024; ++i) m32.put32(0x1000 + i * 4, 0x1000 | kP);
    r = walk(m32, two_level(kPSE), 0xfff'ffff);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(m32.reads, 2);
}

TEST(PageWalk, entries_outside_guest_memory_fault) {
    Memory m;
    EXPECT_EQ(walk(m, long4(0x7'0000'0000), 0).fault, WalkFault::kBadTableAddress);
    m.put64(0x1000, 0xffff'f000 | kP);  // next table outside memory
    EXPECT_EQ(walk(m, long4(), 0).fault, WalkFault::kBadTableAddress);
    EXPECT_EQ(walk(m, two_level(), 0).fault, WalkFault::kBadTableAddress);
    EXPECT_EQ(walk(m, PagingState{kPE | kPG, 0x7fff'f000, kPAE, 0}, 0).fault,
              WalkFault::kBadTableAddress);
}

TEST(PageWalk, reader_can_be_a_plain_lambda) {
    int calls = 0;
    auto none = [&](std::uint64_t, unsigned) -> std::optional<std::uint64_t> {
        ++calls;
        return std::nullopt;
    };
    EXPECT_EQ(translate_linear(long4(), 0, kRead, none).fault, WalkFault::kBadTableAddress);
    EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace xenolith::x86
