// The guest crash report from synthetic register state (no guest can
// crash on demand here): layout, CS mode decoding, disassembly through
// Zydis, unavailable memory and KVM's error data.
#include "domain/crash_report.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace xenolith::domain {
namespace {

constexpr std::uint64_t kCr0PePg = 0x80000011;
constexpr std::uint64_t kEferLmeLma = 0x500;

// A present code or data segment (type 11: execute/read, 3: read/write).
kvm_segment segment(std::uint64_t base, std::uint32_t limit, std::uint16_t selector,
                    std::uint8_t type, bool db, bool l, bool g) {
    kvm_segment seg{};
    seg.base = base;
    seg.limit = limit;
    seg.selector = selector;
    seg.type = type;
    seg.present = 1;
    seg.s = 1;
    seg.db = db;
    seg.l = l;
    seg.g = g;
    return seg;
}

CrashState long_mode_state() {
    CrashState s;
    s.domid = 3;
    s.vcpu = 1;
    s.exit = CrashExit::triple_fault;
    s.regs.rip = 0xffffffff81000000;
    s.regs.rsp = 0xffffc90000003f00;
    s.regs.rflags = 0x10246;
    s.regs.rax = 0x1111;
    s.regs.rbx = 0x2222;
    s.regs.rcx = 0x3333;
    s.sregs.cr0 = kCr0PePg;
    s.sregs.cr2 = 0xdead000;
    s.sregs.cr3 = 0x1000;
    s.sregs.cr4 = 0x20;
    s.sregs.efer = kEferLmeLma;
    s.sregs.cs = segment(0, 0xffffffff, 0x10, 11, false, true, true);
    s.sregs.ss.selector = 0x18;
    return s;
}

CrashState protected_mode_state() {
    CrashState s;
    s.exit = CrashExit::internal_error;
    s.regs.rip = 0x100;
    s.regs.rsp = 0x8000;
    s.sregs.cr0 = 0x11;
    s.sregs.cs = segment(0x200000, 0xffffffff, 0x08, 11, true, false, true);
    s.sregs.ss = segment(0x10000, 0xffffffff, 0x10, 3, true, false, true);
    return s;
}

CrashState real_mode_state() {
    CrashState s;
    s.exit = CrashExit::fail_entry;
    s.regs.rip = 0xfff0;
    s.regs.rsp = 0x7c00;
    s.sregs.cr0 = 0x10;
    s.sregs.cs = segment(0xf0000, 0xffff, 0xf000, 11, false, false, false);
    return s;
}

bool has_line(const std::vector<std::string>& lines, const std::string& part) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
}

TEST(CrashReport, code_mode_when_cs_varies_then_matches_cpu_mode) {
    EXPECT_EQ(code_mode(long_mode_state().sregs), CodeMode::bits64);
    EXPECT_EQ(code_mode(protected_mode_state().sregs), CodeMode::bits32);
    EXPECT_EQ(code_mode(real_mode_state().sregs), CodeMode::real);
    auto compat = long_mode_state();
    compat.sregs.cs.l = 0;
    compat.sregs.cs.db = 1;
    EXPECT_EQ(code_mode(compat.sregs), CodeMode::bits32);  // compatibility mode
    auto pm16 = protected_mode_state();
    pm16.sregs.cs.db = 0;
    EXPECT_EQ(code_mode(pm16.sregs), CodeMode::bits16);
}

TEST(CrashReport, long_mode_when_formatted_then_xen_register_layout) {
    auto s = long_mode_state();
    s.kernel_gs_base = 0xabc;
    s.code = {0x90};
    const auto lines = format_crash_report(s);
    const std::string all = joined(lines);
    EXPECT_TRUE(has_line(lines, "RIP:    0010:[<ffffffff81000000>] (64-bit mode)")) << all;
    EXPECT_TRUE(has_line(lines, "RFLAGS: 0000000000010246   CONTEXT: hvm guest (d3v1)")) << all;
    EXPECT_TRUE(has_line(lines, "rax: 0000000000001111   rbx: 0000000000002222   rcx: "
                                "0000000000003333"))
        << all;
    EXPECT_TRUE(has_line(lines, "cr0: 0000000080000011   cr4: 0000000000000020")) << all;
    EXPECT_TRUE(has_line(lines, "cr3: 0000000000001000   cr2: 000000000dead000   efer: "
                                "0000000000000500"))
        << all;
    EXPECT_TRUE(has_line(lines, "gss: 0000000000000abc")) << all;
    EXPECT_TRUE(has_line(lines, "ss: 0018   cs: 0010")) << all;
    EXPECT_TRUE(has_line(lines, "cs: sel 0010 base 0000000000000000 limit ffffffff type b s 1 "
                                "dpl 0 p 1 db 0 l 1 g 1"))
        << all;
    EXPECT_TRUE(has_line(lines, "d3v1 triple fault")) << all;
    EXPECT_TRUE(has_line(lines, "KVM: triple fault")) << all;
}

