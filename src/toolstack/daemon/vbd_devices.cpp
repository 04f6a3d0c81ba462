#include "toolstack/daemon/vbd_devices.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "base/log.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::toolstack {

namespace {

constexpr const char* kClosing = "5";  // XenbusStateClosing

std::string node(const std::string& dir, const char* key) { return dir + "/" + key; }

// The config file's place of the disk, when it came from one.
Error placed(const config::DiskConfig& d, Error e) {
    if (d.where.file.empty()) return e;
    return make_error(fmt::format("{}:{}:{}: {}", d.where.file, d.where.line, d.where.column,
                                  e.what));
}

Error disk_error(const config::DiskConfig& d, const std::string& why) {
    return placed(d, make_error(fmt::format("disk '{}': {}", d.vdev, why)));
}

}  // namespace

VbdDevices::VbdDevices(xenstore::XenstoreService& store, DeviceBackends& backends,
                       VbdDevicesOptions opts)
    : store_(store), backends_(backends), opts_(std::move(opts)) {}

Status VbdDevices::attach(domid_t domid, const config::DiskConfig& disk, const VbdOpen& open) {
    auto nodes = vbd_nodes(disk, domid, opts_.backend_domid);
    if (!nodes) return placed(disk, nodes.error());
    Attached a{disk, std::move(*nodes), false, false};
    const std::uint32_t devid = a.nodes.devid;
    {
        // The devid is claimed first: two attaches of one vdev cannot race.
        std::lock_guard lock(mu_);
        auto& list = domains_[domid];
        for (const Attached& other : list)
            if (other.nodes.devid == devid)
                return disk_error(disk, "device already exists in xenstore");
        list.push_back(a);
    }
    // Drops the claim; false when detach_all took it meanwhile.
    auto drop_claim = [&] {
        std::lock_guard lock(mu_);
        auto it = domains_.find(domid);
        if (it == domains_.end()) return false;
        const auto n = std::erase_if(it->second, [&](const Attached& x) {
            return x.nodes.devid == devid && !x.ready;
        });
        if (it->second.empty()) domains_.erase(it);
        return n != 0;
    };

    const xenstore::XsErr e = store_.with_own_connection(
        [&](xenstore::Server& s, xenstore::Connection& c) { return apply_vbd_nodes(s, c, a.nodes); });
    if (e != xenstore::XsErr::ok) {
        drop_claim();
        return disk_error(disk, fmt::format("cannot write its xenstore nodes: {}",
                                            xenstore::error_name(e)));
    }
    VbdOpen with_device = open;
    if (disk.script) {
        a.script_ran = true;  // a failed add may have left state behind: remove runs too
        if (auto st = run_add_script(a, with_device.physical_device); !st) {
            drop_claim();
            undo(domid, a, false);
            return disk_error(disk, st.error().what);
        }
    }
    if (auto st = backends_.start_vbd(domid, a.nodes, disk, with_device); !st) {
        drop_claim();
        undo(domid, a, false);
        return placed(disk, st.error());
    }
    {
        std::lock_guard lock(mu_);
        auto it = domains_.find(domid);
        if (it != domains_.end()) {
            for (Attached& x : it->second) {
                if (x.nodes.devid == devid && !x.ready) {
                    x = a;
                    x.ready = true;
                    return ok_status();
                }
            }
        }
    }
    // The domain was destroyed while its disk was being attached.
    undo(domid, a, true);
    return disk_error(disk, "the domain went away");
}

Status VbdDevices::attach_all(domid_t domid, const std::vector<config::DiskConfig>& disks,
                              const VbdOpen& open) {
    for (const auto& d : disks) {
        if (auto st = attach(domid, d, open); !st) {
            detach_all(domid);
            return st;
        }
    }
    return ok_status();
}

Status VbdDevices::run_add_script(const Attached& a,
                                  std::optional<std::string>& physical_device) {
    const std::string script = [&] {
        for (const auto& w : a.nodes.writes)
            if (w.path == node(a.nodes.backend_path, "script")) return w.value;
        return std::string();
    }();
    HotplugScript s{script, "add",
                    vbd_hotplug_env(a.nodes, script, opts_.xenstore_socket),
                    opts_.hotplug_timeout};
    const std::string be = a.nodes.backend_path;
    HotplugReport r = run_hotplug_script_and_wait(store_, be, s);
    if (!r.connected()) {
        // device_hotplug_child_death_cb: the script's own account, if any.
        if (r.error) return make_error("script: " + *r.error);
        if (!r.ran) return r.ran;
        return make_error(fmt::format("{} add: hotplug-status is {}", script,
                                      r.status ? "'" + *r.status + "'" : "not set"));
    }
    physical_device = store_.read(node(be, "physical-device"));
    return ok_status();
}

void VbdDevices::tell_backend_to_close(const VbdNodes& n) {
    // libxl__initiate_device_generic_remove: only a back-end that is there.
    if (!store_.read(node(n.backend_path, "state"))) return;
    (void)store_.write(node(n.backend_path, "online"), "0");
    (void)store_.write(node(n.backend_path, "state"), kClosing);
}

