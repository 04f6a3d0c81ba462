// struct kvm_cpuid2 and kvm_msrs as the kernel lays them out. Debian 12's uapi headers
// declare its flexible array with __DECLARE_FLEX_ARRAY, which under C++
// adds an empty struct member: sizeof becomes 12, the entries move to
// offset 12, and the ioctl numbers derived from sizeof no longer match the
// kernel's. So the header is spelled out here with its real 8-byte size.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace xenolith::kvm {

struct CpuidHeader {
    std::uint32_t nent;
    std::uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);

// struct kvm_msrs has the same flexible-array problem.
struct MsrsHeader {
    std::uint32_t nmsrs;
    std::uint32_t pad;
};
static_assert(sizeof(MsrsHeader) == 8);
inline constexpr unsigned long kIoctlGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);

inline constexpr unsigned long kIoctlGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kIoctlSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

}  // namespace xenolith::kvm
