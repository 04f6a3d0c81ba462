#include "toolstack/daemon/vif_devices.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "base/log.hpp"
#include "toolstack/daemon/vif_tap.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::toolstack {

namespace {

constexpr const char* kClosing = "5";  // XenbusStateClosing

std::string node(const std::string& dir, const char* key) { return dir + "/" + key; }

// The config file's place of the vif, when it came from one.
Error placed(const config::NicConfig& n, Error e) {
    if (n.where.file.empty()) return e;
    return make_error(fmt::format("{}:{}:{}: {}", n.where.file, n.where.line, n.where.column,
                                  e.what));
}

Error vif_error(const config::NicConfig& n, const std::string& why) {
    return placed(n, make_error(fmt::format("vif {}: {}", n.devid, why)));
}

// The names dom0 goes by in a backend= setting.
bool names_dom0(const std::string& backend) {
    return backend == "0" || backend == "Domain-0";
}

}  // namespace

VifDefaults vif_defaults(const config::XlConf& conf) {
    return {conf.vif_default_script, conf.vif_default_bridge, conf.vif_default_backend,
            conf.vif_default_gatewaydev};
}

config::NicConfig with_vif_defaults(config::NicConfig nic, const VifDefaults& d) {
    if (!nic.script && d.script) nic.script = d.script;
    if (!nic.bridge && d.bridge) nic.bridge = d.bridge;
    if (!nic.backend_domain && d.backend) nic.backend_domain = d.backend;
    if (!nic.gatewaydev && d.gatewaydev) nic.gatewaydev = d.gatewaydev;
    return nic;
}

VifDevices::VifDevices(xenstore::XenstoreService& store, DeviceBackends& backends,
                       VifDevicesOptions opts)
    : store_(store), backends_(backends), opts_(std::move(opts)) {
    if (opts_.queues == 0) opts_.queues = vif_queue_count();
}

void VifDevices::set_defaults(VifDefaults defaults, bool run_hotplug_scripts) {
    std::lock_guard lock(mu_);
    opts_.defaults = std::move(defaults);
    opts_.run_hotplug_scripts = run_hotplug_scripts;
}

Status VifDevices::check_backend(const config::NicConfig& nic) const {
    if (!nic.backend_domain || names_dom0(*nic.backend_domain)) return ok_status();
    return vif_error(nic, fmt::format("backend '{}': only domain 0 serves network devices in "
                                      "xenolith (driver domains are not supported)",
                                      *nic.backend_domain));
}

Status VifDevices::claim(domid_t domid, const Attached& a) {
    std::lock_guard lock(mu_);
    // One interface name for one vif of the whole host, in flight or not.
    for (const auto& [other_domid, list] : domains_) {
        for (const Attached& other : list) {
            if (other_domid == domid && other.nodes.devid == a.nodes.devid)
                return vif_error(a.nic, "device already exists in xenstore");
            if (other.nodes.ifname == a.nodes.ifname)
                return vif_error(a.nic, fmt::format("interface name '{}' is already vif {} of "
                                                    "domain {}",
                                                    a.nodes.ifname, other.nodes.devid,
                                                    other_domid));
        }
    }
    domains_[domid].push_back(a);
    return ok_status();
}

bool VifDevices::drop_claim(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    auto it = domains_.find(domid);
    if (it == domains_.end()) return false;
    const auto n = std::erase_if(it->second, [&](const Attached& x) {
        return x.nodes.devid == devid && !x.ready;
    });
    if (it->second.empty()) domains_.erase(it);
    return n != 0;
}

Result<config::NicConfig> VifDevices::attach(domid_t domid, const config::NicConfig& given) {
    VifDefaults defaults;
    bool run_scripts = true;
    unsigned queues = 1;
    std::function<config::MacAddress()> make_mac;
    {
        std::lock_guard lock(mu_);
        defaults = opts_.defaults;
        run_scripts = opts_.run_hotplug_scripts;
        queues = opts_.queues;
        make_mac = opts_.make_mac;
    }
    config::NicConfig nic = with_vif_defaults(given, defaults);
    if (auto st = check_backend(nic); !st) return st.error();
    auto nodes = vif_nodes(nic, domid, opts_.backend_domid, make_mac);
    if (!nodes) return placed(nic, nodes.error());
    nic.mac = nodes->mac;
    Attached a{nic, std::move(*nodes), nullptr, false, false, false};
    const std::uint32_t devid = a.nodes.devid;
    if (auto st = claim(domid, a); !st) return st.error();
    auto fail = [&](const Error& e) -> Result<config::NicConfig> {
        drop_claim(domid, devid);
        undo(domid, a);
        return e;
    };

    const xenstore::XsErr e = store_.with_own_connection(
        [&](xenstore::Server& s, xenstore::Connection& c) { return apply_vif_nodes(s, c, a.nodes); });
    if (e != xenstore::XsErr::ok) {
        drop_claim(domid, devid);
        return vif_error(nic, fmt::format("cannot write its xenstore nodes: {}",
                                          xenstore::error_name(e)));
    }
    auto taps = create_vif_tap(a.nodes.ifname, queues);
    if (!taps) return fail(vif_error(nic, taps.error().what));
    // The toolstack's own copy of the first queue's file: the interface
    // stays until detach closes it, whatever the back-end does.
    a.tap = std::make_shared<UniqueFd>(::fcntl((*taps)[0].get(), F_DUPFD_CLOEXEC, 0));
    if (!a.tap->valid()) return fail(vif_error(nic, "cannot keep its TAP open"));

    if (run_scripts) {
        a.script_ran = true;  // a failed online may have left state behind: offline runs too
        if (auto st = run_online_script(a); !st) return fail(vif_error(nic, st.error().what));
    } else {
        // No udev here to run the script in libxl's stead: the back-end is
        // told the interface is ready, and it stays down and unbridged.
        log::warn("dom{}: vif {}: run_hotplug_scripts=0 in xl.conf: {} not run; {} is left "
                  "unconfigured",
                  domid, devid, a.nodes.script, a.nodes.ifname);
        (void)store_.write(node(a.nodes.backend_path, "hotplug-status"), "connected");
    }
    if (auto st = backends_.start_vif(domid, a.nodes, nic, std::move(*taps)); !st)
        return fail(placed(nic, st.error()));
    a.backend_started = true;
    {
        std::lock_guard lock(mu_);
        auto it = domains_.find(domid);
        if (it != domains_.end()) {
            for (Attached& x : it->second) {
                if (x.nodes.devid == devid && !x.ready) {
                    x = a;
                    x.ready = true;
                    return nic;
                }
            }
        }
    }
    // The domain was destroyed while its vif was being attached.
    undo(domid, a);
    return vif_error(nic, "the domain went away");
}

