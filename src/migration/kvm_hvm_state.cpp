#include "migration/kvm_hvm_state.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace xenolith::migration {

namespace {

Error record_error(std::string_view record, std::uint16_t vcpu, std::string_view why) {
    return make_error(fmt::format("HVM {} record of vCPU {}: {}", record, vcpu, why));
}

std::uint64_t msr_or(const VcpuArchState& s, std::uint32_t index, std::uint64_t fallback = 0) {
    const auto it = s.msrs.find(index);
    return it == s.msrs.end() ? fallback : it->second;
}

// ---- XSAVE area layout ----

namespace xcr0_bit {
constexpr std::uint64_t kX87 = 1u << 0;
constexpr std::uint64_t kSse = 1u << 1;
constexpr std::uint64_t kYmm = 1u << 2;
constexpr std::uint64_t kBndregs = 1u << 3;
constexpr std::uint64_t kBndcsr = 1u << 4;
constexpr std::uint64_t kOpmask = 1u << 5;
constexpr std::uint64_t kZmmHi256 = 1u << 6;
constexpr std::uint64_t kHi16Zmm = 1u << 7;
constexpr std::uint64_t kTileCfg = 1u << 17;
constexpr std::uint64_t kTileData = 1u << 18;
constexpr std::uint64_t kAvx512 = kOpmask | kZmmHi256 | kHi16Zmm;
}  // namespace xcr0_bit

// The standard-format offset and size of each user component the SDM
// enumerates (CPUID.(0xD, i)); 0 for bits xenolith does not know.
struct XsaveComponent {
    unsigned bit;
    std::size_t offset, size;
};
constexpr std::array<XsaveComponent, 9> kXsaveComponents{{
    {2, 576, 256},    // AVX (upper YMM halves)
    {3, 960, 64},     // MPX BNDREGS
    {4, 1024, 64},    // MPX BNDCSR
    {5, 1088, 64},    // AVX-512 opmask
    {6, 1152, 512},   // AVX-512 ZMM_Hi256
    {7, 1664, 1024},  // AVX-512 Hi16_ZMM
    {9, 2688, 8},     // PKRU
    {17, 2752, 64},   // AMX TILECFG
    {18, 2816, 8192}, // AMX TILEDATA
}};

constexpr std::size_t kXsaveHeaderAt = 512;
constexpr std::size_t kXsaveStateBvAt = 512;
constexpr std::size_t kXsaveCompBvAt = 520;
constexpr std::size_t kMxcsrAt = 24;
constexpr std::uint32_t kMxcsrValidBits = 0x2ffff;  // bit 17: AMD's misaligned SSE mode
constexpr std::uint16_t kResetFcw = 0x37f;
constexpr std::uint32_t kResetMxcsr = 0x1f80;

// Xen's valid_xcr0: the combinations XSETBV accepts.
const char* invalid_xcr0_reason(std::uint64_t xcr0) {
    using namespace xcr0_bit;
    if (!(xcr0 & kX87)) return "x87 is clear";
    if ((xcr0 & kYmm) && !(xcr0 & kSse)) return "AVX without SSE";
    if ((xcr0 & kAvx512) && !(xcr0 & kYmm)) return "AVX-512 without AVX";
    if ((xcr0 & kAvx512) && (xcr0 & kAvx512) != kAvx512) return "AVX-512 components not all set";
    if (!(xcr0 & kBndregs) != !(xcr0 & kBndcsr)) return "only one of the MPX components";
    if (!(xcr0 & kTileCfg) != !(xcr0 & kTileData)) return "only one of the AMX components";
    return nullptr;
}

std::uint8_t* xsave_bytes(kvm::XsaveArea& a) { return reinterpret_cast<std::uint8_t*>(a.region); }
const std::uint8_t* xsave_bytes(const kvm::XsaveArea& a) { return reinterpret_cast<const std::uint8_t*>(a.region); }

std::uint64_t load64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
std::uint32_t load32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
void store64(std::uint8_t* p, std::uint64_t v) { std::memcpy(p, &v, sizeof v); }
void store32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, sizeof v); }

// The FPU as Xen and KVM set it up before first use: FCW 0x37f, MXCSR
// 0x1f80, every component in its initial state (XSTATE_BV 0).
void reset_fpu(kvm::XsaveArea& area) {
    area = {};
    std::uint8_t* b = xsave_bytes(area);
    std::memcpy(b, &kResetFcw, sizeof kResetFcw);
    store32(b + kMxcsrAt, kResetMxcsr);
}

// ---- segments ----

struct SegmentFields {
    const char* name;
    kvm_segment kvm_sregs::*kvm;
    std::uint32_t HvmCpu::*sel;
    std::uint32_t HvmCpu::*limit;
    std::uint64_t HvmCpu::*base;
    std::uint32_t HvmCpu::*arbytes;
};
constexpr std::array<SegmentFields, 8> kSegments{{
    {"cs", &kvm_sregs::cs, &HvmCpu::cs_sel, &HvmCpu::cs_limit, &HvmCpu::cs_base, &HvmCpu::cs_arbytes},
    {"ds", &kvm_sregs::ds, &HvmCpu::ds_sel, &HvmCpu::ds_limit, &HvmCpu::ds_base, &HvmCpu::ds_arbytes},
    {"es", &kvm_sregs::es, &HvmCpu::es_sel, &HvmCpu::es_limit, &HvmCpu::es_base, &HvmCpu::es_arbytes},
    {"fs", &kvm_sregs::fs, &HvmCpu::fs_sel, &HvmCpu::fs_limit, &HvmCpu::fs_base, &HvmCpu::fs_arbytes},
    {"gs", &kvm_sregs::gs, &HvmCpu::gs_sel, &HvmCpu::gs_limit, &HvmCpu::gs_base, &HvmCpu::gs_arbytes},
    {"ss", &kvm_sregs::ss, &HvmCpu::ss_sel, &HvmCpu::ss_limit, &HvmCpu::ss_base, &HvmCpu::ss_arbytes},
    {"tr", &kvm_sregs::tr, &HvmCpu::tr_sel, &HvmCpu::tr_limit, &HvmCpu::tr_base, &HvmCpu::tr_arbytes},
    {"ldtr", &kvm_sregs::ldt, &HvmCpu::ldtr_sel, &HvmCpu::ldtr_limit, &HvmCpu::ldtr_base, &HvmCpu::ldtr_arbytes},
}};

namespace ar {
constexpr std::uint32_t kPresent = 1u << 7;
constexpr std::uint32_t kAvl = 1u << 8;
constexpr std::uint32_t kLong = 1u << 9;
constexpr std::uint32_t kDb = 1u << 10;
constexpr std::uint32_t kGranularity = 1u << 11;
}  // namespace ar

