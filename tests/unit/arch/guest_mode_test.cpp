#include "arch/x86/guest_mode.hpp"

#include <gtest/gtest.h>

namespace xenolith::x86 {
namespace {

constexpr std::uint64_t kPe = 1, kPg = 1ull << 31, kLme = 1ull << 8, kLma = 1ull << 10;
constexpr std::uint64_t kVm = 1ull << 17;

static_assert(decode_guest_mode(0, 0, false, false, 0) == GuestMode::kReal);

TEST(GuestMode, pe_clear_is_real_mode_whatever_else) {
    EXPECT_EQ(decode_guest_mode(0, 0, true, true, kVm), GuestMode::kReal);
}

TEST(GuestMode, protected_mode_follows_cs_db) {
    EXPECT_EQ(decode_guest_mode(kPe, 0, false, true, 0), GuestMode::kProtected32);
    EXPECT_EQ(decode_guest_mode(kPe, 0, false, false, 0), GuestMode::kProtected16);
    EXPECT_EQ(decode_guest_mode(kPe | kPg, 0, false, true, 0), GuestMode::kProtected32);
}

TEST(GuestMode, rflags_vm_is_vm86) {
    EXPECT_EQ(decode_guest_mode(kPe, 0, false, false, kVm | 2), GuestMode::kVm86);
}

TEST(GuestMode, long_mode_needs_lma_and_cs_l) {
    EXPECT_EQ(decode_guest_mode(kPe | kPg, kLme | kLma, true, false, 0), GuestMode::kLong64);
    EXPECT_EQ(decode_guest_mode(kPe | kPg, kLme | kLma, false, true, 0), GuestMode::kCompat32);
    EXPECT_EQ(decode_guest_mode(kPe | kPg, kLme | kLma, false, false, 0), GuestMode::kCompat16);
    // LME without LMA (paging not yet on) is still legacy protected mode.
    EXPECT_EQ(decode_guest_mode(kPe, kLme, true, true, 0), GuestMode::kProtected32);
}

TEST(GuestMode, only_64bit_mode_uses_64bit_abi) {
    EXPECT_EQ(hypercall_abi(GuestMode::kLong64), HypercallAbi::k64);
    for (auto m : {GuestMode::kReal, GuestMode::kVm86, GuestMode::kProtected16,
                   GuestMode::kProtected32, GuestMode::kCompat16, GuestMode::kCompat32})
        EXPECT_EQ(hypercall_abi(m), HypercallAbi::k32);
}

TEST(GuestMode, permission_follows_xen) {
    EXPECT_TRUE(hypercall_permitted(GuestMode::kReal, 3));
    EXPECT_FALSE(hypercall_permitted(GuestMode::kVm86, 0));
    EXPECT_TRUE(hypercall_permitted(GuestMode::kLong64, 0));
    EXPECT_FALSE(hypercall_permitted(GuestMode::kLong64, 3));
    EXPECT_FALSE(hypercall_permitted(GuestMode::kProtected32, 1));
}

struct FakeRegs {
    std::uint64_t rax, rbx, rcx, rdx, rsi, rdi, r8, r10;
};

TEST(GuestMode, args_64bit_come_from_rdi_rsi_rdx_r10_r8) {
    const FakeRegs r{0x1'0000'001d, 1, 2, 3, 4, 5, 6, 7};
    const auto a = hypercall_args(r, HypercallAbi::k64);
    EXPECT_EQ(a.nr, 0x1'0000'001du);
    EXPECT_EQ(a.arg, (std::array<std::uint64_t, 5>{5, 4, 3, 7, 6}));
}

TEST(GuestMode, args_32bit_come_from_ebx_ecx_edx_esi_edi_truncated) {
    const FakeRegs r{0xffff'ffff'0000'001d, 0x1'0000'0001, 2, 3, 4, 0xdead'0000'0005, 6, 7};
    const auto a = hypercall_args(r, HypercallAbi::k32);
    EXPECT_EQ(a.nr, 0x1du);
    EXPECT_EQ(a.arg, (std::array<std::uint64_t, 5>{1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace xenolith::x86
