#include "arch/x86/cpuid_xen.hpp"

#include <xen/arch-x86/cpuid.h>

#include "arch/x86/pvh_layout.hpp"

namespace xenolith::x86 {
namespace {

constexpr std::uint32_t kHypervisorBit = 1u << 31;  // CPUID.1:ECX
// Bit 0 ("emulated TSC") stays clear: KVM guests run on the hardware TSC.
constexpr std::uint32_t kTscLeafReliable = 1u << 1;
constexpr std::uint32_t kTscLeafRdtscp = 1u << 2;
constexpr std::uint32_t kTscModeDefault = 0;

bool is_hypervisor_leaf(std::uint32_t function) {
    return function >= 0x40000000 && function <= 0x4fffffff;
}

std::uint32_t hvm_leaf_flags(const XenCpuidConfig& cfg) {
    std::uint32_t f = XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT;
    if (cfg.apic_access_virt) f |= XEN_HVM_CPUID_APIC_ACCESS_VIRT;
    if (cfg.x2apic_virt) f |= XEN_HVM_CPUID_X2APIC_VIRT;
    if (cfg.iommu_mappings) f |= XEN_HVM_CPUID_IOMMU_MAPPINGS;
    if (cfg.ext_dest_id) f |= XEN_HVM_CPUID_EXT_DEST_ID;
    if (cfg.upcall_vector) f |= XEN_HVM_CPUID_UPCALL_VECTOR;
    return f;
}

}  // namespace

TscScale tsc_to_ns_scale(std::uint64_t khz) {
    // Normalise the frequency into (1e9, 2e9] by powers of two, so that
    // mul_frac = 1e9 * 2^32 / freq lies in [2^31, 2^32).
    constexpr std::uint64_t kNsPerSec = 1000000000;
    if (khz == 0) return {};
    std::uint64_t freq = khz * 1000;
    int shift = 0;
    while (freq > 2 * kNsPerSec) {
        freq >>= 1;
        --shift;
    }
    while (freq <= kNsPerSec) {
        freq <<= 1;
        ++shift;
    }
    return {static_cast<std::uint32_t>((kNsPerSec << 32) / freq), static_cast<std::int8_t>(shift)};
}

std::vector<CpuidEntry> xen_cpuid_leaves(const XenCpuidConfig& cfg) {
    const std::uint32_t b = kXenCpuidBase;
    const std::uint32_t idx = kCpuidFlagSignificantIndex;
    std::vector<CpuidEntry> v;

    v.push_back({b + 0, 0, 0, kXenCpuidLastLeaf, XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX,
                 XEN_CPUID_SIGNATURE_EDX});
    v.push_back({b + 1, 0, 0, (std::uint32_t{kXenVersionMajor} << 16) | kXenVersionMinor, 0, 0, 0});
    v.push_back({b + 2, 0, 0, 1, kXenHypercallPageMsr, 0, 0});

    std::uint32_t tsc_flags = 0;
    if (cfg.host_tsc_reliable) tsc_flags |= kTscLeafReliable;
    if (cfg.rdtscp) tsc_flags |= kTscLeafRdtscp;
    const TscScale scale = tsc_to_ns_scale(cfg.guest_tsc_khz);
    v.push_back(
        {b + 3, 0, idx, tsc_flags, kTscModeDefault, cfg.guest_tsc_khz, cfg.tsc_incarnation});
    v.push_back({b + 3, 1, idx, 0, 0, scale.mul_frac,
                 static_cast<std::uint32_t>(static_cast<std::int32_t>(scale.shift))});
    v.push_back({b + 3, 2, idx, cfg.host_tsc_khz, 0, 0, 0});

    v.push_back({b + 4, 0, idx, hvm_leaf_flags(cfg), cfg.vcpu_id, cfg.domid, 0});
    v.push_back({b + 5, 0, idx, 0, 0, 0, 0});
    return v;
}

std::vector<CpuidEntry> guest_cpuid(std::span<const CpuidEntry> supported,
                                    const XenCpuidConfig& cfg) {
    const std::uint32_t apic_id = apic_id_of_vcpu(cfg.vcpu_id);
    std::vector<CpuidEntry> out;
    out.reserve(supported.size() + 8);
    for (CpuidEntry e : supported) {
        if (is_hypervisor_leaf(e.function)) continue;
        switch (e.function) {
            case 0x1:
                e.ecx |= kHypervisorBit;
                e.ebx = (e.ebx & 0x00ffffff) | ((apic_id & 0xff) << 24);
                break;
            case 0xb:
            case 0x1f:
                e.edx = apic_id;
                break;
            case 0x8000001e:
                e.eax = apic_id;
                break;
            default:
                break;
        }
        out.push_back(e);
    }
    const auto xen = xen_cpuid_leaves(cfg);
    out.insert(out.end(), xen.begin(), xen.end());
    return out;
}

}  // namespace xenolith::x86