kvm_segment unpack_segment(std::uint32_t attr, std::uint32_t sel, std::uint32_t limit, std::uint64_t base) {
    kvm_segment seg{};
    seg.base = base;
    seg.limit = limit;
    seg.selector = static_cast<std::uint16_t>(sel);
    seg.type = static_cast<std::uint8_t>(attr & 0xf);
    seg.s = (attr >> 4) & 1;
    seg.dpl = (attr >> 5) & 3;
    seg.present = (attr & ar::kPresent) != 0;
    seg.avl = (attr & ar::kAvl) != 0;
    seg.l = (attr & ar::kLong) != 0;
    seg.db = (attr & ar::kDb) != 0;
    seg.g = (attr & ar::kGranularity) != 0;
    // Xen folds VMX's "unusable" into P, as KVM does on VMX.
    seg.unusable = !seg.present;
    return seg;
}

// ---- pending events (Xen's pending_event is VMX interruption info) ----

namespace xen_event {
constexpr std::uint32_t kValid = 1u << 31;
constexpr std::uint32_t kErrorValid = 1u << 11;
constexpr std::uint32_t kReserved = 0x7ffff000;  // bits 12-30
constexpr unsigned kExternalInterrupt = 0;
constexpr unsigned kNmi = 2;
constexpr unsigned kHardwareException = 3;
constexpr unsigned kSoftwareInterrupt = 4;
constexpr unsigned kPrivilegedSoftwareException = 5;
constexpr unsigned kSoftwareException = 6;
}  // namespace xen_event

constexpr std::uint8_t kNmiVector = 2;
constexpr std::uint8_t kBreakpointVector = 3;
constexpr std::uint8_t kOverflowVector = 4;

struct XenEvent {
    std::uint32_t info = 0;
    std::uint32_t error_code = 0;
};

XenEvent make_xen_event(unsigned type, std::uint8_t vector, bool has_error_code = false, std::uint32_t error_code = 0) {
    XenEvent e;
    e.info = xen_event::kValid | (type << 8) | vector | (has_error_code ? xen_event::kErrorValid : 0);
    e.error_code = has_error_code ? error_code : 0;
    return e;
}

// The one event Xen's record can carry, from KVM's events. Software
// interrupts and #BP/#OF are dropped: their instruction is re-executed,
// which is what Xen does (hvm_event_needs_reinjection).
Result<XenEvent> event_to_xen(const kvm_vcpu_events& ev, std::uint16_t vcpu) {
    const auto fail = [vcpu](std::string_view why) { return record_error("CPU", vcpu, why); };
    if (ev.smi.smm || ev.smi.pending || ev.smi.latched_init) {
        return fail("the vCPU is in or entering SMM, which Xen's record cannot hold");
    }
    if (ev.triple_fault.pending) return fail("a triple fault is pending");
    if (ev.exception_has_payload) {
        return fail(fmt::format("exception {} has a payload (CR2/DR6) KVM has not delivered yet; retry the save",
                                ev.exception.nr));
    }
    XenEvent out;
    unsigned events = 0;
    if (ev.exception.injected || ev.exception.pending) {
        const std::uint8_t nr = ev.exception.nr;
        if (nr >= 32 || nr == kNmiVector) return fail(fmt::format("exception vector {} is not an exception", nr));
        if (ev.exception.has_error_code && ev.exception.error_code > 0xffff) {
            return fail(fmt::format("exception {} error code {:#x} is wider than 16 bits", nr, ev.exception.error_code));
        }
        if (nr != kBreakpointVector && nr != kOverflowVector) {
            out = make_xen_event(xen_event::kHardwareException, nr, ev.exception.has_error_code != 0,
                                 ev.exception.error_code);
            ++events;
        }
    }
    if (ev.interrupt.injected && !ev.interrupt.soft) {
        out = make_xen_event(xen_event::kExternalInterrupt, ev.interrupt.nr);
        ++events;
    }
    if (ev.nmi.injected || ev.nmi.pending) {
        out = make_xen_event(xen_event::kNmi, kNmiVector);
        events += (ev.nmi.injected ? 1u : 0u) + ev.nmi.pending;
    }
    if (events > 1) {
        return fail(fmt::format("{} events are pending at once and Xen's record holds one; retry the save", events));
    }
    return out;
}

Status event_from_xen(const HvmCpu& c, std::uint16_t vcpu, kvm_vcpu_events& ev, kvm_sregs& sregs) {
    const auto fail = [vcpu](std::string_view why) { return record_error("CPU", vcpu, why); };
    ev = kvm_vcpu_events{};
    // Clear any NMI KVM holds and the interrupt shadow: Xen's record has
    // neither (Xen itself drops them).
    ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    std::fill(std::begin(sregs.interrupt_bitmap), std::end(sregs.interrupt_bitmap), 0);
    const std::uint32_t info = c.pending_event;
    if (!(info & xen_event::kValid)) return ok_status();  // Xen ignores the rest then
    const unsigned type = (info >> 8) & 7;
    const auto vector = static_cast<std::uint8_t>(info & 0xff);
    const bool has_error_code = (info & xen_event::kErrorValid) != 0;
    if (type == 1 || type == 7) {
        return fail(fmt::format("pending_event {:#x} has reserved type {} (Xen refuses it too)", info, type));
    }
    if (info & xen_event::kReserved) return fail(fmt::format("pending_event {:#x} has reserved bits set", info));
    if (has_error_code && c.error_code > 0xffff) {
        return fail(fmt::format("error_code {:#x} is wider than 16 bits", c.error_code));
    }
    switch (type) {
    case xen_event::kExternalInterrupt:
        if (has_error_code) return fail(fmt::format("pending_event {:#x}: an interrupt with an error code", info));
        ev.interrupt.injected = 1;
        ev.interrupt.nr = vector;
        // KVM_SET_SREGS queues the interrupt its bitmap names; keep it in
        // agreement with the events, as KVM_GET_SREGS reports it.
        sregs.interrupt_bitmap[vector / 64] |= std::uint64_t{1} << (vector % 64);
        return ok_status();
    case xen_event::kNmi:
        if (vector != kNmiVector || has_error_code) {
            return fail(fmt::format("pending_event {:#x}: an NMI must have vector 2 and no error code", info));
        }
        ev.nmi.injected = 1;
        return ok_status();
    case xen_event::kHardwareException:
        if (vector == kBreakpointVector || vector == kOverflowVector) return ok_status();  // re-executed, as Xen does
        if (vector >= 32 || vector == kNmiVector) {
            return fail(fmt::format("pending_event {:#x}: vector {} is not an exception", info, vector));
        }
        ev.exception.injected = 1;
        ev.exception.nr = vector;
        ev.exception.has_error_code = has_error_code;
        ev.exception.error_code = has_error_code ? c.error_code : 0;
        return ok_status();
    case xen_event::kSoftwareInterrupt:
    case xen_event::kPrivilegedSoftwareException:
    case xen_event::kSoftwareException:
        return ok_status();  // the instruction is re-executed, as Xen does
    default:
        return fail(fmt::format("pending_event {:#x} has unknown type {}", info, type));
    }
}

