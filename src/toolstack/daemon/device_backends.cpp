#include "toolstack/daemon/device_backends.hpp"

#include <algorithm>

namespace xenolith::toolstack {

Status RecordingDeviceBackends::start_vbd(domid_t domid, const VbdNodes& nodes,
                                          const config::DiskConfig& disk, const VbdOpen& open) {
    std::lock_guard lock(mu_);
    calls_.push_back({"start_vbd", domid, nodes.devid, nodes.backend_path, open});
    if (std::find(fail_devids_.begin(), fail_devids_.end(), nodes.devid) != fail_devids_.end())
        return make_error("disk '" + disk.vdev + "': back-end failed to start");
    return ok_status();
}

void RecordingDeviceBackends::stop_vbd(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    calls_.push_back({"stop_vbd", domid, devid, {}, {}});
}

void RecordingDeviceBackends::stop_all(domid_t domid) {
    std::lock_guard lock(mu_);
    calls_.push_back({"stop_all", domid, 0, {}, {}});
}

std::vector<RecordingDeviceBackends::Call> RecordingDeviceBackends::calls() {
    std::lock_guard lock(mu_);
    return calls_;
}

void RecordingDeviceBackends::fail_start_of(std::uint32_t devid) {
    std::lock_guard lock(mu_);
    fail_devids_.push_back(devid);
}

}  // namespace xenolith::toolstack
