// vCPU state structs whose uapi declaration is wrong under C++ (see
// kvm_cpuid_abi.hpp): struct kvm_xsave ends in a flexible array, so its
// C++ sizeof is 4100, not the kernel's 4096, and the KVM_GET_XSAVE /
// KVM_SET_XSAVE numbers derived from it would not be the kernel's.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "kvm/kvm_cpuid_abi.hpp"

namespace xenolith::kvm {

// The legacy KVM_GET_XSAVE buffer: the XSAVE area in standard
// (non-compacted) format, 4 KiB.
struct XsaveArea {
    std::uint32_t region[1024];
};
static_assert(sizeof(XsaveArea) == 4096);
inline constexpr unsigned long kIoctlGetXsave = _IOR(KVMIO, 0xa4, XsaveArea);
inline constexpr unsigned long kIoctlSetXsave = _IOW(KVMIO, 0xa5, XsaveArea);
inline constexpr unsigned long kIoctlSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
// The numbers the kernel itself uses (C's sizeof of the uapi structs).
static_assert(kIoctlGetXsave == 0x9000aea4 && kIoctlSetXsave == 0x5000aea5 && kIoctlSetMsrs == 0x4008ae89);

// One MSR for KVM_GET_MSRS / KVM_SET_MSRS.
struct MsrValue {
    std::uint32_t index = 0;
    std::uint64_t value = 0;
    bool operator==(const MsrValue&) const = default;
};

}  // namespace xenolith::kvm