// ---- control registers (Xen's hvm_load_cpu_ctxt checks, and what
// KVM_SET_SREGS or VM entry would refuse less legibly) ----

namespace cr0_bit {
constexpr std::uint64_t kPe = 1u << 0;
constexpr std::uint64_t kEt = 1u << 4;
constexpr std::uint64_t kPg = 1u << 31;
constexpr std::uint64_t kValid = 0xe005003f;  // PE MP EM TS ET NE WP AM NW CD PG
}  // namespace cr0_bit
constexpr std::uint64_t kCr4Pae = 1u << 5;
// VME..LA57, FSGSBASE..PKS: VMXE/SMXE (nested, SMX) and reserved bits
// are refused; KVM_SET_SREGS checks the rest against the host.
constexpr std::uint64_t kCr4Known = 0x1ff1fff & ~(std::uint64_t{1} << 13);
namespace efer_bit {
constexpr std::uint64_t kLme = 1u << 8;
constexpr std::uint64_t kLma = 1u << 10;
// SCE LME LMA NXE FFXSR AutoIBRS
constexpr std::uint64_t kKnown = (1u << 0) | kLme | kLma | (1u << 11) | (1u << 14) | (1u << 21);
}  // namespace efer_bit
constexpr std::uint64_t kRflagsFixed1 = 1u << 1;
constexpr std::uint64_t kRflagsKnown = 0x3f7fd7;
constexpr std::uint64_t kRflagsVm = 1u << 17;

Status check_control_registers(const HvmCpu& c, std::uint16_t vcpu) {
    const auto fail = [vcpu](std::string_view why) { return record_error("CPU", vcpu, why); };
    if (c.cr0 & ~cr0_bit::kValid) return fail(fmt::format("cr0 {:#x} has reserved bits set", c.cr0));
    if (!(c.cr0 & cr0_bit::kEt)) return fail(fmt::format("cr0 {:#x} has ET clear (Xen refuses it too)", c.cr0));
    if ((c.cr0 & (cr0_bit::kPe | cr0_bit::kPg)) == cr0_bit::kPg) {
        return fail(fmt::format("cr0 {:#x} enables paging in real mode", c.cr0));
    }
    if (c.cr4 & ~kCr4Known) return fail(fmt::format("cr4 {:#x} has bits KVM cannot hold for a guest", c.cr4));
    if (c.msr_efer & ~efer_bit::kKnown) {
        return fail(fmt::format("msr_efer {:#x} has unknown or nested-virtualisation bits", c.msr_efer));
    }
    const bool lme = c.msr_efer & efer_bit::kLme, lma = c.msr_efer & efer_bit::kLma, pg = c.cr0 & cr0_bit::kPg;
    if (lma != (lme && pg)) {
        return fail(fmt::format("msr_efer {:#x} LMA disagrees with LME and cr0.PG (cr0 {:#x})", c.msr_efer, c.cr0));
    }
    if (lma && !(c.cr4 & kCr4Pae)) return fail(fmt::format("long mode with cr4.PAE clear (cr4 {:#x})", c.cr4));
    if (c.rflags & ~kRflagsKnown) return fail(fmt::format("rflags {:#x} has reserved bits set", c.rflags));
    if ((c.rflags & kRflagsVm) && !(c.cr0 & cr0_bit::kPe)) {
        return fail(fmt::format("rflags {:#x} sets VM (virtual-8086) in real mode", c.rflags));
    }
    if ((c.dr6 >> 32) || (c.dr7 >> 32)) {
        return fail(fmt::format("dr6 {:#x} or dr7 {:#x} has bits above 31 set", c.dr6, c.dr7));
    }
    return ok_status();
}

// Xen's loader unfolds the old VMCS form (attribute bits 12-15, as VMX
// has them) into segment_register.attr; so does a restore here.
std::uint32_t unfold_arbytes(std::uint32_t a) {
    if ((a & 0xf000) && !(a & 0x0f00)) return (a & 0xff) | ((a >> 4) & 0xf00);
    return a;
}

// ---- LAPIC page ----

namespace apic_reg {
constexpr std::size_t kTpr = 0x80;
constexpr std::size_t kSvr = 0xf0;
constexpr std::size_t kLvtt = 0x320;
constexpr std::size_t kTmict = 0x380;
constexpr std::size_t kTmcct = 0x390;
constexpr std::size_t kTdcr = 0x3e0;
}  // namespace apic_reg
constexpr std::uint32_t kSvrEnabled = 1u << 8;
constexpr std::uint64_t kApicBaseEnable = 1u << 11;
constexpr std::uint64_t kApicBaseExtd = 1u << 10;
constexpr std::uint64_t kApicBaseReserved = 0x2ff;
constexpr std::uint32_t kXenLapicHwDisabled = 0x1;
constexpr std::uint32_t kXenLapicSwDisabled = 0x2;
constexpr unsigned kLvttModeTscDeadline = 2;

std::uint32_t apic_read(const kvm_lapic_state& l, std::size_t reg) {
    return load32(reinterpret_cast<const std::uint8_t*>(l.regs) + reg);
}
void apic_write(kvm_lapic_state& l, std::size_t reg, std::uint32_t v) {
    store32(reinterpret_cast<std::uint8_t*>(l.regs) + reg, v);
}

// Xen's hw.timer_divisor from TDCR (divide configuration bits 0, 1, 3).
std::uint32_t timer_divisor(std::uint32_t tdcr) {
    const std::uint32_t code = ((tdcr & 3) | ((tdcr & 8) >> 1)) + 1;
    return std::uint32_t{1} << (code & 7);
}

std::uint32_t lapic_disabled_bits(std::uint64_t apic_base, const kvm_lapic_state& l) {
    std::uint32_t d = 0;
    if (!(apic_base & kApicBaseEnable)) d |= kXenLapicHwDisabled;
    if (!(apic_read(l, apic_reg::kSvr) & kSvrEnabled)) d |= kXenLapicSwDisabled;
    return d;
}

// ---- MTRRs ----

bool valid_memory_type(std::uint64_t t) { return t == 0 || t == 1 || t == 4 || t == 5 || t == 6; }
constexpr std::array<std::uint32_t, 11> kFixedMtrrs{
    msr::kMtrrFix64k00000,    msr::kMtrrFix16k80000,    msr::kMtrrFix16kA0000,    msr::kMtrrFix4kC0000,
    msr::kMtrrFix4kC0000 + 1, msr::kMtrrFix4kC0000 + 2, msr::kMtrrFix4kC0000 + 3, msr::kMtrrFix4kC0000 + 4,
    msr::kMtrrFix4kC0000 + 5, msr::kMtrrFix4kC0000 + 6, msr::kMtrrFix4kC0000 + 7,
};

