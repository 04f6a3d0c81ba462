// The guest's operating mode at a hypercall exit, and what it means for the
// hypercall ABI. As in Xen's hvm_hypercall():
//   - 64-bit mode (EFER.LMA and CS.L): number in RAX, arguments in RDI, RSI,
//     RDX, R10, R8;
//   - every other mode (compatibility, protected 16/32, real): number in EAX,
//     arguments in EBX, ECX, EDX, ESI, EDI, each 32 bits wide;
//   - allowed from CPL 0, and from real mode (hvmloader-style firmware);
//     virtual-8086 mode and CPL > 0 get -EPERM.
#pragma once

#include <array>
#include <cstdint>

namespace xenolith::x86 {

enum class GuestMode : std::uint8_t {
    kReal,         // CR0.PE = 0
    kVm86,         // protected mode with RFLAGS.VM
    kProtected16,  // legacy protected mode, CS.D = 0
    kProtected32,  // legacy protected mode, CS.D = 1
    kCompat16,     // long mode, CS.L = 0, CS.D = 0
    kCompat32,     // long mode, CS.L = 0, CS.D = 1
    kLong64,       // long mode, CS.L = 1
};

enum class HypercallAbi : std::uint8_t { k32, k64 };

// From kvm_sregs (cr0, efer, cs.l, cs.db) and kvm_regs (rflags).
constexpr GuestMode decode_guest_mode(std::uint64_t cr0, std::uint64_t efer, bool cs_l,
                                      bool cs_db, std::uint64_t rflags) {
    constexpr std::uint64_t kCr0Pe = 1ull << 0;
    constexpr std::uint64_t kEferLma = 1ull << 10;
    constexpr std::uint64_t kRflagsVm = 1ull << 17;
    if (!(cr0 & kCr0Pe)) return GuestMode::kReal;
    if (efer & kEferLma) {
        if (cs_l) return GuestMode::kLong64;
        return cs_db ? GuestMode::kCompat32 : GuestMode::kCompat16;
    }
    if (rflags & kRflagsVm) return GuestMode::kVm86;
    return cs_db ? GuestMode::kProtected32 : GuestMode::kProtected16;
}

constexpr HypercallAbi hypercall_abi(GuestMode m) {
    return m == GuestMode::kLong64 ? HypercallAbi::k64 : HypercallAbi::k32;
}

// Whether a hypercall from this mode and privilege level is dispatched.
// `cpl` is SS.DPL (CS.DPL outside real mode); ignored in real mode.
constexpr bool hypercall_permitted(GuestMode m, unsigned cpl) {
    if (m == GuestMode::kReal) return true;
    if (m == GuestMode::kVm86) return false;
    return cpl == 0;
}

struct HypercallArgs {
    std::uint64_t nr = 0;
    std::array<std::uint64_t, 5> arg{};
};

// Reads the hypercall number and arguments from a register file with
// kvm_regs' member names (rax, rbx, rcx, rdx, rsi, rdi, r8, r10).
template <class Regs>
constexpr HypercallArgs hypercall_args(const Regs& r, HypercallAbi abi) {
    if (abi == HypercallAbi::k64) return {r.rax, {r.rdi, r.rsi, r.rdx, r.r10, r.r8}};
    constexpr std::uint64_t k32 = 0xffffffff;
    return {r.rax & k32, {r.rbx & k32, r.rcx & k32, r.rdx & k32, r.rsi & k32, r.rdi & k32}};
}

}  // namespace xenolith::x86
