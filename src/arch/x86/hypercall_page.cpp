#include "arch/x86/hypercall_page.hpp"

#include <algorithm>

#include <xen/xen.h>

#include "arch/x86/hypercall_port.hpp"

namespace xenolith::x86 {

void fill_hypercall_page(std::span<std::uint8_t, kHypercallPageSize> page) {
    std::fill(page.begin(), page.end(), std::uint8_t{0xcc});
    for (std::size_t nr = 0; nr < kHypercallStubCount; ++nr) {
        const auto stub = page.subspan(nr * kHypercallStubSize, kHypercallStubSize);
        if (nr == __HYPERVISOR_iret) {
            stub[0] = 0x0f;  // ud2
            stub[1] = 0x0b;
            continue;
        }
        stub[0] = 0xb8;  // mov $nr, %eax
        stub[1] = static_cast<std::uint8_t>(nr);
        stub[2] = static_cast<std::uint8_t>(nr >> 8);
        stub[3] = static_cast<std::uint8_t>(nr >> 16);
        stub[4] = static_cast<std::uint8_t>(nr >> 24);
        stub[5] = 0xe7;  // out %eax, $imm8
        stub[6] = kHypercallPort;
        stub[7] = 0xc3;  // ret
    }
}

}  // namespace xenolith::x86
