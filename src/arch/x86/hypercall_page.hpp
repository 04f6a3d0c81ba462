// The hypercall page a guest asks for by writing its address to the MSR
// named in CPUID base+2 EBX. Like Xen's HVM page: 128 slots of 32 bytes,
// stub N at offset 32*N, the rest of the page int3 (0xcc). Xen's stubs
// execute VMCALL/VMMCALL; ours exit to xenolithd through port I/O:
//
//   b8 NN NN NN NN    mov  $N, %eax
//   e7 5a             out  %eax, $kHypercallPort
//   c3                ret
//
// except __HYPERVISOR_iret (23), which HVM guests cannot use: its slot is
// ud2 (0f 0b), as in Xen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace xenolith::x86 {

inline constexpr std::size_t kHypercallPageSize = 4096;
inline constexpr std::size_t kHypercallStubSize = 32;
inline constexpr std::size_t kHypercallStubCount = kHypercallPageSize / kHypercallStubSize;

void fill_hypercall_page(std::span<std::uint8_t, kHypercallPageSize> page);

}  // namespace xenolith::x86
