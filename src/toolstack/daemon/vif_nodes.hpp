// The xenstore nodes of a virtual network interface (vif), exactly as libxl
// 4.17 writes them (libxl_nic.c libxl__device_nic_setdefault and
// libxl__set_xenstore_nic, through libxl__device_add_async and
// libxl__device_generic_add; see xenbus_nodes.hpp for the layout):
//
//   backend/vif/<domid>/<devid>   "n<backend> r<domid>"
//     frontend frontend-id online=1 state=1 script [vifname] mac [ip]
//     [gatewaydev] [rate=<bytes>,<usecs>] [mtu, when not 1500] bridge
//     handle type=vif hotplug-status="" (the back-end waits for the script)
//   device/vif/<devid>            "n<domid> r<backend>"
//     backend backend-id state=1 handle mac trusted
//     mtu                         "n<backend> r<domid>" (the guest reads it)
//   /libxl/<domid>/device/vif/<devid>  "n0": frontend backend + the back-end keys
//
// The back-end's own keys (feature-*, multi-queue-max-queues) and the
// front-end's (tx-ring-ref, rx-ring-ref, event-channel, request-rx-copy...)
// are written later by netback and netfront; hotplug-status is set by the
// script (connected/error).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.hpp"
#include "toolstack/config/nic.hpp"
#include "toolstack/daemon/xenbus_nodes.hpp"

namespace xenolith::toolstack {

// LIBXL_DEVICE_NIC_MTU_DEFAULT.
inline constexpr std::uint32_t kDefaultVifMtu = 1500;
// libxl's defaults when neither vif= nor xl.conf name them.
inline constexpr const char* kDefaultVifBridge = "xenbr0";
inline constexpr const char* kDefaultVifScript = "vif-bridge";

// Linux's longest interface name (IFNAMSIZ less the NUL).
inline constexpr std::size_t kMaxIfnameLength = 15;

struct VifNodes : DeviceNodes {
    config::MacAddress mac{};   // as written (generated when vif= gave none)
    std::string ifname;         // the host interface: vifname=, else vif<domid>.<devid>
    std::string bridge;
    std::string script;         // absolute
    std::uint32_t mtu = kDefaultVifMtu;
};

// Xen's OUI 00:16:3e with 23 random bits (the top bit of the fourth byte is
// clear, as libxl makes it): from `random3`, three random bytes.
config::MacAddress xen_mac_from(const std::uint8_t (&random3)[3]);

// A new random Xen MAC (getrandom).
config::MacAddress random_xen_mac();

// The nodes for `nic` of the PV/PVH domain `domid`, served by
// `backend_domid`, with libxl__device_nic_setdefault's defaults: mtu 1500,
// bridge xenbr0, script vif-bridge (relative names under /etc/xen/scripts),
// a MAC from `make_mac` when none is given, type vif, trusted. Fails, naming
// the vif, for what libxl refuses: type=ioemu for a PV/PVH guest, a value too
// long for xenstore, and a host interface name longer than Linux allows
// (Linux's netback would truncate vif<domid>.<devid>; xenolith refuses).
Result<VifNodes> vif_nodes(const config::NicConfig& nic, domid_t domid, domid_t backend_domid,
                           const std::function<config::MacAddress()>& make_mac = random_xen_mac);

// One transaction each, as apply_device_nodes/remove_device_nodes.
xenstore::XsErr apply_vif_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                const VifNodes& nodes);
xenstore::XsErr remove_vif_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                 const VifNodes& nodes);

// The devid libxl gives a hot-plugged vif with none (libxl__device_nextid).
std::uint32_t next_vif_devid(xenstore::Server& server, xenstore::Connection& conn, domid_t domid);

}  // namespace xenolith::toolstack
