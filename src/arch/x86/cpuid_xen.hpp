// The CPUID a Xen guest sees: Xen's hypervisor leaves at 0x40000000
// (<xen/arch-x86/cpuid.h>) in place of KVM's, on top of what the host's KVM
// supports.
//
//   base+0  EAX = base+5 (last leaf), "XenVMMXenVMM"
//   base+1  EAX = version (major << 16 | minor)
//   base+2  EAX = 1 hypercall page, EBX = its MSR (0x40000000)
//   base+3  TSC leaf. Subleaf 0: EAX bit 0 "emulated TSC" = 0 (KVM runs
//           the guest on the hardware TSC), bit 1 "host TSC reliable",
//           bit 2 RDTSCP; EBX tsc_mode 0 (default); ECX guest TSC kHz;
//           EDX incarnation. Subleaf 1: offset 0 and the tsc->ns scale
//           (mul_frac, shift) for that frequency. Subleaf 2: host TSC kHz.
//           This is what Xen reports for a default-mode guest whose TSC is
//           not emulated.
//   base+4  HVM leaf, subleaf 0: EAX flags, EBX vcpu id, ECX domid
//   base+5  PV leaf: zero for HVM/PVH guests
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace xenolith::x86 {

inline constexpr std::uint32_t kXenCpuidBase = 0x40000000;
inline constexpr std::uint32_t kXenCpuidLastLeaf = kXenCpuidBase + 5;  // XEN_CPUID_MAX_NUM_LEAVES
// MSR the guest writes the hypercall page address to (CPUID base+2 EBX).
inline constexpr std::uint32_t kXenHypercallPageMsr = 0x40000000;
// Xen version reported by base+1 and XENVER_version.
inline constexpr std::uint16_t kXenVersionMajor = 4;
inline constexpr std::uint16_t kXenVersionMinor = 17;

// One CPUID entry, laid out like kvm_cpuid_entry2 minus padding. `flags`
// takes KVM_CPUID_FLAG_* (bit 0: the index/subleaf is significant).
struct CpuidEntry {
    std::uint32_t function = 0;
    std::uint32_t index = 0;
    std::uint32_t flags = 0;
    std::uint32_t eax = 0;
    std::uint32_t ebx = 0;
    std::uint32_t ecx = 0;
    std::uint32_t edx = 0;

    friend bool operator==(const CpuidEntry&, const CpuidEntry&) = default;
};

inline constexpr std::uint32_t kCpuidFlagSignificantIndex = 1;  // KVM_CPUID_FLAG_SIGNIFCANT_INDEX

// Per-domain and per-vCPU facts the Xen leaves report.
struct XenCpuidConfig {
    std::uint16_t domid = 0;
    std::uint32_t vcpu_id = 0;
    std::uint32_t guest_tsc_khz = 0;   // KVM_GET_TSC_KHZ; 0 = unknown (leaf 3 reports 0)
    std::uint32_t host_tsc_khz = 0;    // host TSC frequency; 0 = unknown
    bool host_tsc_reliable = false;    // constant and nonstop TSC (CPUID 0x80000007 EDX bit 8)
    bool rdtscp = false;               // RDTSCP available to the guest
    std::uint32_t tsc_incarnation = 1; // Xen starts at 1 and adds one per migration
    // HVM leaf flags: set only what the implementation really provides.
    bool apic_access_virt = false;     // XEN_HVM_CPUID_APIC_ACCESS_VIRT
    bool x2apic_virt = false;          // XEN_HVM_CPUID_X2APIC_VIRT
    bool iommu_mappings = true;        // XEN_HVM_CPUID_IOMMU_MAPPINGS (grant maps need no bounce)
    bool ext_dest_id = false;          // XEN_HVM_CPUID_EXT_DEST_ID
    bool upcall_vector = true;         // XEN_HVM_CPUID_UPCALL_VECTOR
};

// Xen's leaves base+0..base+5 for one vCPU, with KVM flags set for the
// subleaf-indexed ones (base+3 subleaves 0-2, base+4 and base+5 subleaf 0).
std::vector<CpuidEntry> xen_cpuid_leaves(const XenCpuidConfig& cfg);

// The table for KVM_SET_CPUID2 on one vCPU, from KVM_GET_SUPPORTED_CPUID:
// KVM's own 0x40000000-0x4fffffff leaves are dropped and Xen's appended;
// leaf 1 gets the hypervisor bit (ECX 31) and the initial APIC id (EBX
// 31:24); leaves 0xb and 0x1f get the x2APIC id (EDX) on every subleaf;
// 0x8000001e gets the extended APIC id (EAX). Everything else is kept.
std::vector<CpuidEntry> guest_cpuid(std::span<const CpuidEntry> supported,
                                    const XenCpuidConfig& cfg);

// Xen's tsc->ns scale for `khz`: ns = ((tsc << shift) * mul_frac) >> 32,
// a right shift when `shift` is negative.
struct TscScale {
    std::uint32_t mul_frac = 0;
    std::int8_t shift = 0;
};
TscScale tsc_to_ns_scale(std::uint64_t khz);

}  // namespace xenolith::x86
