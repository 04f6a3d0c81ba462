// The xenstore nodes of a virtual block device (vbd), exactly as libxl 4.17
// writes them (libxl_disk.c device_disk_add, libxl_device.c
// libxl__device_generic_add) and removes them (libxl__device_destroy):
//
//   /libxl/<domid>/device/vbd/<devid>            toolstack only ("n0")
//     frontend backend + a copy of every back-end key
//   <frontend home>/device/vbd/<devid>           "n<domid> r<backend>"
//     backend backend-id state=1 virtual-device device-type trusted
//   <backend home>/backend/<vbd|qdisk>/<domid>/<devid>
//                                                "n<backend> r<domid>"
//     frontend params script (phy) frontend-id online removable bootable
//     state=1 dev type mode device-type [direct-io-safe] discard-enable
//
// The front-end's own keys (ring-ref, event-channel, protocol on PVH) and
// the back-end's (physical-device, hotplug-status, sectors, info, feature-*)
// are written later by the front-end, the hotplug script and the back-end.
// VbdDevices (vbd_devices.hpp) writes and removes them for the Toolstack.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/daemon/xenbus_nodes.hpp"

namespace xenolith::toolstack {

// A vbd's nodes: generic_device_nodes with the disk's keys.
struct VbdNodes : DeviceNodes {};

// The nodes for `disk` of domain `domid`, served by `backend_domid`. The
// disk's back-end type must be resolved the way libxl__device_disk_set_backend
// would; an unknown one resolves to phy for raw images and qdisk otherwise.
// Fails, naming the vdev, for what libxl refuses: an unparseable vdev, an
// empty non-cdrom, an image given with format=empty, tap, script= with qdisk.
Result<VbdNodes> vbd_nodes(const config::DiskConfig& disk, domid_t domid,
                           domid_t backend_domid);

// Creates every node of `nodes` in one transaction over the privileged
// connection `conn` (replacing leftovers at the three paths, as libxl
// does), retrying when the commit races (EAGAIN). Nothing is left behind on
// failure.
xenstore::XsErr apply_vbd_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                const VbdNodes& nodes);

// libxl__device_destroy: removes the three directories in one transaction,
// and each parent that is left empty (libxl__xs_path_cleanup).
xenstore::XsErr remove_vbd_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                 const VbdNodes& nodes);

}  // namespace xenolith::toolstack
