// The seam between the toolstack and the processes that serve a guest's
// devices. The toolstack writes a device's xenstore nodes and runs its
// hotplug script; a DeviceBackends starts and stops what serves it (for a
// vbd, the block back-end process that opens the disk and answers the
// front-end; for a vif, the network back-end that moves frames between the
// guest's rings and the host TAP the toolstack created). The real launcher lives with the back-ends (src/backend);
// RecordingDeviceBackends only records what it was asked (tests, and the
// daemon until the launcher is plugged in).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/config/nic.hpp"
#include "toolstack/daemon/vbd_nodes.hpp"
#include "toolstack/daemon/vif_nodes.hpp"

namespace xenolith::toolstack {

// Whose rights a disk is opened with: the xl client that named it
// (SO_PEERCRED and SO_PEERGROUPS of its connection), so a guest is never
// given a disk its owner could not open.
struct Credentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};

// How the back-end reaches the disk of one vbd.
struct VbdOpen {
    // The requester's rights; nullopt: the daemon's own (root).
    std::optional<Credentials> as;
    // A hotplug script's "physical-device" node (major:minor in hex, as
    // Xen's block script writes it): the device to open instead of params.
    std::optional<std::string> physical_device;
};

class DeviceBackends {
public:
    virtual ~DeviceBackends() = default;
    // Starts serving vbd `nodes` (already in xenstore) of domain `domid`.
    // A failure leaves nothing running for it; the message names the disk.
    virtual Status start_vbd(domid_t domid, const VbdNodes& nodes,
                             const config::DiskConfig& disk, const VbdOpen& open) = 0;
    // Stops serving vbd `devid` of `domid` (nothing if none runs). Returns
    // once the back-end has let go of the disk and the guest's pages.
    virtual void stop_vbd(domid_t domid, std::uint32_t devid) = 0;
    // Starts serving vif `nodes` (already in xenstore, its hotplug script
    // done) of `domid` on the host TAP whose queue fds are `taps`: one per
    // queue the back-end may offer (multi-queue-max-queues = taps.size()).
    // The toolstack created the TAP and keeps it alive; the back-end only
    // reads and writes these fds. A failure leaves nothing running for it;
    // the message names the vif.
    virtual Status start_vif(domid_t domid, const VifNodes& nodes, const config::NicConfig& nic,
                             std::vector<UniqueFd> taps) = 0;
    // Stops serving vif `devid` of `domid` (nothing if none runs). Returns
    // once the back-end has closed its TAP fds and let go of the guest.
    virtual void stop_vif(domid_t domid, std::uint32_t devid) = 0;
    // Stops every back-end of `domid`, vbds and vifs (domain destruction).
    virtual void stop_all(domid_t domid) = 0;
};

// Serves nothing: the daemon's until the back-end launcher is plugged in.
// The nodes and scripts of a disk are there; no back-end answers its guest.
class NullDeviceBackends final : public DeviceBackends {
public:
    Status start_vbd(domid_t, const VbdNodes&, const config::DiskConfig&,
                     const VbdOpen&) override {
        return ok_status();
    }
    void stop_vbd(domid_t, std::uint32_t) override {}
    Status start_vif(domid_t, const VifNodes&, const config::NicConfig&,
                     std::vector<UniqueFd>) override {
        return ok_status();  // the TAP fds are closed here; the toolstack's copy keeps it
    }
    void stop_vif(domid_t, std::uint32_t) override {}
    void stop_all(domid_t) override {}
};

// Records calls in order; start_vbd/start_vif fail for the devids given to
// fail_start_of. start_vif keeps the TAP fds it was handed until stop_vif
// or stop_all (as a back-end would).
class RecordingDeviceBackends final : public DeviceBackends {
public:
    struct Call {
        std::string what;  // "start_vbd", "stop_vbd", "start_vif", "stop_vif", "stop_all"
        domid_t domid = 0;
        std::uint32_t devid = 0;
        std::string backend_path;  // start_vbd, start_vif
        VbdOpen open;              // start_vbd only
        std::size_t taps = 0;      // start_vif: how many queue fds
    };

    Status start_vbd(domid_t domid, const VbdNodes& nodes, const config::DiskConfig& disk,
                     const VbdOpen& open) override;
    void stop_vbd(domid_t domid, std::uint32_t devid) override;
    Status start_vif(domid_t domid, const VifNodes& nodes, const config::NicConfig& nic,
                     std::vector<UniqueFd> taps) override;
    void stop_vif(domid_t domid, std::uint32_t devid) override;
    void stop_all(domid_t domid) override;

    std::vector<Call> calls();
    void fail_start_of(std::uint32_t devid);
    // How many TAP fds the started vifs of `domid` hold.
    std::size_t tap_fds_held(domid_t domid);

private:
    std::mutex mu_;
    std::vector<Call> calls_;
    std::vector<std::uint32_t> fail_devids_;
    std::map<std::pair<domid_t, std::uint32_t>, std::vector<UniqueFd>> taps_;
};

}  // namespace xenolith::toolstack
