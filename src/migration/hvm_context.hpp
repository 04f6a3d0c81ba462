// The HVM context blob (libxc's HVM_CONTEXT record body, Xen's
// XEN_DOMCTL_{get,set}hvmcontext buffer): a sequence of entries, each an
// 8-byte descriptor {u16 typecode, u16 instance, u32 length} and `length`
// bytes, HEADER first, END (typecode 0, length 0) last.
//
// The entries a PVH guest's state needs are typed below, laid out exactly
// as Xen's public/arch-x86/hvm/save.h lays them out (tests/unit/migration
// checks every offset against the installed header). Every other entry
// (PIC, IOAPIC, PIT, RTC, HPET, viridian, vMCE, types not yet known) is
// kept as opaque bytes so a context from Xen round-trips unchanged.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "migration/byte_stream.hpp"

namespace xenolith::migration {

static_assert(std::endian::native == std::endian::little, "HVM save records are read as host structs");

namespace hvm_code {
inline constexpr std::uint16_t kEnd = 0;
inline constexpr std::uint16_t kHeader = 1;
inline constexpr std::uint16_t kCpu = 2;
inline constexpr std::uint16_t kPic = 3;
inline constexpr std::uint16_t kIoapic = 4;
inline constexpr std::uint16_t kLapic = 5;
inline constexpr std::uint16_t kLapicRegs = 6;
inline constexpr std::uint16_t kMtrr = 14;
inline constexpr std::uint16_t kCpuXsave = 16;
inline constexpr std::uint16_t kViridianVcpu = 17;
inline constexpr std::uint16_t kVmceVcpu = 18;
inline constexpr std::uint16_t kTscAdjust = 19;
inline constexpr std::uint16_t kCpuMsr = 20;
}  // namespace hvm_code

inline constexpr std::uint32_t kHvmFileMagic = 0x54381286;
inline constexpr std::uint32_t kHvmFileVersion = 1;
inline constexpr std::size_t kHvmDescriptorSize = 8;

// struct hvm_save_header
struct HvmSaveHeader {
    std::uint32_t magic = kHvmFileMagic;
    std::uint32_t version = kHvmFileVersion;
    std::uint64_t changeset = 0;
    std::uint32_t cpuid = 0;  // CPUID.1:EAX of the saving host
    std::uint32_t gtsc_khz = 0;
};
static_assert(sizeof(HvmSaveHeader) == 24);

// struct hvm_hw_cpu (pending_event kept as the raw u32 Xen's union holds).
struct HvmCpu {
    std::array<std::uint8_t, 512> fpu_regs{};
    std::uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rbp = 0, rsi = 0, rdi = 0, rsp = 0;
    std::uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
    std::uint64_t rip = 0, rflags = 0;
    std::uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0;
    std::uint64_t dr0 = 0, dr1 = 0, dr2 = 0, dr3 = 0, dr6 = 0, dr7 = 0;
    std::uint32_t cs_sel = 0, ds_sel = 0, es_sel = 0, fs_sel = 0, gs_sel = 0, ss_sel = 0, tr_sel = 0, ldtr_sel = 0;
    std::uint32_t cs_limit = 0, ds_limit = 0, es_limit = 0, fs_limit = 0, gs_limit = 0, ss_limit = 0, tr_limit = 0,
                  ldtr_limit = 0, idtr_limit = 0, gdtr_limit = 0;
    std::uint64_t cs_base = 0, ds_base = 0, es_base = 0, fs_base = 0, gs_base = 0, ss_base = 0, tr_base = 0,
                  ldtr_base = 0, idtr_base = 0, gdtr_base = 0;
    std::uint32_t cs_arbytes = 0, ds_arbytes = 0, es_arbytes = 0, fs_arbytes = 0, gs_arbytes = 0, ss_arbytes = 0,
                  tr_arbytes = 0, ldtr_arbytes = 0;
    std::uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
    std::uint64_t shadow_gs = 0;
    std::uint64_t msr_flags = 0;  // obsolete, ignored by Xen
    std::uint64_t msr_lstar = 0, msr_star = 0, msr_cstar = 0, msr_syscall_mask = 0, msr_efer = 0, msr_tsc_aux = 0;
    std::uint64_t tsc = 0;
    std::uint32_t pending_event = 0;
    std::uint32_t error_code = 0;
    std::uint32_t flags = 0;  // bit 0: FPU initialised
    std::uint32_t pad0 = 0;
};
static_assert(sizeof(HvmCpu) == 1032);
// Older Xen saved CPU without msr_tsc_aux, flags and pad0 (save.h keeps
// that layout as hvm_hw_cpu_compat and converts it on load).
inline constexpr std::size_t kHvmCpuCompatSize = 1016;
inline constexpr std::uint32_t kHvmCpuFpuInitialised = 1;

// struct hvm_hw_lapic. pending_esr is newer than Xen 4.19's 24-byte
// layout; an entry keeps the length it arrived with.
struct HvmLapic {
    std::uint64_t apic_base_msr = 0;
    std::uint32_t disabled = 0;
    std::uint32_t timer_divisor = 0;
    std::uint64_t tdt_msr = 0;
    std::uint32_t pending_esr = 0;
    std::uint32_t pad = 0;
};
static_assert(sizeof(HvmLapic) == 32);
inline constexpr std::size_t kHvmLapicShortSize = 24;

// struct hvm_hw_lapic_regs: the APIC register page's first 1 KiB.
struct HvmLapicRegs {
    std::array<std::uint8_t, 1024> data{};
};
static_assert(sizeof(HvmLapicRegs) == 1024);

// struct hvm_hw_mtrr
struct HvmMtrr {
    std::uint64_t msr_pat_cr = 0;
    std::array<std::uint64_t, 16> msr_mtrr_var{};  // base/mask pairs
    std::array<std::uint64_t, 11> msr_mtrr_fixed{};
    std::uint64_t msr_mtrr_cap = 0;
    std::uint64_t msr_mtrr_def_type = 0;
};
static_assert(sizeof(HvmMtrr) == 240);

// struct hvm_hw_cpu_xsave: three u64s, then the XSAVE area (legacy 512
// bytes, 64-byte header, extended components) of variable size.
struct HvmCpuXsave {
    std::uint64_t xfeature_mask = 0;  // ignored by Xen
    std::uint64_t xcr0 = 0;
    std::uint64_t xcr0_accum = 0;
    std::vector<std::uint8_t> save_area;
};
inline constexpr std::size_t kHvmXsaveFixedSize = 24;
inline constexpr std::size_t kXsaveAreaMinSize = 512 + 64;
inline constexpr std::size_t kXsaveAreaMaxSize = 64 * 1024;

// struct hvm_tsc_adjust
struct HvmTscAdjust {
    std::uint64_t tsc_adjust = 0;
};

// struct hvm_msr: u32 count, u32 pad, then {u32 index, u32 rsvd, u64 val}.
struct HvmMsr {
    std::uint32_t index = 0;
    std::uint64_t value = 0;
    bool operator==(const HvmMsr&) const = default;
};

struct HvmEntry {
    std::uint16_t typecode = 0;
    std::uint16_t instance = 0;
    std::vector<std::uint8_t> body;
    bool operator==(const HvmEntry&) const = default;
};

struct HvmContext {
    std::vector<HvmEntry> entries;  // in blob order, HEADER first, END last
    const HvmEntry* find(std::uint16_t typecode, std::uint16_t instance) const;
};

struct HvmContextLimits {
    // Per-vCPU entries name a vCPU by instance (Xen's HVM_MAX_VCPUS).
    std::uint32_t max_vcpus = 128;
};

// Checks structure (HEADER first, END last and alone, entries within the
// blob, no duplicate typecode/instance) and every typed entry's layout.
Result<HvmContext> parse_hvm_context(ByteSpan blob, const HvmContextLimits& limits = {});
// The blob, entries written as they are (so parse then emit is identity).
std::vector<std::uint8_t> emit_hvm_context(const HvmContext& context);

// Typed entries. decode_* refuse a wrong typecode or length.
Result<HvmSaveHeader> decode_hvm_header(const HvmEntry& e);
Result<HvmCpu> decode_hvm_cpu(const HvmEntry& e);  // compat length converted as Xen does
Result<HvmLapic> decode_hvm_lapic(const HvmEntry& e);
Result<HvmLapicRegs> decode_hvm_lapic_regs(const HvmEntry& e);
Result<HvmMtrr> decode_hvm_mtrr(const HvmEntry& e);
Result<HvmCpuXsave> decode_hvm_xsave(const HvmEntry& e);
Result<HvmTscAdjust> decode_hvm_tsc_adjust(const HvmEntry& e);
Result<std::vector<HvmMsr>> decode_hvm_msrs(const HvmEntry& e);

HvmEntry encode_hvm_header(const HvmSaveHeader& v);
HvmEntry encode_hvm_cpu(std::uint16_t vcpu, const HvmCpu& v);
// 24 bytes (what Xen 4.19 and older accept) unless pending_esr is set.
HvmEntry encode_hvm_lapic(std::uint16_t vcpu, const HvmLapic& v);
HvmEntry encode_hvm_lapic_regs(std::uint16_t vcpu, const HvmLapicRegs& v);
HvmEntry encode_hvm_mtrr(std::uint16_t vcpu, const HvmMtrr& v);
HvmEntry encode_hvm_xsave(std::uint16_t vcpu, const HvmCpuXsave& v);
HvmEntry encode_hvm_tsc_adjust(std::uint16_t vcpu, const HvmTscAdjust& v);
HvmEntry encode_hvm_msrs(std::uint16_t vcpu, const std::vector<HvmMsr>& msrs);
HvmEntry hvm_end_entry();

// Whether entries of this typecode describe one vCPU each (instance = vCPU).
bool is_per_vcpu_hvm_code(std::uint16_t typecode);

}  // namespace xenolith::migration
