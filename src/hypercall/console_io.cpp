// console_io: guest text into the hypervisor log (`xl dmesg`). Xen allows
// domU writes only in debug builds; xenolith always does (documented), and
// reading the hypervisor console stays privileged.
#include <cstdint>
#include <array>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include "domain/domain.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {

long console_io(Context& ctx) {
    const std::uint64_t cmd = ctx.arg[0];
    if (cmd != CONSOLEIO_write) return -XEN_EPERM;
    std::uint64_t left = ctx.arg[1] & 0xffffffff;  // unsigned int count
    std::uint64_t src = ctx.arg[2];
    std::array<char, 512> buf;
    while (left) {
        const std::size_t n = std::min<std::uint64_t>(left, buf.size());
        if (!ctx.guest.copy_from(src, buf.data(), n)) return -XEN_EFAULT;
        for (std::size_t i = 0; i < n; ++i) ctx.domain.debug_port_write(buf[i]);
        src += n;
        left -= n;
    }
    return 0;
}

}  // namespace xenolith::hypercall
