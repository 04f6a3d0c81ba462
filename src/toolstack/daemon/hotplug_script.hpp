// Xen's hotplug-script contract, as libxl runs the scripts in dom0
// (run_hotplug_scripts=1; libxl_device.c device_hotplug, libxl_linux.c
// get_hotplug_env): `<script> add|remove` with the device's back-end
// named in the environment, stdin from /dev/null, stdout onto the
// daemon's stderr, killed once LIBXL_HOTPLUG_TIMEOUT passes. A script
// reports through xenstore: hotplug-status ("connected" or "error"),
// hotplug-error (why) and, for a block device, physical-device.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "toolstack/daemon/vbd_nodes.hpp"
#include "toolstack/daemon/vif_nodes.hpp"

namespace xenolith::xenstore {
class XenstoreService;
}

namespace xenolith::toolstack {

// libxl's LIBXL_HOTPLUG_TIMEOUT.
inline constexpr std::chrono::milliseconds kHotplugTimeout{40000};

using Environment = std::vector<std::pair<std::string, std::string>>;

struct HotplugScript {
    std::string script;  // absolute path, as the back-end's "script" node holds it
    std::string action;  // "add"/"remove" (a vbd), "online"/"offline" (a PV vif)
    Environment env;     // added to (and overriding) the daemon's environment
    std::chrono::milliseconds timeout = kHotplugTimeout;
};

// Runs the script in a process group of its own and waits for it. An error
// for a script that cannot be started, exits non-zero, dies of a signal or
// outlives its timeout (its process group is then killed, as libxl kills
// it); the message starts "<script> <action>".
Status run_hotplug_script(const HotplugScript& s);

// What a script that plugs a device reported, as libxl takes it
// (device_hotplug_child_death_cb, then the wait on hotplug-status).
struct HotplugReport {
    Status ran;                         // run_hotplug_script's verdict
    std::optional<std::string> status;  // hotplug-status once "connected" or "error"; else as last read
    std::optional<std::string> error;   // hotplug-error, read when the script failed or did not connect
    bool connected() const { return ran.ok() && status == "connected"; }
};
// Runs `s` for the device whose back-end is `backend_path`, then waits for
// its hotplug-status to say "connected" or "error", until the script's
// timeout from its start.
HotplugReport run_hotplug_script_and_wait(xenstore::XenstoreService& store,
                                          const std::string& backend_path, const HotplugScript& s);

// get_hotplug_env for a vbd: script, XENBUS_TYPE, XENBUS_PATH (relative to
// the back-end domain's home, as libxl writes it) and XENBUS_BASE_PATH;
// plus XENSTORED_PATH when xenstore listens somewhere other than the
// default, so that the script's xenstore-read reaches this daemon.
Environment vbd_hotplug_env(const VbdNodes& nodes, const std::string& script,
                            const std::string& xenstore_socket);

// get_hotplug_env for a PV vif: vbd_hotplug_env's keys with XENBUS_TYPE=vif,
// plus `netdev` (the gatewaydev, empty when none) and `vif`, the host
// interface: the TAP the toolstack made, already named vifname= when one
// is given (the scripts then have nothing to rename), else vif<domid>.<devid>.
Environment vif_hotplug_env(const VifNodes& nodes, const std::string& script,
                            const std::string& gatewaydev, const std::string& xenstore_socket);

}  // namespace xenolith::toolstack
