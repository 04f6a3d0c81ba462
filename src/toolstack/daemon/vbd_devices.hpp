// A domain's virtual block devices, attached and detached as libxl does
// (libxl_disk.c device_disk_add, libxl_device.c libxl__device_generic_add,
// libxl__initiate_device_generic_remove, device_hotplug,
// libxl__device_destroy):
//
//   attach: xenstore nodes (vbd_nodes) -> `script add` (only for a disk
//           with script=) -> DeviceBackends::start_vbd
//   detach: back-end told to close (online=0, state=Closing) ->
//           DeviceBackends::stop_vbd / stop_all -> `script remove` ->
//           nodes removed
//
// Xen's default `block` script is not run: xenolith's back-end opens files
// and block devices itself, and hosts without Xen have no
// /etc/xen/scripts/block (the "script" node still names it, as libxl
// writes it). A script= of the user's runs with Xen's contract
// (hotplug_script.hpp) and must leave hotplug-status "connected".
//
// Thread-safe. The lock is a leaf, never held while xenstore, a script or a
// back-end is called.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/daemon/device_backends.hpp"
#include "toolstack/daemon/hotplug_script.hpp"
#include "toolstack/daemon/vbd_nodes.hpp"

namespace xenolith::xenstore {
class XenstoreService;
}

namespace xenolith::toolstack {

struct VbdDevicesOptions {
    domid_t backend_domid = 0;    // who serves the disks (driver domains: not yet)
    std::string xenstore_socket;  // XENSTORED_PATH for scripts (empty: theirs)
    std::chrono::milliseconds hotplug_timeout = kHotplugTimeout;
};

class VbdDevices {
public:
    // `store` and `backends` outlive this object.
    VbdDevices(xenstore::XenstoreService& store, DeviceBackends& backends,
               VbdDevicesOptions opts = {});
    VbdDevices(const VbdDevices&) = delete;
    VbdDevices& operator=(const VbdDevices&) = delete;

    // One disk of `domid`. On failure nothing of it is left (the script,
    // if it ran, ran again with `remove`; the nodes are gone) and the error
    // names the disk: "disk 'xvdb': ...".
    Status attach(domid_t domid, const config::DiskConfig& disk, const VbdOpen& open);
    // The domain's disks at creation, in order; on a failure the ones
    // attached before are detached again.
    Status attach_all(domid_t domid, const std::vector<config::DiskConfig>& disks,
                      const VbdOpen& open);
    // block-detach: false when `domid` has no disk `devid`.
    bool detach(domid_t domid, std::uint32_t devid);
    // Domain destruction: every back-end of the domain stopped, then each
    // disk's script removed and nodes deleted.
    void detach_all(domid_t domid);

    // The disks attached to `domid`, in the order they were attached.
    std::vector<config::DiskConfig> disks(domid_t domid);
    std::optional<config::DiskConfig> disk(domid_t domid, std::uint32_t devid);

    // cd-insert/cd-eject (libxl_cdrom_insert's xenstore part): the drive is
    // emptied (params "") in the back-end's and libxl's copies, then given
    // `media` (params and type; an empty target leaves it empty). The
    // back-end sees the change through its watch on params.
    Status change_media(domid_t domid, const config::DiskConfig& media);

private:
    struct Attached {
        config::DiskConfig disk;
        VbdNodes nodes;
        bool script_ran = false;
        bool ready = false;  // false while attach is still at work
    };

    // The script step of attach: "add", then hotplug-status.
    Status run_add_script(const Attached& a, std::optional<std::string>& physical_device);
    // Undoes what attach did, in reverse.
    void undo(domid_t domid, const Attached& a, bool backend_started);
    void tell_backend_to_close(const VbdNodes& n);
    void remove_script_and_nodes(const Attached& a);

    xenstore::XenstoreService& store_;
    DeviceBackends& backends_;
    VbdDevicesOptions opts_;

    std::mutex mu_;
    std::map<domid_t, std::vector<Attached>> domains_;
};

}  // namespace xenolith::toolstack
