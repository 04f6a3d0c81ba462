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

Status RecordingDeviceBackends::start_vif(domid_t domid, const VifNodes& nodes,
                                          const config::NicConfig& nic,
                                          std::vector<UniqueFd> taps) {
    std::lock_guard lock(mu_);
    calls_.push_back({"start_vif", domid, nodes.devid, nodes.backend_path, {}, taps.size()});
    if (std::find(fail_devids_.begin(), fail_devids_.end(), nodes.devid) != fail_devids_.end())
        return make_error("vif " + std::to_string(nic.devid) + ": back-end failed to start");
    taps_[{domid, nodes.devid}] = std::move(taps);
    return ok_status();
}

void RecordingDeviceBackends::stop_vif(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    calls_.push_back({"stop_vif", domid, devid, {}, {}});
    taps_.erase({domid, devid});
}

void RecordingDeviceBackends::stop_all(domid_t domid) {
    std::lock_guard lock(mu_);
    calls_.push_back({"stop_all", domid, 0, {}, {}});
    std::erase_if(taps_, [&](const auto& kv) { return kv.first.first == domid; });
}

std::size_t RecordingDeviceBackends::tap_fds_held(domid_t domid) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& [key, fds] : taps_)
        if (key.first == domid) n += fds.size();
    return n;
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