// The records this translation writes and reads itself.
bool is_translated_code(std::uint16_t code) {
    switch (code) {
    case hvm_code::kEnd:
    case hvm_code::kHeader:
    case hvm_code::kCpu:
    case hvm_code::kLapic:
    case hvm_code::kLapicRegs:
    case hvm_code::kMtrr:
    case hvm_code::kCpuXsave:
    case hvm_code::kTscAdjust:
    case hvm_code::kCpuMsr:
        return true;
    default:
        return false;
    }
}

}  // namespace

VcpuArchState::VcpuArchState() {
    reset_fpu(xsave);
    xcrs.nr_xcrs = 1;
    xcrs.xcrs[0].xcr = 0;
    xcrs.xcrs[0].value = xcr0_bit::kX87;
}

std::span<const std::uint32_t> saved_msr_indices() {
    static constexpr std::array<std::uint32_t, 42> kSaved{
        msr::kTsc,          msr::kTscAdjust,    msr::kSysenterCs,    msr::kSysenterEsp,   msr::kSysenterEip,
        msr::kStar,         msr::kLstar,        msr::kCstar,         msr::kSfmask,        msr::kKernelGsBase,
        msr::kTscAux,       msr::kTscDeadline,  msr::kPat,           msr::kMtrrCap,       msr::kMtrrDefType,
        kFixedMtrrs[0],     kFixedMtrrs[1],     kFixedMtrrs[2],      kFixedMtrrs[3],      kFixedMtrrs[4],
        kFixedMtrrs[5],     kFixedMtrrs[6],     kFixedMtrrs[7],      kFixedMtrrs[8],      kFixedMtrrs[9],
        kFixedMtrrs[10],    msr::kMtrrPhysBase0, msr::kMtrrPhysBase0 + 1, msr::kMtrrPhysBase0 + 2,
        msr::kMtrrPhysBase0 + 3, msr::kMtrrPhysBase0 + 4, msr::kMtrrPhysBase0 + 5, msr::kMtrrPhysBase0 + 6,
        msr::kMtrrPhysBase0 + 7, msr::kMtrrPhysBase0 + 8, msr::kMtrrPhysBase0 + 9, msr::kMtrrPhysBase0 + 10,
        msr::kMtrrPhysBase0 + 11, msr::kMtrrPhysBase0 + 12, msr::kMtrrPhysBase0 + 13, msr::kMtrrPhysBase0 + 14,
        msr::kMtrrPhysBase0 + 15,
    };
    return kSaved;
}

std::span<const std::uint32_t> cpu_msr_indices() {
    // Xen's msrs_to_send[], in its order.
    static constexpr std::array<std::uint32_t, 10> kCarried{
        msr::kSpecCtrl,        msr::kMiscFeaturesEnables, msr::kPkrs,          msr::kBndcfgs,
        msr::kXss,             msr::kVirtSpecCtrl,        msr::kAmdDr0AddrMask, msr::kAmdDr1AddrMask,
        msr::kAmdDr1AddrMask + 1, msr::kAmdDr1AddrMask + 2,
    };
    return kCarried;
}

std::vector<kvm::MsrValue> restorable_msrs(const VcpuArchState& s) {
    std::vector<kvm::MsrValue> out;
    out.reserve(s.msrs.size());
    // By index: IA32_TSC (0x10) goes before IA32_TSC_DEADLINE (0x6e0),
    // whose value KVM reads against the guest TSC.
    for (const auto& [index, value] : s.msrs) {
        if (index != msr::kMtrrCap) out.push_back({index, value});
    }
    return out;
}

std::uint32_t pack_xen_arbytes(const kvm_segment& seg) {
    const bool present = seg.present && !seg.unusable;
    return (seg.type & 0xfu) | ((seg.s & 1u) << 4) | ((seg.dpl & 3u) << 5) | (present ? ar::kPresent : 0) |
           (seg.avl ? ar::kAvl : 0) | (seg.l ? ar::kLong : 0) | (seg.db ? ar::kDb : 0) |
           (seg.g ? ar::kGranularity : 0);
}

Result<HvmCpu> to_xen_cpu(const VcpuArchState& s, std::uint16_t vcpu) {
    if (!s.online) return record_error("CPU", vcpu, "the vCPU is down; Xen writes no CPU record for it");
    if (s.mp_state != KVM_MP_STATE_RUNNABLE && s.mp_state != KVM_MP_STATE_HALTED) {
        return record_error("CPU", vcpu,
                            fmt::format("mp_state {} (waiting for INIT/SIPI or not x86) has no Xen form; retry the save",
                                        s.mp_state));
    }
    auto event = event_to_xen(s.events, vcpu);
    if (!event) return event.error();

    HvmCpu c;
    std::memcpy(c.fpu_regs.data(), xsave_bytes(s.xsave), c.fpu_regs.size());
    c.flags = kHvmCpuFpuInitialised;  // KVM's FPU always holds real state
    const kvm_regs& r = s.regs;
    c.rax = r.rax, c.rbx = r.rbx, c.rcx = r.rcx, c.rdx = r.rdx;
    c.rbp = r.rbp, c.rsi = r.rsi, c.rdi = r.rdi, c.rsp = r.rsp;
    c.r8 = r.r8, c.r9 = r.r9, c.r10 = r.r10, c.r11 = r.r11;
    c.r12 = r.r12, c.r13 = r.r13, c.r14 = r.r14, c.r15 = r.r15;
    c.rip = r.rip, c.rflags = r.rflags;
    const kvm_sregs& sr = s.sregs;
    c.cr0 = sr.cr0, c.cr2 = sr.cr2, c.cr3 = sr.cr3, c.cr4 = sr.cr4;
    c.msr_efer = sr.efer;
    c.dr0 = s.debugregs.db[0], c.dr1 = s.debugregs.db[1], c.dr2 = s.debugregs.db[2], c.dr3 = s.debugregs.db[3];
    c.dr6 = s.debugregs.dr6, c.dr7 = s.debugregs.dr7;
    for (const SegmentFields& f : kSegments) {
        const kvm_segment& seg = sr.*f.kvm;
        c.*f.sel = seg.selector;
        c.*f.limit = seg.limit;
        c.*f.base = seg.base;
        c.*f.arbytes = pack_xen_arbytes(seg);
    }
    c.gdtr_base = sr.gdt.base, c.gdtr_limit = sr.gdt.limit;
    c.idtr_base = sr.idt.base, c.idtr_limit = sr.idt.limit;
    c.sysenter_cs = msr_or(s, msr::kSysenterCs);
    c.sysenter_esp = msr_or(s, msr::kSysenterEsp);
    c.sysenter_eip = msr_or(s, msr::kSysenterEip);
    c.shadow_gs = msr_or(s, msr::kKernelGsBase);
    c.msr_lstar = msr_or(s, msr::kLstar);
    c.msr_star = msr_or(s, msr::kStar);
    c.msr_cstar = msr_or(s, msr::kCstar);
    c.msr_syscall_mask = msr_or(s, msr::kSfmask);
    c.msr_tsc_aux = msr_or(s, msr::kTscAux);
    c.tsc = msr_or(s, msr::kTsc);
    c.pending_event = event->info;
    c.error_code = event->error_code;
    return c;
}

