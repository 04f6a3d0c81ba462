// A domain's virtual network interfaces, attached and detached as libxl
// does for a PV vif with run_hotplug_scripts=1 (libxl_nic.c, libxl_device.c
// device_hotplug; see vbd_devices.hpp for the shared shape):
//
//   attach: xenstore nodes (vif_nodes, xl.conf's vif.default.* filling what
//           vif= left out) -> host TAP created (vif_tap.hpp; named vifname=
//           or vif<domid>.<devid>, vif_queue_count() queue fds) -> `script
//           online`, hotplug-status must become "connected" ->
//           DeviceBackends::start_vif with the TAP's fds
//   detach: back-end told to close (online=0, state=Closing) ->
//           DeviceBackends::stop_vif -> `script offline` -> the toolstack's
//           TAP fd closed (the interface disappears) -> nodes removed
//
// Only domain 0 serves vifs: a backend= (or vif.default.backend) naming
// another domain is refused. With run_hotplug_scripts=0 no script runs (on
// Xen udev would run them; nothing here does): the daemon writes
// hotplug-status "connected" itself, logs a warning, and the TAP is left
// down and unbridged for the host's own network tooling.
//
// Thread-safe. The lock is a leaf, never held while xenstore, a script or a
// back-end is called.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "toolstack/config/nic.hpp"
#include "toolstack/config/xl_conf.hpp"
#include "toolstack/daemon/device_backends.hpp"
#include "toolstack/daemon/hotplug_script.hpp"
#include "toolstack/daemon/vif_nodes.hpp"

namespace xenolith::xenstore {
class XenstoreService;
}

namespace xenolith::toolstack {

// xl.conf's vif.default.*: what a vif without the setting gets (xl's
// set_default_nic_values). Absent: libxl's own default.
struct VifDefaults {
    std::optional<std::string> script;
    std::optional<std::string> bridge;
    std::optional<std::string> backend;
    std::optional<std::string> gatewaydev;
};

VifDefaults vif_defaults(const config::XlConf& conf);

// `nic` with `defaults` filling the settings it does not have.
config::NicConfig with_vif_defaults(config::NicConfig nic, const VifDefaults& defaults);

struct VifDevicesOptions {
    domid_t backend_domid = 0;
    std::string xenstore_socket;  // XENSTORED_PATH for scripts (empty: theirs)
    std::chrono::milliseconds hotplug_timeout = kHotplugTimeout;
    VifDefaults defaults;
    bool run_hotplug_scripts = true;  // xl.conf's
    unsigned queues = 0;              // TAP queues per vif; 0: vif_queue_count()
    std::function<config::MacAddress()> make_mac = random_xen_mac;
};

class VifDevices {
public:
    // `store` and `backends` outlive this object.
    VifDevices(xenstore::XenstoreService& store, DeviceBackends& backends,
               VifDevicesOptions opts = {});
    VifDevices(const VifDevices&) = delete;
    VifDevices& operator=(const VifDevices&) = delete;

    // Settings that change what new vifs get (xl.conf, read at start-up).
    void set_defaults(VifDefaults defaults, bool run_hotplug_scripts);

    // One vif of `domid`, devid nic.devid. Returns the vif as attached
    // (defaults applied, its MAC chosen). On failure nothing of it is left
    // (the script, if it ran, ran again with `offline`; the TAP and the
    // nodes are gone) and the error names the vif, with file:line:column
    // when it came from a config file: "vif 1: ...".
    Result<config::NicConfig> attach(domid_t domid, const config::NicConfig& nic);
    // xl network-attach: as attach, with the next free devid when the spec
    // gave none (libxl__device_nextid; nic.devid is set to it).
    Result<config::NicConfig> hotplug(domid_t domid, config::NicConfig& nic, bool devid_given);
    // The domain's vifs at creation, in order; on a failure the ones
    // attached before are detached again.
    Status attach_all(domid_t domid, const std::vector<config::NicConfig>& nics);
    // network-detach: false when `domid` has no vif `devid`.
    bool detach(domid_t domid, std::uint32_t devid);
    // Domain destruction: each vif detached, the newest first.
    void detach_all(domid_t domid);

    // The vifs attached to `domid`, in the order they were attached.
    std::vector<config::NicConfig> nics(domid_t domid);
    // libxl_mac_to_device_nic: the devid of the vif with `mac`.
    std::optional<std::uint32_t> devid_of_mac(domid_t domid, const config::MacAddress& mac);
    // The host interface of vif `devid` (tests, logs).
    std::optional<std::string> ifname(domid_t domid, std::uint32_t devid);

private:
    struct Attached {
        config::NicConfig nic;  // defaults applied, mac set
        VifNodes nodes;
        std::shared_ptr<UniqueFd> tap;  // the toolstack's hold on the interface
        bool script_ran = false;
        bool backend_started = false;
        bool ready = false;  // false while attach is still at work
    };

    Status check_backend(const config::NicConfig& nic) const;
    Status claim(domid_t domid, const Attached& a);
    bool drop_claim(domid_t domid, std::uint32_t devid);
    Status run_online_script(const Attached& a);
    // Undoes what attach did, in reverse.
    void undo(domid_t domid, const Attached& a);

    xenstore::XenstoreService& store_;
    DeviceBackends& backends_;

    std::mutex mu_;
    VifDevicesOptions opts_;  // defaults and run_hotplug_scripts under mu_
    std::map<domid_t, std::vector<Attached>> domains_;
};

}  // namespace xenolith::toolstack
