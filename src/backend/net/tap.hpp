// The host side of a vif: a TAP device whose frames carry a virtio-net
// header (IFF_VNET_HDR), so GSO and checksum metadata cross it as netif's
// extra info and NETTXF/NETRXF flags cross the rings. Created by the
// privileged side (it needs CAP_NET_ADMIN and /dev/net/tun); the back-end
// only reads and writes the fds it is handed, one per queue.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/services.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::net {

// The header every frame on the TAP starts with (TUNSETVNETHDRSZ): struct
// virtio_net_hdr of <linux/virtio_net.h>, little-endian on this host (that
// header does not compile as C++, so its layout and values are restated).
struct VnetHeader {
    std::uint8_t flags;
    std::uint8_t gso_type;
    std::uint16_t hdr_len;      // Ethernet + IP + TCP headers of a GSO packet
    std::uint16_t gso_size;     // payload bytes per segment
    std::uint16_t csum_start;   // from the frame's start
    std::uint16_t csum_offset;  // of the checksum field from csum_start
};
static_assert(sizeof(VnetHeader) == 10);
inline constexpr std::uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr std::uint8_t kVnetDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr std::uint8_t kVnetGsoNone = 0, kVnetGsoTcpv4 = 1, kVnetGsoUdp = 3, kVnetGsoTcpv6 = 4,
                              kVnetGsoEcn = 0x80;
inline constexpr std::size_t kVnetHeaderSize = sizeof(VnetHeader);

// Xen's name for a vif's host interface: vif<domid>.<devid>.
std::string vif_name(DomId domid, unsigned devid);

// Offloads the TAP may hand the back-end (TUNSETOFFLOAD): what the front
// end can take on its rx ring. TSO needs checksum offload.
struct TapOffload {
    bool csum = false;  // CHECKSUM_PARTIAL frames (NETRXF_csum_blank)
    bool tso4 = false;
    bool tso6 = false;
};

// Creates (or attaches to) TAP `name` with IFF_TAP | IFF_NO_PI |
// IFF_VNET_HDR, and IFF_MULTI_QUEUE when `queues` > 1: one fd per queue,
// non-blocking, close-on-exec, with a virtio_net_hdr of kVnetHeaderSize.
// Errors name the device and the step.
Result<std::vector<UniqueFd>> open_tap(const std::string& name, unsigned queues);

// TUNSETOFFLOAD on one queue's fd (the setting is the device's).
Status set_tap_offload(int fd, const TapOffload& offload);

}  // namespace xenolith::backend::net