Status from_xen_cpu(const HvmCpu& c, std::uint16_t vcpu, VcpuArchState& s) {
    const auto fail = [vcpu](std::string_view why) { return record_error("CPU", vcpu, why); };
    if (c.pad0 != 0) return fail(fmt::format("pad0 is {:#x}, not 0", c.pad0));
    if (c.flags & ~kHvmCpuFpuInitialised) return fail(fmt::format("flags {:#x} has unknown bits", c.flags));
    if (auto st = check_control_registers(c, vcpu); !st) return st;

    kvm_sregs& sr = s.sregs;
    for (const SegmentFields& f : kSegments) {
        const std::uint32_t attr = unfold_arbytes(c.*f.arbytes);
        if (attr & ~0xfffu) return fail(fmt::format("{}_arbytes {:#x} has bits above 11 set", f.name, c.*f.arbytes));
        if (c.*f.sel > 0xffff) return fail(fmt::format("{}_sel {:#x} is wider than 16 bits", f.name, c.*f.sel));
        sr.*f.kvm = unpack_segment(attr, c.*f.sel, c.*f.limit, c.*f.base);
    }
    if (c.gdtr_limit > 0xffff) return fail(fmt::format("gdtr_limit {:#x} is wider than 16 bits", c.gdtr_limit));
    if (c.idtr_limit > 0xffff) return fail(fmt::format("idtr_limit {:#x} is wider than 16 bits", c.idtr_limit));
    const bool long_mode = c.msr_efer & efer_bit::kLma;
    if (long_mode && sr.cs.l && sr.cs.db) {
        return fail(fmt::format("cs_arbytes {:#x} sets both L and D/B in long mode", c.cs_arbytes));
    }
    sr.gdt = kvm_dtable{};
    sr.gdt.base = c.gdtr_base;
    sr.gdt.limit = static_cast<std::uint16_t>(c.gdtr_limit);
    sr.idt = kvm_dtable{};
    sr.idt.base = c.idtr_base;
    sr.idt.limit = static_cast<std::uint16_t>(c.idtr_limit);
    sr.cr0 = c.cr0, sr.cr2 = c.cr2, sr.cr3 = c.cr3, sr.cr4 = c.cr4;
    sr.efer = c.msr_efer;
    if (auto st = event_from_xen(c, vcpu, s.events, sr); !st) return st;

    kvm_regs& r = s.regs;
    r.rax = c.rax, r.rbx = c.rbx, r.rcx = c.rcx, r.rdx = c.rdx;
    r.rbp = c.rbp, r.rsi = c.rsi, r.rdi = c.rdi, r.rsp = c.rsp;
    r.r8 = c.r8, r.r9 = c.r9, r.r10 = c.r10, r.r11 = c.r11;
    r.r12 = c.r12, r.r13 = c.r13, r.r14 = c.r14, r.r15 = c.r15;
    r.rip = c.rip;
    r.rflags = c.rflags | kRflagsFixed1;  // as Xen's loader sets it

    s.debugregs = kvm_debugregs{};
    s.debugregs.db[0] = c.dr0, s.debugregs.db[1] = c.dr1, s.debugregs.db[2] = c.dr2, s.debugregs.db[3] = c.dr3;
    s.debugregs.dr6 = c.dr6, s.debugregs.dr7 = c.dr7;

    // The FPU: Xen's loader installs fpu_regs with XSTATE_BV = x87|SSE; a
    // CPU_XSAVE record, applied after, replaces the whole area.
    if (c.flags & kHvmCpuFpuInitialised) {
        const std::uint32_t mxcsr = load32(c.fpu_regs.data() + kMxcsrAt);
        if (mxcsr & ~kMxcsrValidBits) return fail(fmt::format("fpu_regs MXCSR {:#x} has reserved bits set", mxcsr));
        s.xsave = kvm::XsaveArea{};
        std::memcpy(xsave_bytes(s.xsave), c.fpu_regs.data(), c.fpu_regs.size());
        store64(xsave_bytes(s.xsave) + kXsaveStateBvAt, xcr0_bit::kX87 | xcr0_bit::kSse);
    } else {
        reset_fpu(s.xsave);
    }

    s.msrs[msr::kSysenterCs] = c.sysenter_cs;
    s.msrs[msr::kSysenterEsp] = c.sysenter_esp;
    s.msrs[msr::kSysenterEip] = c.sysenter_eip;
    s.msrs[msr::kKernelGsBase] = c.shadow_gs;
    s.msrs[msr::kLstar] = c.msr_lstar;
    s.msrs[msr::kStar] = c.msr_star;
    s.msrs[msr::kCstar] = c.msr_cstar;
    s.msrs[msr::kSfmask] = c.msr_syscall_mask;
    s.msrs[msr::kTscAux] = c.msr_tsc_aux;
    s.msrs[msr::kTsc] = c.tsc;
    s.online = true;
    s.mp_state = KVM_MP_STATE_RUNNABLE;
    return ok_status();
}

HvmLapic to_xen_lapic(const VcpuArchState& s) {
    HvmLapic l;
    l.apic_base_msr = s.sregs.apic_base;
    l.disabled = lapic_disabled_bits(s.sregs.apic_base, s.lapic);
    l.timer_divisor = timer_divisor(apic_read(s.lapic, apic_reg::kTdcr));
    l.tdt_msr = msr_or(s, msr::kTscDeadline);
    return l;
}

HvmLapicRegs to_xen_lapic_regs(const VcpuArchState& s) {
    HvmLapicRegs r;
    static_assert(sizeof r.data == sizeof s.lapic.regs);
    std::memcpy(r.data.data(), s.lapic.regs, r.data.size());
    return r;
}

