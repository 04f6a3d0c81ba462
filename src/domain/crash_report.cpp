#include "domain/crash_report.hpp"

#include <Zydis/Zydis.h>
#include <fmt/format.h>

#include <algorithm>

namespace xenolith::domain {
namespace {

constexpr std::uint64_t kCr0Pe = 1u << 0;
constexpr std::uint64_t kEferLma = 1u << 10;
constexpr std::size_t kMaxInstructions = 4;

const char* exit_name(const CrashState& s) {
    switch (s.exit) {
        case CrashExit::triple_fault: return "triple fault";
        case CrashExit::internal_error: return "KVM internal error";
        case CrashExit::fail_entry: return "VM entry failure";
        case CrashExit::other: break;
    }
    return "unexpected exit";
}

std::string segment_line(const char* name, const kvm_segment& seg) {
    return fmt::format("{}: sel {:04x} base {:016x} limit {:08x} type {:x} s {} dpl {} p {} "
                       "db {} l {} g {}{}",
                       name, seg.selector, seg.base, seg.limit, seg.type, seg.s, seg.dpl,
                       seg.present, seg.db, seg.l, seg.g, seg.unusable ? " unusable" : "");
}

ZydisMachineMode zydis_mode(CodeMode mode) {
    switch (mode) {
        case CodeMode::bits64: return ZYDIS_MACHINE_MODE_LONG_64;
        case CodeMode::bits32: return ZYDIS_MACHINE_MODE_LEGACY_32;
        case CodeMode::bits16: return ZYDIS_MACHINE_MODE_LEGACY_16;
        case CodeMode::real: break;
    }
    return ZYDIS_MACHINE_MODE_REAL_16;
}

void append_code(const CrashState& s, CodeMode mode, std::vector<std::string>& out) {
    const std::uint64_t linear = code_linear(s.regs, s.sregs);
    if (s.code.empty()) {
        out.push_back(fmt::format("Guest code at {:016x}: <unavailable> (not mapped)", linear));
        return;
    }
    std::string bytes;
    for (std::size_t i = 0; i < s.code.size(); ++i)
        bytes += i == 0 ? fmt::format("<{:02x}>", s.code[i]) : fmt::format(" {:02x}", s.code[i]);
    out.push_back(fmt::format("Guest code at {:016x} ({}):", linear, code_mode_name(mode)));
    out.push_back(" " + bytes);
    std::size_t offset = 0;
    for (std::size_t n = 0; n < kMaxInstructions && offset < s.code.size(); ++n) {
        ZydisDisassembledInstruction insn;
        const ZyanStatus st = ZydisDisassembleIntel(zydis_mode(mode), s.regs.rip + offset,
                                                    s.code.data() + offset,
                                                    s.code.size() - offset, &insn);
        if (!ZYAN_SUCCESS(st)) {
            // Only the first instruction matters for the crash; after it, a
            // short read at the end of the buffer is expected.
            if (n == 0)
                out.push_back(fmt::format("  {:016x}: <undecodable: {:02x}>",
                                          s.regs.rip + offset, s.code[offset]));
            break;
        }
        std::string raw;
        for (std::size_t i = 0; i < insn.info.length; ++i)
            raw += fmt::format("{:02x}", s.code[offset + i]);
        out.push_back(fmt::format("  {:016x}: {:<20} {}{}", s.regs.rip + offset, raw, insn.text,
                                  n == 0 ? "  <- rip" : ""));
        offset += insn.info.length;
    }
}

void append_stack(const CrashState& s, CodeMode mode, std::vector<std::string>& out) {
    out.push_back(fmt::format("Guest stack trace from rsp={:016x} (linear {:016x}):", s.regs.rsp,
                              stack_linear(s.regs, s.sregs)));
    if (s.stack.empty()) {
        out.push_back("   <unavailable> (not mapped)");
        return;
    }
    const unsigned digits = stack_word_bytes(mode) * 2;
    const std::size_t per_line = 64 / digits;  // 4, 8 or 16 words a line
    std::string line;
    for (std::size_t i = 0; i < s.stack.size(); ++i) {
        line += fmt::format(" {:0{}x}", s.stack[i], digits);
        if ((i + 1) % per_line == 0 || i + 1 == s.stack.size()) {
            out.push_back("  " + line);
            line.clear();
        }
    }
}

void append_kvm_data(const CrashState& s, std::vector<std::string>& out) {
    switch (s.exit) {
        case CrashExit::internal_error: {
            out.push_back(fmt::format("KVM internal error: suberror {} ndata {}", s.suberror,
                                      s.internal_data.size()));
            for (std::size_t i = 0; i < s.internal_data.size(); ++i)
                out.push_back(fmt::format("  data[{}]: {:016x}", i, s.internal_data[i]));
            return;
        }
        case CrashExit::fail_entry:
            out.push_back(fmt::format("KVM entry failure: hardware reason {:#x} on host cpu {}",
                                      s.hardware_entry_failure_reason, s.fail_entry_cpu));
            return;
        case CrashExit::triple_fault:
            out.push_back("KVM: triple fault (shutdown exit)");
            return;
        case CrashExit::other:
            out.push_back(fmt::format("KVM: exit reason {}", s.exit_reason));
            return;
    }
}

}  // namespace

CodeMode code_mode(const kvm_sregs& sregs) {
    if (!(sregs.cr0 & kCr0Pe)) return CodeMode::real;
    if ((sregs.efer & kEferLma) && sregs.cs.l) return CodeMode::bits64;
    return sregs.cs.db ? CodeMode::bits32 : CodeMode::bits16;
}

std::uint64_t code_linear(const kvm_regs& regs, const kvm_sregs& sregs) {
    if (code_mode(sregs) == CodeMode::bits64) return regs.rip;
    return (sregs.cs.base + regs.rip) & 0xffffffffu;
}

std::uint64_t stack_linear(const kvm_regs& regs, const kvm_sregs& sregs) {
    if (code_mode(sregs) == CodeMode::bits64) return regs.rsp;
    return (sregs.ss.base + regs.rsp) & 0xffffffffu;
}

unsigned stack_word_bytes(CodeMode mode) {
    switch (mode) {
        case CodeMode::bits64: return 8;
        case CodeMode::bits32: return 4;
        case CodeMode::bits16:
        case CodeMode::real: break;
    }
    return 2;
}

const char* code_mode_name(CodeMode mode) {
    switch (mode) {
        case CodeMode::real: return "real mode";
        case CodeMode::bits16: return "16-bit protected mode";
        case CodeMode::bits32: return "32-bit protected mode";
        case CodeMode::bits64: return "64-bit mode";
    }
    return "?";
}

std::vector<std::string> format_crash_report(const CrashState& s) {
    const kvm_regs& r = s.regs;
    const kvm_sregs& sr = s.sregs;
    const CodeMode mode = code_mode(sr);
    std::vector<std::string> out;
    out.push_back(fmt::format("----[ xenolith guest crash: d{}v{} {} ]----", s.domid, s.vcpu,
                              exit_name(s)));
    out.push_back(fmt::format("RIP:    {:04x}:[<{:016x}>] ({})", sr.cs.selector, r.rip,
                              code_mode_name(mode)));
    out.push_back(fmt::format("RFLAGS: {:016x}   CONTEXT: hvm guest (d{}v{})", r.rflags, s.domid,
                              s.vcpu));
    out.push_back(fmt::format("rax: {:016x}   rbx: {:016x}   rcx: {:016x}", r.rax, r.rbx, r.rcx));
    out.push_back(fmt::format("rdx: {:016x}   rsi: {:016x}   rdi: {:016x}", r.rdx, r.rsi, r.rdi));
    out.push_back(fmt::format("rbp: {:016x}   rsp: {:016x}   r8:  {:016x}", r.rbp, r.rsp, r.r8));
    out.push_back(fmt::format("r9:  {:016x}   r10: {:016x}   r11: {:016x}", r.r9, r.r10, r.r11));
    out.push_back(fmt::format("r12: {:016x}   r13: {:016x}   r14: {:016x}", r.r12, r.r13, r.r14));
    out.push_back(fmt::format("r15: {:016x}   cr0: {:016x}   cr4: {:016x}", r.r15, sr.cr0, sr.cr4));
    out.push_back(fmt::format("cr3: {:016x}   cr2: {:016x}   efer: {:016x}", sr.cr3, sr.cr2,
                              sr.efer));
    out.push_back(fmt::format("fsb: {:016x}   gsb: {:016x}   gss: {:016x}", sr.fs.base,
                              sr.gs.base, s.kernel_gs_base));
    out.push_back(fmt::format("ds: {:04x}   es: {:04x}   fs: {:04x}   gs: {:04x}   ss: {:04x}   "
                              "cs: {:04x}",
                              sr.ds.selector, sr.es.selector, sr.fs.selector, sr.gs.selector,
                              sr.ss.selector, sr.cs.selector));
    for (const auto& [name, seg] :
         {std::pair{"cs", &sr.cs}, std::pair{"ss", &sr.ss}, std::pair{"ds", &sr.ds},
          std::pair{"es", &sr.es}, std::pair{"fs", &sr.fs}, std::pair{"gs", &sr.gs},
          std::pair{"tr", &sr.tr}, std::pair{"ldt", &sr.ldt}})
        out.push_back(segment_line(name, *seg));
    out.push_back(fmt::format("gdt: base {:016x} limit {:04x}   idt: base {:016x} limit {:04x}",
                              sr.gdt.base, sr.gdt.limit, sr.idt.base, sr.idt.limit));
    append_code(s, mode, out);
    append_stack(s, mode, out);
    append_kvm_data(s, out);
    return out;
}

}  // namespace xenolith::domain
