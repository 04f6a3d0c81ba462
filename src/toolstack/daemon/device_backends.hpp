// The seam between the toolstack and the processes that serve a guest's
// devices. The toolstack writes a device's xenstore nodes and runs its
// hotplug script; a DeviceBackends starts and stops what serves it (for a
// vbd, the block back-end process that opens the disk and answers the
// front-end). The real launcher lives with the back-ends (src/backend);
// RecordingDeviceBackends only records what it was asked (tests, and the
// daemon until the launcher is plugged in).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/daemon/vbd_nodes.hpp"

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
    // Stops every back-end of `domid` (domain destruction).
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
    void stop_all(domid_t) override {}
};

// Records calls in order; start_vbd fails for the devids in `fail_devids`.
class RecordingDeviceBackends final : public DeviceBackends {
public:
    struct Call {
        std::string what;  // "start_vbd", "stop_vbd", "stop_all"
        domid_t domid = 0;
        std::uint32_t devid = 0;
        std::string backend_path;  // start_vbd only
        VbdOpen open;              // start_vbd only
    };

    Status start_vbd(domid_t domid, const VbdNodes& nodes, const config::DiskConfig& disk,
                     const VbdOpen& open) override;
    void stop_vbd(domid_t domid, std::uint32_t devid) override;
    void stop_all(domid_t domid) override;

    std::vector<Call> calls();
    void fail_start_of(std::uint32_t devid);

private:
    std::mutex mu_;
    std::vector<Call> calls_;
    std::vector<std::uint32_t> fail_devids_;
};

}  // namespace xenolith::toolstack