Status from_xen_lapic(const HvmLapic& lapic, const HvmLapicRegs& regs, std::uint16_t vcpu, const HostVcpuCaps& caps,
                      VcpuArchState& s) {
    const auto fail = [vcpu](std::string_view why) { return record_error("LAPIC", vcpu, why); };
    const std::uint64_t base = lapic.apic_base_msr;
    if (base & kApicBaseReserved) return fail(fmt::format("apic_base_msr {:#x} has reserved bits set", base));
    if ((base & (kApicBaseEnable | kApicBaseExtd)) == kApicBaseExtd) {
        return fail(fmt::format("apic_base_msr {:#x} sets x2APIC mode with the APIC disabled", base));
    }
    if ((base & kApicBaseExtd) && !caps.x2apic) {
        return fail(fmt::format("apic_base_msr {:#x} is in x2APIC mode, which needs KVM_X2APIC_API_USE_32BIT_IDS "
                                "so the ID register keeps its 32-bit ID",
                                base));
    }
    if (lapic.pending_esr != 0) {
        return fail(fmt::format("pending_esr {:#x}: KVM's LAPIC keeps no pending ESR bits", lapic.pending_esr));
    }
    kvm_lapic_state page{};
    std::memcpy(page.regs, regs.data.data(), regs.data.size());
    if (const std::uint32_t derived = lapic_disabled_bits(base, page); lapic.disabled != derived) {
        return fail(fmt::format("disabled {:#x} disagrees with the base MSR and the LAPIC_REGS SVR (which give {:#x})",
                                lapic.disabled, derived));
    }
    const std::uint32_t tdcr = apic_read(page, apic_reg::kTdcr);
    if (lapic.timer_divisor != timer_divisor(tdcr)) {
        return fail(fmt::format("timer_divisor {} disagrees with the LAPIC_REGS TDCR {:#x} (which gives {})",
                                lapic.timer_divisor, tdcr, timer_divisor(tdcr)));
    }
    // Xen keeps no current count in its page and re-arms a one-shot or
    // periodic timer from TMICT on load; KVM counts down from TMCCT, so a
    // 0 there would fire at once. Start from TMICT, as Xen does.
    const unsigned timer_mode = (apic_read(page, apic_reg::kLvtt) >> 17) & 3;
    if (timer_mode != kLvttModeTscDeadline && apic_read(page, apic_reg::kTmcct) == 0) {
        apic_write(page, apic_reg::kTmcct, apic_read(page, apic_reg::kTmict));
    }
    s.lapic = page;
    s.sregs.apic_base = base;
    s.sregs.cr8 = (apic_read(page, apic_reg::kTpr) >> 4) & 0xf;  // KVM_SET_SREGS writes TPR from CR8
    s.msrs[msr::kTscDeadline] = lapic.tdt_msr;
    return ok_status();
}

HvmMtrr to_xen_mtrr(const VcpuArchState& s) {
    HvmMtrr m;
    m.msr_pat_cr = msr_or(s, msr::kPat, kResetPat);
    m.msr_mtrr_cap = msr_or(s, msr::kMtrrCap, kKvmMtrrCap);
    m.msr_mtrr_def_type = msr_or(s, msr::kMtrrDefType);
    for (std::size_t i = 0; i < m.msr_mtrr_var.size(); ++i) {
        m.msr_mtrr_var[i] = msr_or(s, msr::kMtrrPhysBase0 + static_cast<std::uint32_t>(i));
    }
    for (std::size_t i = 0; i < kFixedMtrrs.size(); ++i) m.msr_mtrr_fixed[i] = msr_or(s, kFixedMtrrs[i]);
    return m;
}

Status from_xen_mtrr(const HvmMtrr& m, std::uint16_t vcpu, VcpuArchState& s) {
    const auto fail = [vcpu](std::string_view why) { return record_error("MTRR", vcpu, why); };
    const std::uint64_t vcnt = m.msr_mtrr_cap & 0xff;
    if (vcnt > kKvmVariableMtrrs) {
        return fail(fmt::format("msr_mtrr_cap {:#x} has {} variable ranges; KVM has {}", m.msr_mtrr_cap, vcnt,
                                kKvmVariableMtrrs));
    }
    for (unsigned i = 0; i < 8; ++i) {
        const std::uint64_t pat_type = (m.msr_pat_cr >> (8 * i)) & 0xff;
        if (pat_type != 7 && !valid_memory_type(pat_type)) {
            return fail(fmt::format("msr_pat_cr {:#x} entry {} is type {:#x}", m.msr_pat_cr, i, pat_type));
        }
    }
    const std::uint64_t def = m.msr_mtrr_def_type;
    if ((def & ~std::uint64_t{0xcff}) || !valid_memory_type(def & 0xff)) {
        return fail(fmt::format("msr_mtrr_def_type {:#x} is not a valid MTRRdefType", def));
    }
    for (std::size_t i = 0; i < m.msr_mtrr_fixed.size(); ++i) {
        for (unsigned b = 0; b < 8; ++b) {
            if (!valid_memory_type((m.msr_mtrr_fixed[i] >> (8 * b)) & 0xff)) {
                return fail(fmt::format("msr_mtrr_fixed[{}] {:#x} byte {} is not a memory type", i,
                                        m.msr_mtrr_fixed[i], b));
            }
        }
    }
    // Xen loads the first VCNT pairs; the rest stay at reset (0).
    for (std::size_t n = 0; n < kKvmVariableMtrrs; ++n) {
        const std::uint64_t pbase = n < vcnt ? m.msr_mtrr_var[2 * n] : 0;
        const std::uint64_t pmask = n < vcnt ? m.msr_mtrr_var[2 * n + 1] : 0;
        if ((pbase & 0xf00) || !valid_memory_type(pbase & 0xff)) {
            return fail(fmt::format("msr_mtrr_var[{}] (PHYSBASE{}) {:#x} is not valid", 2 * n, n, pbase));
        }
        if (pmask & 0x7ff) return fail(fmt::format("msr_mtrr_var[{}] (PHYSMASK{}) {:#x} is not valid", 2 * n + 1, n, pmask));
        s.msrs[msr::kMtrrPhysBase0 + static_cast<std::uint32_t>(2 * n)] = pbase;
        s.msrs[msr::kMtrrPhysBase0 + static_cast<std::uint32_t>(2 * n + 1)] = pmask;
    }
    for (std::size_t i = 0; i < kFixedMtrrs.size(); ++i) s.msrs[kFixedMtrrs[i]] = m.msr_mtrr_fixed[i];
    s.msrs[msr::kMtrrDefType] = def;
    s.msrs[msr::kPat] = m.msr_pat_cr;
    s.msrs[msr::kMtrrCap] = m.msr_mtrr_cap;  // read-only in KVM: never written back
    return ok_status();
}

std::size_t xsave_area_size(std::uint64_t xcr0) {
    std::size_t size = kXsaveAreaMinSize;
    std::uint64_t known = xcr0_bit::kX87 | xcr0_bit::kSse;
    for (const XsaveComponent& c : kXsaveComponents) {
        const std::uint64_t bit = std::uint64_t{1} << c.bit;
        known |= bit;
        if (xcr0 & bit) size = std::max(size, c.offset + c.size);
    }
    return (xcr0 & ~known) ? 0 : size;
}

