#include "backend/net/tap.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::backend::net {

std::string vif_name(DomId domid, unsigned devid) { return fmt::format("vif{}.{}", domid, devid); }

Result<std::vector<UniqueFd>> open_tap(const std::string& name, unsigned queues) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return make_error(fmt::format("tap \"{}\": a name of 1 to {} characters", name, IFNAMSIZ - 1));
    if (queues == 0) return make_error(fmt::format("tap {}: no queues", name));
    std::vector<UniqueFd> fds;
    for (unsigned q = 0; q < queues; ++q) {
        UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
        if (!fd.valid()) return make_error(fmt::format("tap {}: /dev/net/tun: {}", name, std::strerror(errno)));
        ifreq ifr{};
        std::memcpy(ifr.ifr_name, name.data(), name.size());
        ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0));
        if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0)
            return make_error(fmt::format("tap {}: TUNSETIFF: {}", name, std::strerror(errno)));
        int size = static_cast<int>(kVnetHeaderSize);
        if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &size) != 0)
            return make_error(fmt::format("tap {}: TUNSETVNETHDRSZ: {}", name, std::strerror(errno)));
        fds.push_back(std::move(fd));
    }
    return fds;
}

Status set_tap_offload(int fd, const TapOffload& o) {
    unsigned flags = 0;
    if (o.csum) {
        flags |= TUN_F_CSUM;
        if (o.tso4) flags |= TUN_F_TSO4;
        if (o.tso6) flags |= TUN_F_TSO6;
    }
    if (::ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) != 0)
        return make_error(fmt::format("TUNSETOFFLOAD {:#x}: {}", flags, std::strerror(errno)));
    return ok_status();
}

}  // namespace xenolith::backend::net