TEST(CrashReport, long_mode_when_code_known_then_disassembled_from_rip) {
    auto s = long_mode_state();
    s.code = {0xf3, 0x0f, 0xb8, 0xc1, 0x0f, 0xae, 0x2f, 0x48, 0x0f, 0xc7, 0x0e};
    const auto lines = format_crash_report(s);
    const std::string all = joined(lines);
    EXPECT_TRUE(has_line(lines, "<f3> 0f b8 c1 0f ae 2f 48 0f c7 0e")) << all;
    EXPECT_TRUE(has_line(lines, "ffffffff81000000: f30fb8c1")) << all;
    EXPECT_TRUE(has_line(lines, "popcnt eax, ecx  <- rip")) << all;
    EXPECT_TRUE(has_line(lines, "ffffffff81000004: 0fae2f")) << all;
    EXPECT_TRUE(has_line(lines, "xrstor ")) << all;
    EXPECT_TRUE(has_line(lines, "[rdi]")) << all;
    EXPECT_TRUE(has_line(lines, "ffffffff81000007: 480fc70e")) << all;
    EXPECT_TRUE(has_line(lines, "cmpxchg16b ")) << all;
    EXPECT_TRUE(has_line(lines, "[rsi]")) << all;
}

TEST(CrashReport, opcode_invalid_in_long_mode_when_decoded_then_undecodable) {
    auto s = long_mode_state();
    s.code = {0x06, 0x90};  // push es: #UD in 64-bit mode
    const auto lines = format_crash_report(s);
    EXPECT_TRUE(has_line(lines, "ffffffff81000000: <undecodable: 06>")) << joined(lines);
    EXPECT_FALSE(has_line(lines, "push")) << joined(lines);
}

TEST(CrashReport, protected_mode_when_decoded_then_32bit_operands_and_segment_bases) {
    auto s = protected_mode_state();
    s.code = {0x06, 0x0f, 0xae, 0x2f};  // push es; xrstor [edi]
    s.stack = {0x11223344, 0x55667788};
    const auto lines = format_crash_report(s);
    const std::string all = joined(lines);
    EXPECT_TRUE(has_line(lines, "(32-bit protected mode)")) << all;
    EXPECT_TRUE(has_line(lines, "Guest code at 0000000000200100")) << all;
    EXPECT_TRUE(has_line(lines, "push es  <- rip")) << all;
    EXPECT_TRUE(has_line(lines, "[edi]")) << all;
    EXPECT_TRUE(has_line(lines, "Guest stack trace from rsp=0000000000008000 (linear "
                                "0000000000018000):"))
        << all;
    EXPECT_TRUE(has_line(lines, "   11223344 55667788")) << all;
    EXPECT_EQ(code_linear(s.regs, s.sregs), 0x200100u);
    EXPECT_EQ(stack_word_bytes(CodeMode::bits32), 4u);
}

TEST(CrashReport, segment_base_when_past_4g_then_linear_wraps_outside_long_mode) {
    auto s = protected_mode_state();
    s.sregs.cs.base = 0xfffff000;
    s.regs.rip = 0x2000;
    EXPECT_EQ(code_linear(s.regs, s.sregs), 0x1000u);
}

TEST(CrashReport, real_mode_when_decoded_then_16bit_and_cs_base_applied) {
    auto s = real_mode_state();
    s.code = {0xea, 0x5b, 0xe0, 0x00, 0xf0, 0x8b, 0x07};  // jmp f000:e05b; mov ax, [bx]
    s.stack = {0xbeef};
    const auto lines = format_crash_report(s);
    const std::string all = joined(lines);
    EXPECT_TRUE(has_line(lines, "RIP:    f000:[<000000000000fff0>] (real mode)")) << all;
    EXPECT_TRUE(has_line(lines, "Guest code at 00000000000ffff0 (real mode):")) << all;
    EXPECT_TRUE(has_line(lines, "jmp far 0xF000:0xE05B")) << all;
    EXPECT_TRUE(has_line(lines, "mov ax, [bx]")) << all;
    EXPECT_TRUE(has_line(lines, "   beef")) << all;
    EXPECT_TRUE(has_line(lines, "KVM entry failure: hardware reason 0x0")) << all;
}

TEST(CrashReport, rip_not_mapped_when_formatted_then_unavailable_lines) {
    auto s = long_mode_state();
    const auto lines = format_crash_report(s);
    const std::string all = joined(lines);
    EXPECT_TRUE(has_line(lines, "Guest code at ffffffff81000000: <unavailable> (not mapped)"))
        << all;
    EXPECT_TRUE(has_line(lines, "   <unavailable> (not mapped)")) << all;
    EXPECT_FALSE(has_line(lines, "<- rip")) << all;
}

TEST(CrashReport, internal_error_when_formatted_then_suberror_and_data_words) {
    auto s = protected_mode_state();
    s.suberror = 1;  // KVM_INTERNAL_ERROR_EMULATION
    s.internal_data = {0x80000021, 0xdeadbeefcafe};
    const auto lines = format_crash_report(s);
    const std::string all = joined(lines);
    EXPECT_TRUE(has_line(lines, "KVM internal error: suberror 1 ndata 2")) << all;
    EXPECT_TRUE(has_line(lines, "  data[0]: 0000000080000021")) << all;
    EXPECT_TRUE(has_line(lines, "  data[1]: 0000deadbeefcafe")) << all;
}

TEST(CrashReport, fail_entry_when_formatted_then_hardware_reason_and_cpu) {
    auto s = long_mode_state();
    s.exit = CrashExit::fail_entry;
    s.hardware_entry_failure_reason = 0x80000021;
    s.fail_entry_cpu = 5;
    const auto lines = format_crash_report(s);
    EXPECT_TRUE(has_line(lines, "KVM entry failure: hardware reason 0x80000021 on host cpu 5"))
        << joined(lines);
}

}  // namespace
}  // namespace xenolith::domain