Result<HvmCpuXsave> to_xen_xsave(const VcpuArchState& s, std::uint16_t vcpu) {
    const auto fail = [vcpu](std::string_view why) { return record_error("CPU_XSAVE", vcpu, why); };
    if (s.xcrs.nr_xcrs > KVM_MAX_XCRS) return fail(fmt::format("nr_xcrs {} is above {}", s.xcrs.nr_xcrs, KVM_MAX_XCRS));
    const kvm_xcr* xcr0 = nullptr;
    for (std::uint32_t i = 0; i < s.xcrs.nr_xcrs; ++i) {
        if (s.xcrs.xcrs[i].xcr == 0) xcr0 = &s.xcrs.xcrs[i];
    }
    if (!xcr0) return fail("the vCPU has no XCR0 (host without XSAVE)");
    const std::uint8_t* area = xsave_bytes(s.xsave);
    const std::uint64_t xstate_bv = load64(area + kXsaveStateBvAt);
    if (load64(area + kXsaveCompBvAt) != 0) return fail("the XSAVE area is in compacted format");
    HvmCpuXsave x;
    x.xcr0 = xcr0->value;
    // KVM keeps no accumulated XCR0: what XCR0 or XSTATE_BV name is what
    // the guest can have state in.
    x.xcr0_accum = x.xcr0 | xstate_bv;
    if (const char* why = invalid_xcr0_reason(x.xcr0_accum)) {
        return fail(fmt::format("xcr0 {:#x} | XSTATE_BV {:#x} is not a valid XCR0: {}", x.xcr0, xstate_bv, why));
    }
    const std::size_t size = xsave_area_size(x.xcr0_accum);
    if (size == 0) return fail(fmt::format("xcr0_accum {:#x} names a component of unknown layout", x.xcr0_accum));
    if (size > sizeof(kvm::XsaveArea)) {
        return fail(fmt::format("xcr0_accum {:#x} needs {} bytes, more than KVM's 4 KiB XSAVE buffer", x.xcr0_accum,
                                size));
    }
    x.save_area.assign(area, area + size);
    return x;
}

Status from_xen_xsave(const HvmCpuXsave& x, std::uint16_t vcpu, const HostVcpuCaps& caps, VcpuArchState& s) {
    const auto fail = [vcpu](std::string_view why) { return record_error("CPU_XSAVE", vcpu, why); };
    const std::vector<std::uint8_t>& area = x.save_area;
    if (area.size() < kXsaveAreaMinSize) {
        return fail(fmt::format("save area of {} bytes is shorter than the legacy area and header", area.size()));
    }
    if (x.xcr0 & ~x.xcr0_accum) return fail(fmt::format("xcr0 {:#x} is not within xcr0_accum {:#x}", x.xcr0, x.xcr0_accum));
    if (const char* why = invalid_xcr0_reason(x.xcr0)) return fail(fmt::format("xcr0 {:#x} is invalid: {}", x.xcr0, why));
    if (const char* why = invalid_xcr0_reason(x.xcr0_accum)) {
        return fail(fmt::format("xcr0_accum {:#x} is invalid: {}", x.xcr0_accum, why));
    }
    const std::uint64_t xstate_bv = load64(area.data() + kXsaveStateBvAt);
    if (xstate_bv & ~x.xcr0_accum) {
        return fail(fmt::format("XSTATE_BV {:#x} is not within xcr0_accum {:#x}", xstate_bv, x.xcr0_accum));
    }
    if (load64(area.data() + kXsaveCompBvAt) != 0) {
        return fail(fmt::format("XCOMP_BV {:#x}: a compacted area (Xen writes the standard format)",
                                load64(area.data() + kXsaveCompBvAt)));
    }
    for (std::size_t at = kXsaveCompBvAt + 8; at < kXsaveAreaMinSize; at += 8) {
        if (load64(area.data() + at) != 0) return fail(fmt::format("XSAVE header reserved byte {} is not zero", at - kXsaveHeaderAt));
    }
    if (x.xcr0 & ~caps.supported_xcr0) {
        return fail(fmt::format("xcr0 {:#x} has features this host lacks (it supports {:#x})", x.xcr0,
                                caps.supported_xcr0));
    }
    if (xstate_bv & ~caps.supported_xcr0) {
        return fail(fmt::format("XSTATE_BV {:#x} holds state for features this host lacks (it supports {:#x})",
                                xstate_bv, caps.supported_xcr0));
    }
    const std::size_t accum_size = xsave_area_size(x.xcr0_accum);
    if (accum_size == 0) return fail(fmt::format("xcr0_accum {:#x} names a component of unknown layout", x.xcr0_accum));
    const std::size_t needed = xsave_area_size(xstate_bv | x.xcr0);
    if (area.size() < needed) {
        return fail(fmt::format("save area of {} bytes is too short for XSTATE_BV {:#x} (needs {})", area.size(),
                                xstate_bv, needed));
    }
    if (needed > sizeof(kvm::XsaveArea)) {
        return fail(fmt::format("XSTATE_BV {:#x} needs {} bytes, more than KVM's 4 KiB XSAVE buffer", xstate_bv, needed));
    }
    // Older Xen sent areas longer than xcr0_accum needs; it accepts them
    // when the excess is zero, and so does this. Whatever KVM's buffer
    // cannot hold must be zero too.
    const std::size_t keep = std::min(accum_size, sizeof(kvm::XsaveArea));
    for (std::size_t at = keep; at < area.size(); ++at) {
        if (area[at] != 0) {
            return fail(fmt::format("save area byte {} is non-zero past the {} bytes xcr0_accum {:#x} needs", at,
                                    keep, x.xcr0_accum));
        }
    }
    const std::uint32_t mxcsr = load32(area.data() + kMxcsrAt);
    if (mxcsr & ~kMxcsrValidBits) return fail(fmt::format("MXCSR {:#x} has reserved bits set", mxcsr));
    s.xsave = kvm::XsaveArea{};
    std::memcpy(xsave_bytes(s.xsave), area.data(), std::min(area.size(), keep));
    s.xcrs = kvm_xcrs{};
    s.xcrs.nr_xcrs = 1;
    s.xcrs.xcrs[0].xcr = 0;
    s.xcrs.xcrs[0].value = x.xcr0;
    return ok_status();
}

std::vector<HvmMsr> to_xen_cpu_msrs(const VcpuArchState& s) {
    std::vector<HvmMsr> out;
    for (const std::uint32_t index : cpu_msr_indices()) {
        if (const std::uint64_t v = msr_or(s, index); v != 0) out.push_back({index, v});
    }
    return out;
}

Status from_xen_cpu_msrs(const std::vector<HvmMsr>& msrs, std::uint16_t vcpu, VcpuArchState& s) {
    const auto carried = cpu_msr_indices();
    std::set<std::uint32_t> seen;
    for (const HvmMsr& m : msrs) {
        if (std::find(carried.begin(), carried.end(), m.index) == carried.end()) {
            return record_error("CPU_MSR", vcpu, fmt::format("MSR {:#x} is not one Xen carries (Xen refuses it too)", m.index));
        }
        if (!seen.insert(m.index).second) {
            return record_error("CPU_MSR", vcpu, fmt::format("MSR {:#x} appears twice", m.index));
        }
    }
    for (const HvmMsr& m : msrs) s.msrs[m.index] = m.value;
    return ok_status();
}