Result<config::NicConfig> VifDevices::hotplug(domid_t domid, config::NicConfig& nic,
                                              bool devid_given) {
    if (!devid_given) {
        std::uint32_t next = 0;
        (void)store_.with_own_connection([&](xenstore::Server& s, xenstore::Connection& c) {
            next = next_vif_devid(s, c, domid);
            return xenstore::XsErr::ok;
        });
        std::lock_guard lock(mu_);
        if (auto it = domains_.find(domid); it != domains_.end())
            for (const Attached& x : it->second)
                if (x.nodes.devid >= next && x.nodes.devid != UINT32_MAX) next = x.nodes.devid + 1;
        nic.devid = next;
    }
    return attach(domid, nic);
}

Status VifDevices::attach_all(domid_t domid, const std::vector<config::NicConfig>& nics) {
    for (const auto& n : nics) {
        if (auto r = attach(domid, n); !r) {
            detach_all(domid);
            return r.error();
        }
    }
    return ok_status();
}

Status VifDevices::run_online_script(const Attached& a) {
    HotplugScript s{a.nodes.script, "online",
                    vif_hotplug_env(a.nodes, a.nodes.script, a.nic.gatewaydev.value_or(""),
                                    opts_.xenstore_socket),
                    opts_.hotplug_timeout};
    HotplugReport r = run_hotplug_script_and_wait(store_, a.nodes.backend_path, s);
    if (r.connected()) return ok_status();
    // device_hotplug_child_death_cb: the script's own account, if any.
    if (r.error && !r.error->empty())
        return make_error(fmt::format("{} online: {}", a.nodes.script, *r.error));
    if (!r.ran) return r.ran;
    return make_error(fmt::format("{} online: hotplug-status is {}", a.nodes.script,
                                  r.status && !r.status->empty() ? "'" + *r.status + "'" : "not set"));
}

void VifDevices::undo(domid_t domid, const Attached& a) {
    const VifNodes& n = a.nodes;
    if (a.backend_started) {
        // libxl__initiate_device_generic_remove: only a back-end that is there.
        if (store_.read(node(n.backend_path, "state"))) {
            (void)store_.write(node(n.backend_path, "online"), "0");
            (void)store_.write(node(n.backend_path, "state"), kClosing);
        }
        backends_.stop_vif(domid, n.devid);
    }
    if (a.script_ran) {
        HotplugScript s{n.script, "offline",
                        vif_hotplug_env(n, n.script, a.nic.gatewaydev.value_or(""),
                                        opts_.xenstore_socket),
                        opts_.hotplug_timeout};
        // As libxl: a failing offline is logged and the removal goes on.
        if (auto st = run_hotplug_script(s); !st)
            log::warn("dom{}: vif {}: {}", domid, n.devid, st.error().what);
    }
    if (a.tap) a.tap->reset();  // the last fd: the interface goes
    const xenstore::XsErr e = store_.with_own_connection(
        [&](xenstore::Server& s, xenstore::Connection& c) { return remove_vif_nodes(s, c, n); });
    if (e != xenstore::XsErr::ok && e != xenstore::XsErr::noent)
        log::warn("dom{}: vif {}: cannot remove its xenstore nodes: {}", domid, n.devid,
                  xenstore::error_name(e));
}

bool VifDevices::detach(domid_t domid, std::uint32_t devid) {
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
    undo(domid, *a);
    return true;
}

void VifDevices::detach_all(domid_t domid) {
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
    for (auto it = list.rbegin(); it != list.rend(); ++it) undo(domid, *it);
}

std::vector<config::NicConfig> VifDevices::nics(domid_t domid) {
    std::lock_guard lock(mu_);
    std::vector<config::NicConfig> out;
    if (auto it = domains_.find(domid); it != domains_.end())
        for (const Attached& a : it->second)
            if (a.ready) out.push_back(a.nic);
    return out;
}

std::optional<std::uint32_t> VifDevices::devid_of_mac(domid_t domid,
                                                      const config::MacAddress& mac) {
    std::lock_guard lock(mu_);
    if (auto it = domains_.find(domid); it != domains_.end())
        for (const Attached& a : it->second)
            if (a.ready && a.nodes.mac == mac) return a.nodes.devid;
    return std::nullopt;
}

std::optional<std::string> VifDevices::ifname(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    if (auto it = domains_.find(domid); it != domains_.end())
        for (const Attached& a : it->second)
            if (a.ready && a.nodes.devid == devid) return a.nodes.ifname;
    return std::nullopt;
}

}  // namespace xenolith::toolstack
