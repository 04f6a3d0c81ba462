// console_io: guest text into the hypervisor log (`xl dmesg`), and the
// hypervisor's serial input for the domain that owns it. Xen allows domU
// writes only in debug builds; xenolith always does (documented). Reading
// is for the console domain (is_console: it handles VIRQ_CONSOLE), as
// Xen's XSM hook allows; everyone else gets -EPERM for anything but write.
#include <array>
#include <cstdint>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include "console/serial_input.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

long write(Context& ctx, std::uint64_t count, std::uint64_t src) {
    std::array<char, 512> buf;
    while (count) {
        const std::size_t n = std::min<std::uint64_t>(count, buf.size());
        if (!ctx.guest.copy_from(src, buf.data(), n)) return -XEN_EFAULT;
        ctx.domain.console_write({buf.data(), n});
        src += n;
        count -= n;
    }
    return 0;
}

// Up to `count` bytes of serial input; the number copied. Bytes the
// guest's buffer could not take stay in the ring.
long read(Context& ctx, std::uint64_t count, std::uint64_t dst) {
    console::SerialInput* in = ctx.domain.serial_input();
    if (!in) return 0;
    std::array<char, console::SerialInput::kRingSize> buf;
    const std::size_t n = in->peek(buf.data(), std::min<std::uint64_t>(count, buf.size()));
    if (n && !ctx.guest.copy_to(dst, buf.data(), n)) return -XEN_EFAULT;
    in->consume(n);
    return static_cast<long>(n);
}

}  // namespace

long console_io(Context& ctx) {
    const std::uint64_t cmd = ctx.arg[0];
    const std::uint64_t count = ctx.arg[1] & 0xffffffff;  // unsigned int count
    if (!ctx.domain.is_console() && cmd != CONSOLEIO_write) return -XEN_EPERM;
    switch (cmd) {
        case CONSOLEIO_write: return write(ctx, count, ctx.arg[2]);
        case CONSOLEIO_read: return read(ctx, count, ctx.arg[2]);
        default: return -XEN_ENOSYS;
    }
}

}  // namespace xenolith::hypercall