Result<HvmContext> build_hvm_context(const HvmSaveHeader& header, std::span<const VcpuArchState> vcpus,
                                     std::span<const HvmEntry> other) {
    constexpr std::size_t kMaxVcpus = HvmContextLimits{}.max_vcpus;
    if (vcpus.size() > kMaxVcpus) {
        return make_error(fmt::format("HVM context: {} vCPUs, Xen's records number at most {}", vcpus.size(), kMaxVcpus));
    }
    std::set<std::pair<std::uint16_t, std::uint16_t>> seen;
    for (const HvmEntry& e : other) {
        if (is_translated_code(e.typecode)) {
            return make_error(fmt::format("HVM context: an opaque entry has typecode {}, which the vCPU state fills",
                                          e.typecode));
        }
        if (is_per_vcpu_hvm_code(e.typecode) && e.instance >= vcpus.size()) {
            return make_error(fmt::format("HVM context: typecode {} entry for vCPU {}, but the domain has {}",
                                          e.typecode, e.instance, vcpus.size()));
        }
        if (!seen.insert({e.typecode, e.instance}).second) {
            return make_error(fmt::format("HVM context: two entries with typecode {} instance {}", e.typecode, e.instance));
        }
    }

    std::vector<HvmEntry> entries;
    for (std::size_t i = 0; i < vcpus.size(); ++i) {
        const VcpuArchState& s = vcpus[i];
        const auto id = static_cast<std::uint16_t>(i);
        if (s.online) {
            auto cpu = to_xen_cpu(s, id);
            if (!cpu) return cpu.error();
            entries.push_back(encode_hvm_cpu(id, *cpu));
        }
        entries.push_back(encode_hvm_lapic(id, to_xen_lapic(s)));
        entries.push_back(encode_hvm_lapic_regs(id, to_xen_lapic_regs(s)));
        entries.push_back(encode_hvm_mtrr(id, to_xen_mtrr(s)));
        if (s.xcrs.nr_xcrs != 0) {
            auto xsave = to_xen_xsave(s, id);
            if (!xsave) return xsave.error();
            entries.push_back(encode_hvm_xsave(id, *xsave));
        }
        entries.push_back(encode_hvm_tsc_adjust(id, HvmTscAdjust{msr_or(s, msr::kTscAdjust)}));
        if (auto msrs = to_xen_cpu_msrs(s); !msrs.empty()) entries.push_back(encode_hvm_msrs(id, msrs));
    }
    entries.insert(entries.end(), other.begin(), other.end());
    // Xen's saver walks its handlers in typecode order, each over every
    // vCPU (or once for the domain).
    std::stable_sort(entries.begin(), entries.end(),
                     [](const HvmEntry& a, const HvmEntry& b) { return a.typecode < b.typecode; });

    HvmContext ctx;
    ctx.entries.reserve(entries.size() + 2);
    ctx.entries.push_back(encode_hvm_header(header));
    for (HvmEntry& e : entries) ctx.entries.push_back(std::move(e));
    ctx.entries.push_back(hvm_end_entry());
    return ctx;
}

Result<AppliedHvmContext> apply_hvm_context(const HvmContext& context, std::size_t vcpu_count,
                                            const HostVcpuCaps& caps) {
    if (context.entries.empty() || context.entries.front().typecode != hvm_code::kHeader) {
        return make_error("HVM context: no HEADER entry");
    }
    auto header = decode_hvm_header(context.entries.front());
    if (!header) return header.error();
    AppliedHvmContext out;
    out.header = *header;
    out.vcpus.resize(vcpu_count);
    for (VcpuArchState& s : out.vcpus) s.online = false;  // until a CPU record brings it up

    for (std::size_t i = 1; i < context.entries.size(); ++i) {
        const HvmEntry& e = context.entries[i];
        if (e.typecode == hvm_code::kEnd) break;
        if (e.typecode == hvm_code::kHeader) return make_error("HVM context: a second HEADER entry");
        if (is_per_vcpu_hvm_code(e.typecode) && e.instance >= vcpu_count) {
            return make_error(fmt::format("HVM context: typecode {} entry for vCPU {}, but the domain has {} vCPUs",
                                          e.typecode, e.instance, vcpu_count));
        }
        if (!is_translated_code(e.typecode)) out.other.push_back(e);
    }

    // Per vCPU in Xen's save order (CPU before CPU_XSAVE, which replaces
    // the FPU the CPU record installs), whatever the blob's order.
    for (std::size_t i = 0; i < vcpu_count; ++i) {
        const auto id = static_cast<std::uint16_t>(i);
        VcpuArchState& s = out.vcpus[i];
        if (const HvmEntry* e = context.find(hvm_code::kCpu, id)) {
            auto cpu = decode_hvm_cpu(*e);
            if (!cpu) return record_error("CPU", id, cpu.error().what);
            if (auto st = from_xen_cpu(*cpu, id, s); !st) return st.error();
        }
        const HvmEntry* lapic_e = context.find(hvm_code::kLapic, id);
        const HvmEntry* regs_e = context.find(hvm_code::kLapicRegs, id);
        if (!lapic_e || !regs_e) {
            return record_error(lapic_e ? "LAPIC_REGS" : "LAPIC", id, "missing (every vCPU needs LAPIC and LAPIC_REGS)");
        }
        auto lapic = decode_hvm_lapic(*lapic_e);
        if (!lapic) return record_error("LAPIC", id, lapic.error().what);
        auto regs = decode_hvm_lapic_regs(*regs_e);
        if (!regs) return record_error("LAPIC_REGS", id, regs.error().what);
        if (auto st = from_xen_lapic(*lapic, *regs, id, caps, s); !st) return st.error();
        if (const HvmEntry* e = context.find(hvm_code::kMtrr, id)) {
            auto mtrr = decode_hvm_mtrr(*e);
            if (!mtrr) return record_error("MTRR", id, mtrr.error().what);
            if (auto st = from_xen_mtrr(*mtrr, id, s); !st) return st.error();
        }
        if (const HvmEntry* e = context.find(hvm_code::kCpuXsave, id)) {
            auto xsave = decode_hvm_xsave(*e);
            if (!xsave) return record_error("CPU_XSAVE", id, xsave.error().what);
            if (auto st = from_xen_xsave(*xsave, id, caps, s); !st) return st.error();
        }
        if (const HvmEntry* e = context.find(hvm_code::kTscAdjust, id)) {
            auto adjust = decode_hvm_tsc_adjust(*e);
            if (!adjust) return record_error("TSC_ADJUST", id, adjust.error().what);
            s.msrs[msr::kTscAdjust] = adjust->tsc_adjust;
        }
        if (const HvmEntry* e = context.find(hvm_code::kCpuMsr, id)) {
            auto msrs = decode_hvm_msrs(*e);
            if (!msrs) return record_error("CPU_MSR", id, msrs.error().what);
            if (auto st = from_xen_cpu_msrs(*msrs, id, s); !st) return st.error();
        }
    }
    return out;
}

Result<AppliedHvmContext> apply_hvm_context(ByteSpan blob, std::size_t vcpu_count, const HostVcpuCaps& caps) {
    auto context = parse_hvm_context(blob);
    if (!context) return context.error();
    return apply_hvm_context(*context, vcpu_count, caps);
}

}  // namespace xenolith::migration
