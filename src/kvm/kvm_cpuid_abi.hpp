// struct kvm_cpuid2 as the kernel lays it out. Debian 12's uapi headers
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

inline constexpr unsigned long kIoctlGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kIoctlSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

}  // namespace xenolith::kvm
