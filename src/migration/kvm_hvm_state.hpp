// A vCPU's architectural state as KVM holds it, and its translation to and
// from Xen's per-vCPU HVM save records (CPU, LAPIC, LAPIC_REGS, MTRR,
// CPU_XSAVE, TSC_ADJUST, CPU_MSR), so a stream can go to or come from Xen.
//
// Pure data: nothing here touches /dev/kvm. A save reads VcpuArchState
// with kvm::Vcpu's state accessors (saved_msr_indices() lists the MSRs);
// a restore writes it back in the order ARCHITECTURE.md gives ("vCPU state
// translation"). Whatever KVM cannot hold faithfully is refused with an
// error naming the record, the vCPU and the field.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "base/result.hpp"
#include "kvm/kvm_state_abi.hpp"
#include "migration/hvm_context.hpp"

namespace xenolith::migration {

namespace msr {
inline constexpr std::uint32_t kTsc = 0x10;
inline constexpr std::uint32_t kApicBase = 0x1b;
inline constexpr std::uint32_t kTscAdjust = 0x3b;
inline constexpr std::uint32_t kSpecCtrl = 0x48;
inline constexpr std::uint32_t kMiscFeaturesEnables = 0x140;
inline constexpr std::uint32_t kSysenterCs = 0x174;
inline constexpr std::uint32_t kSysenterEsp = 0x175;
inline constexpr std::uint32_t kSysenterEip = 0x176;
inline constexpr std::uint32_t kMtrrCap = 0xfe;
inline constexpr std::uint32_t kMtrrPhysBase0 = 0x200;  // base n at 0x200 + 2n, mask at 0x201 + 2n
inline constexpr std::uint32_t kMtrrFix64k00000 = 0x250;
inline constexpr std::uint32_t kMtrrFix16k80000 = 0x258;
inline constexpr std::uint32_t kMtrrFix16kA0000 = 0x259;
inline constexpr std::uint32_t kMtrrFix4kC0000 = 0x268;  // through 0x26f
inline constexpr std::uint32_t kPat = 0x277;
inline constexpr std::uint32_t kMtrrDefType = 0x2ff;
inline constexpr std::uint32_t kTscDeadline = 0x6e0;
inline constexpr std::uint32_t kPkrs = 0x6e1;
inline constexpr std::uint32_t kBndcfgs = 0xd90;
inline constexpr std::uint32_t kXss = 0xda0;
inline constexpr std::uint32_t kStar = 0xc0000081;
inline constexpr std::uint32_t kLstar = 0xc0000082;
inline constexpr std::uint32_t kCstar = 0xc0000083;
inline constexpr std::uint32_t kSfmask = 0xc0000084;
inline constexpr std::uint32_t kKernelGsBase = 0xc0000102;
inline constexpr std::uint32_t kTscAux = 0xc0000103;
inline constexpr std::uint32_t kVirtSpecCtrl = 0xc001011f;
inline constexpr std::uint32_t kAmdDr1AddrMask = 0xc0011019;  // DR1..DR3: 0xc0011019..0xc001101b
inline constexpr std::uint32_t kAmdDr0AddrMask = 0xc0011027;
}  // namespace msr

// KVM's MTRRcap: 8 variable ranges, fixed ranges, write-combining.
inline constexpr std::uint64_t kKvmMtrrCap = 0x508;
inline constexpr unsigned kKvmVariableMtrrs = 8;
// The power-on PAT (Intel SDM, "PAT MSR"): Xen's and KVM's reset value.
inline constexpr std::uint64_t kResetPat = 0x0007040600070406;

// One vCPU as KVM holds it.
struct VcpuArchState {
    VcpuArchState();

