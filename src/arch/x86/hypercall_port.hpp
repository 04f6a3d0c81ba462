// The I/O port through which hypercall stubs exit to xenolithd on hosts
// without KVM_XEN. The stub is `mov $nr,%eax; out %eax,$port; ret` (hypercall
// page) or `out %eax,$port; nop` in place of a direct VMCALL/VMMCALL.
// 0x5a is unused by the PC platform and by PVH guests.
#pragma once

#include <cstdint>

namespace xenolith::x86 {

inline constexpr std::uint8_t kHypercallPort = 0x5a;

}  // namespace xenolith::x86