void VbdDevices::remove_script_and_nodes(const Attached& a) {
    if (a.script_ran) {
        std::string script;
        for (const auto& w : a.nodes.writes)
            if (w.path == node(a.nodes.backend_path, "script")) script = w.value;
        HotplugScript s{script, "remove",
                        vbd_hotplug_env(a.nodes, script, opts_.xenstore_socket),
                        opts_.hotplug_timeout};
        // As libxl: a failing remove is logged and the removal goes on.
        if (auto st = run_hotplug_script(s); !st)
            log::warn("dom{}: disk '{}': {}", a.nodes.frontend_domid, a.disk.vdev,
                      st.error().what);
    }
    const xenstore::XsErr e = store_.with_own_connection(
        [&](xenstore::Server& s, xenstore::Connection& c) { return remove_vbd_nodes(s, c, a.nodes); });
    if (e != xenstore::XsErr::ok && e != xenstore::XsErr::noent)
        log::warn("dom{}: disk '{}': cannot remove its xenstore nodes: {}",
                  a.nodes.frontend_domid, a.disk.vdev, xenstore::error_name(e));
}

void VbdDevices::undo(domid_t domid, const Attached& a, bool backend_started) {
    if (backend_started) {
        tell_backend_to_close(a.nodes);
        backends_.stop_vbd(domid, a.nodes.devid);
    }
    remove_script_and_nodes(a);
}

bool VbdDevices::detach(domid_t domid, std::uint32_t devid) {
    std::optional<Attached> a;
    {
        std::lock_guard lock(mu_);
        auto it = domains_.find(domid);
        if (it == domains_.end()) return false;
        auto& list = it->second;
        auto at = std::find_if(list.begin(), list.end(), [&](const Attached& x) {
            return x.nodes.devid == devid && x.ready;
        });
        if (at == list.end()) return false;
        a = std::move(*at);
        list.erase(at);
        if (list.empty()) domains_.erase(it);
    }
    undo(domid, *a, true);
    return true;
}

void VbdDevices::detach_all(domid_t domid) {
    std::vector<Attached> list;
    {
        std::lock_guard lock(mu_);
        auto it = domains_.find(domid);
        if (it == domains_.end()) return;
        // Attaches still at work find their claim gone and undo themselves.
        for (Attached& a : it->second)
            if (a.ready) list.push_back(std::move(a));
        domains_.erase(it);
    }
    for (const Attached& a : list) tell_backend_to_close(a.nodes);
    backends_.stop_all(domid);
    // libxl__devices_destroy takes the devices as xenstore lists them; the
    // newest first here, the reverse of attaching.
    for (auto it = list.rbegin(); it != list.rend(); ++it) remove_script_and_nodes(*it);
}

std::vector<config::DiskConfig> VbdDevices::disks(domid_t domid) {
    std::lock_guard lock(mu_);
    std::vector<config::DiskConfig> out;
    if (auto it = domains_.find(domid); it != domains_.end())
        for (const Attached& a : it->second)
            if (a.ready) out.push_back(a.disk);
    return out;
}

std::optional<config::DiskConfig> VbdDevices::disk(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    if (auto it = domains_.find(domid); it != domains_.end())
        for (const Attached& a : it->second)
            if (a.ready && a.nodes.devid == devid) return a.disk;
    return std::nullopt;
}

Status VbdDevices::change_media(domid_t domid, const config::DiskConfig& media) {
    std::optional<Attached> a;
    {
        std::lock_guard lock(mu_);
        if (auto it = domains_.find(domid); it != domains_.end())
            for (const Attached& x : it->second)
                if (x.ready && x.nodes.devid == media.device_number) a = x;
    }
    if (!a || !a->disk.is_cdrom) return make_error("Virtual device not found");
    // The drive keeps its back-end (libxl: disk->backend = the drive's).
    const VbdNodes& drive = a->nodes;
    std::string params, type;
    for (const auto& w : drive.writes)
        if (w.path == node(drive.backend_path, "type")) type = w.value;
    // An eject empties the drive whatever serves it; new media must suit
    // the drive's back-end.
    if (media.format != config::DiskFormat::empty && media.target && !media.target->empty()) {
        config::DiskConfig m = media;
        const bool qdisk = drive.backend_path.find("/backend/qdisk/") != std::string::npos;
        m.backend_type = qdisk ? config::DiskBackendType::qdisk : config::DiskBackendType::phy;
        m.script = a->disk.script;
        auto fresh = vbd_nodes(m, domid, opts_.backend_domid);
        if (!fresh) return fresh.error();
        for (const auto& w : fresh->writes) {
            if (w.path == node(fresh->backend_path, "params")) params = w.value;
            if (w.path == node(fresh->backend_path, "type")) type = w.value;
        }
    }
    const VbdNodes& n = a->nodes;
    if (!store_.read(node(n.libxl_path, "frontend")))
        return make_error(fmt::format("Internal error: {}/frontend does not exist", n.libxl_path));
    // Emptied first, then the new media (libxl_cdrom_insert, then
    // cdrom_insert_inserted), in both copies.
    for (const auto& [p, v] : {std::pair{std::string("params"), std::string()},
                               std::pair{std::string("params"), params}}) {
        for (const std::string* dir : {&n.backend_path, &n.libxl_path}) {
            if (auto e = store_.write(*dir + "/type", type); e != xenstore::XsErr::ok)
                return make_error(fmt::format("cannot write {}/type: {}", *dir, xenstore::error_name(e)));
            if (auto e = store_.write(*dir + "/" + p, v); e != xenstore::XsErr::ok)
                return make_error(fmt::format("cannot write {}/{}: {}", *dir, p, xenstore::error_name(e)));
        }
    }
    std::lock_guard lock(mu_);
    if (auto it = domains_.find(domid); it != domains_.end())
        for (Attached& x : it->second)
            if (x.ready && x.nodes.devid == media.device_number) {
                x.disk.target = media.target;
                x.disk.format = media.format;
            }
    return ok_status();
}

}  // namespace xenolith::toolstack