    // Xen saves no CPU record for a vCPU that is down; a restore leaves a
    // vCPU without one down (xenolith's domain::Vcpu::online()).
    bool online = true;
    kvm_regs regs{};
    kvm_sregs sregs{};
    kvm_debugregs debugregs{};
    // The XSAVE area in standard format; its legacy 512 bytes are the FPU.
    // Defaults to the FPU's reset state.
    kvm::XsaveArea xsave{};
    kvm_xcrs xcrs{};  // XCR0 only (nr_xcrs 1); defaults to x87
    kvm_lapic_state lapic{};
    kvm_vcpu_events events{};
    std::uint32_t mp_state = KVM_MP_STATE_RUNNABLE;
    // By index: saved_msr_indices(), plus any cpu_msr_indices() the host has.
    std::map<std::uint32_t, std::uint64_t> msrs;
};

// What the restoring host's KVM can hold.
struct HostVcpuCaps {
    // XCR0 bits the host supports (KVM_GET_SUPPORTED_CPUID leaf 0xD).
    std::uint64_t supported_xcr0 = 0x3;
    // KVM_CAP_X2APIC_API enabled with KVM_X2APIC_API_USE_32BIT_IDS: an
    // x2APIC-mode LAPIC's ID register holds the 32-bit ID, as Xen's does.
    bool x2apic = false;
};

// The MSRs a save reads for every vCPU (CPU, MTRR, LAPIC and TSC_ADJUST
// records).
std::span<const std::uint32_t> saved_msr_indices();
// The MSRs Xen carries in CPU_MSR; a save reads those the host lists in
// KVM_GET_MSR_INDEX_LIST. A restore refuses any other index.
std::span<const std::uint32_t> cpu_msr_indices();

// The MSRs to hand to KVM_SET_MSRS on restore: every MSR in the state but
// the read-only MTRRcap, by index (IA32_TSC before IA32_TSC_DEADLINE).
// Write them after the LAPIC: KVM ignores a TSC deadline unless LVTT is
// already in TSC-deadline mode.
std::vector<kvm::MsrValue> restorable_msrs(const VcpuArchState& s);

// Xen's packed segment attributes (struct segment_register's attr: type,
// S, DPL, P, AVL, L, D/B, G in bits 0-11) from a KVM segment; P is clear
// for an unusable segment.
std::uint32_t pack_xen_arbytes(const kvm_segment& seg);

// CPU record. to_xen refuses what Xen's record has no field for and which
// matters (SMM, two pending events, an exception payload KVM has not
// applied, an AP in INIT/SIPI wait). `vcpu` names the vCPU in errors.
Result<HvmCpu> to_xen_cpu(const VcpuArchState& s, std::uint16_t vcpu);
// Registers, segments, control and debug registers, the CPU's MSRs, the
// FPU (legacy XSAVE area), the pending event, online and mp_state.
Status from_xen_cpu(const HvmCpu& cpu, std::uint16_t vcpu, VcpuArchState& s);

// LAPIC and LAPIC_REGS: the hidden state (base MSR, disabled, timer divisor,
// TSC deadline) and the 1 KiB register page, which is the same APIC page
// layout in both. Restored together: the hidden state must agree with the
// page, since KVM derives it from the page.
HvmLapic to_xen_lapic(const VcpuArchState& s);
HvmLapicRegs to_xen_lapic_regs(const VcpuArchState& s);
Status from_xen_lapic(const HvmLapic& lapic, const HvmLapicRegs& regs, std::uint16_t vcpu,
                      const HostVcpuCaps& caps, VcpuArchState& s);

// MTRR: MTRRcap, def_type, the 11 fixed and 8 variable ranges, PAT.
HvmMtrr to_xen_mtrr(const VcpuArchState& s);
Status from_xen_mtrr(const HvmMtrr& mtrr, std::uint16_t vcpu, VcpuArchState& s);

// CPU_XSAVE: XCR0, the area in standard format sized for the components
// XCR0 or XSTATE_BV name (xcr0_accum is their union: KVM keeps no history).
Result<HvmCpuXsave> to_xen_xsave(const VcpuArchState& s, std::uint16_t vcpu);
Status from_xen_xsave(const HvmCpuXsave& xsave, std::uint16_t vcpu, const HostVcpuCaps& caps, VcpuArchState& s);

// The standard-format XSAVE area size holding the components in `xcr0`
// (at least the legacy area and header); 0 for a component xenolith does
// not know the layout of.
std::size_t xsave_area_size(std::uint64_t xcr0);

// CPU_MSR: the cpu_msr_indices() MSRs with non-zero values (Xen sends no
// zeros, and a restore leaves those at their reset value 0); empty when
// there are none, and then no record is written.
std::vector<HvmMsr> to_xen_cpu_msrs(const VcpuArchState& s);
Status from_xen_cpu_msrs(const std::vector<HvmMsr>& msrs, std::uint16_t vcpu, VcpuArchState& s);

// A whole context: HEADER, each vCPU's records numbered as Xen numbers
// vCPUs (the index in `vcpus`), the domain-wide `other` entries (PIC,
// IOAPIC, PIT, RTC, HPET, ... kept opaque) in typecode order as Xen's
// saver writes them, and END.
Result<HvmContext> build_hvm_context(const HvmSaveHeader& header, std::span<const VcpuArchState> vcpus,
                                     std::span<const HvmEntry> other = {});

struct AppliedHvmContext {
    HvmSaveHeader header;
    std::vector<VcpuArchState> vcpus;  // one per domain vCPU
    // Entries this translation does not handle (domain-wide devices,
    // viridian, vMCE, unknown types), in blob order, END excluded.
    std::vector<HvmEntry> other;
};

// Reads a context for a domain of `vcpu_count` vCPUs. Refuses a per-vCPU
// record for a vCPU the domain lacks, and anything the per-record
// functions refuse. Records a vCPU lacks: no CPU leaves it down; no MTRR
// leaves the reset MTRRs; LAPIC and LAPIC_REGS are required.
Result<AppliedHvmContext> apply_hvm_context(const HvmContext& context, std::size_t vcpu_count,
                                            const HostVcpuCaps& caps);
Result<AppliedHvmContext> apply_hvm_context(ByteSpan blob, std::size_t vcpu_count, const HostVcpuCaps& caps);

}  // namespace xenolith::migration
