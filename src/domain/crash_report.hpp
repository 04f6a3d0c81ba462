// Guest crash reports for `xl dmesg`, laid out like Xen's register dump
// (xen/arch/x86/x86_64/traps.c): CS:RIP, RFLAGS with the guest context,
// general registers three a line, control registers, segments, then the
// code at RIP disassembled in the mode CS selects and the top of the stack.
// Pure: the vCPU thread gathers a CrashState, this only formats it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <linux/kvm.h>

namespace xenolith::domain {

enum class CrashExit { triple_fault, internal_error, fail_entry, other };

// The execution mode CS (with CR0.PE and EFER.LMA) selects, which is the
// mode the instruction bytes at RIP must be decoded in.
enum class CodeMode { real, bits16, bits32, bits64 };

struct CrashState {
    unsigned domid = 0;
    unsigned vcpu = 0;
    CrashExit exit = CrashExit::other;
    std::uint32_t exit_reason = 0;  // KVM_EXIT_*, for CrashExit::other
    kvm_regs regs{};
    kvm_sregs sregs{};
    std::uint64_t kernel_gs_base = 0;  // MSR_KERNEL_GS_BASE, Xen's "gss"
    // KVM_EXIT_INTERNAL_ERROR: suberror and its ndata words.
    std::uint32_t suberror = 0;
    std::vector<std::uint64_t> internal_data;
    // KVM_EXIT_FAIL_ENTRY: the VMX/SVM entry failure reason and host CPU.
    std::uint64_t hardware_entry_failure_reason = 0;
    std::uint32_t fail_entry_cpu = 0;
    // Bytes readable at CS.base+RIP through the guest's page tables (empty:
    // none mapped); stack words read at SS.base+RSP (in the mode's width).
    std::vector<std::uint8_t> code;
    std::vector<std::uint64_t> stack;
};

CodeMode code_mode(const kvm_sregs& sregs);
// Linear addresses of CS:RIP and SS:RSP (segment bases apply outside 64-bit
// mode, where addresses wrap at 4 GiB).
std::uint64_t code_linear(const kvm_regs& regs, const kvm_sregs& sregs);
std::uint64_t stack_linear(const kvm_regs& regs, const kvm_sregs& sregs);
// Width of a stack word in `mode`: 8, 4 or 2 bytes.
unsigned stack_word_bytes(CodeMode mode);
const char* code_mode_name(CodeMode mode);

// One line per entry, without newlines.
std::vector<std::string> format_crash_report(const CrashState& state);

}  // namespace xenolith::domain
