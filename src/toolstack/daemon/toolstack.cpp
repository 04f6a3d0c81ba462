#include "toolstack/daemon/toolstack.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "console/console_backend.hpp"
#include "domain/core_dump.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::toolstack {

using domain::Domain;

Toolstack::Toolstack(domain::DomainTable& table, domain::Services& services,
                     xenstore::XenstoreService& store, DeviceBackends& backends)
    : table_(table),
      services_(services),
      store_(store),
      vbds_(store, backends, VbdDevicesOptions{0, store.socket_path(), kHotplugTimeout}),
      vifs_(store, backends, [&] {
          VifDevicesOptions o;
          o.xenstore_socket = store.socket_path();
          return o;
      }()),
      death_handler_([this] { death_handler(); }) {}

Toolstack::~Toolstack() { stop(); }

void Toolstack::stop() {
    {
        std::lock_guard lock(death_mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    death_cv_.notify_all();
    death_handler_.join();
}

Result<std::shared_ptr<Domain>> Toolstack::create(GuestConfig cfg) {
    return create_with(std::move(cfg), {});
}

Result<std::shared_ptr<Domain>> Toolstack::create_with(GuestConfig cfg,
                                                       const domain::DomainTable::Builder& build) {
    cfg.build.max_pages = initial_max_pages(cfg.build.identity);
    // The domain's xenstore home exists once the table has built it
    // (Services::on_created); its disks are attached before any vCPU runs,
    // and xl's unpause comes last.
    const bool stay_paused = cfg.build.paused;
    cfg.build.paused = true;
    auto d = table_.create(cfg.build, build);
    if (!d) return d;
    const domid_t domid = (*d)->domid();
    cfg.build.identity.domid = domid;
    cfg.build.paused = stay_paused;
    if (auto st = vbds_.attach_all(domid, cfg.disks, VbdOpen{cfg.owner, std::nullopt}); !st) {
        // xl: a create that fails destroys what it made.
        table_.destroy(domid);
        return st.error();
    }
    // libxl attaches the vifs after the disks (domcreate_launch_dm).
    if (auto st = vifs_.attach_all(domid, cfg.nics); !st) {
        vbds_.detach_all(domid);
        table_.destroy(domid);
        return st.error();
    }
    cfg.nics = vifs_.nics(domid);  // with the MACs they were given
    records_.add(domid, d->get(), std::move(cfg));
    if (!stay_paused) (*d)->unpause();
    return d;
}

bool Toolstack::destroy(domid_t domid) {
    auto d = table_.get(domid);
    if (!d) return false;
    // libxl__destroy_domid: the devices, then the domain (which takes its
    // xenstore home with it). The vifs first: the reverse of create.
    vifs_.detach_all(domid);
    vbds_.detach_all(domid);
    if (!table_.destroy(domid)) return false;
    records_.forget(domid, d.get());
    return true;
}

void Toolstack::destroy_all() {
    for (const auto& d : table_.all()) destroy(d->domid());
    table_.destroy_all();  // any the toolstack did not make
}

Status Toolstack::attach_disk(domid_t domid, const config::DiskConfig& disk,
                              std::optional<Credentials> as) {
    if (!as) as = records_.owner(domid);
    if (auto st = vbds_.attach(domid, disk, VbdOpen{std::move(as), std::nullopt}); !st) return st;
    records_.add_disk(domid, disk);
    return ok_status();
}

bool Toolstack::detach_disk(domid_t domid, std::uint32_t devid) {
    if (!vbds_.detach(domid, devid)) return false;
    records_.remove_disk(domid, devid);
    return true;
}

Result<config::NicConfig> Toolstack::attach_nic(domid_t domid, config::NicConfig& nic,
                                                bool devid_given) {
    auto attached = vifs_.hotplug(domid, nic, devid_given);
    if (attached) records_.add_nic(domid, *attached);
    return attached;
}

bool Toolstack::detach_nic(domid_t domid, std::uint32_t devid) {
    if (!vifs_.detach(domid, devid)) return false;
    records_.remove_nic(domid, devid);
    return true;
}

void Toolstack::set_vif_defaults(VifDefaults defaults, bool run_hotplug_scripts) {
    vifs_.set_defaults(std::move(defaults), run_hotplug_scripts);
}

Status Toolstack::change_media(domid_t domid, const config::DiskConfig& media) {
    if (auto st = vbds_.change_media(domid, media); !st) return st;
    if (auto now = vbds_.disk(domid, media.device_number)) records_.replace_disk(domid, *now);
    return ok_status();
}

Status Toolstack::rename(domid_t domid, const std::string& new_name) {
    if (auto st = table_.rename(domid, new_name); !st) return st;
    // A restart keeps the new name, as libxl's retrieved configuration does.
    records_.rename(domid, new_name);
    return ok_status();
}

bool Toolstack::set_next_config(domid_t domid, GuestConfig cfg) {
    auto d = table_.get(domid);
    return d && records_.set_next(domid, d.get(), std::move(cfg));
}

void Toolstack::set_target_kib(domid_t domid, std::uint64_t kib) {
    records_.set_target_kib(domid, kib);
}

void Toolstack::set_static_max_kib(domid_t domid, std::uint64_t kib) {
    records_.set_static_max_kib(domid, kib);
}

nlohmann::json Toolstack::libxl_config(const Domain& d) {
    return records_.libxl_config(d.domid(), &d, d.name());
}

void Toolstack::set_dump_dir(std::string dir) {
    std::lock_guard lock(dump_dir_mu_);
    dump_dir_ = std::move(dir);
}

void Toolstack::domain_shut_down(domid_t domid) {
    {
        std::lock_guard lock(death_mu_);
        if (stopping_) return;
        deaths_.push_back(domid);
    }
    death_cv_.notify_all();
}

void Toolstack::death_handler() {
    std::unique_lock lock(death_mu_);
    for (;;) {
        death_cv_.wait(lock, [this] { return stopping_ || !deaths_.empty(); });
        if (stopping_) return;
        const domid_t domid = deaths_.front();
        deaths_.pop_front();
        lock.unlock();
        if (auto d = table_.get(domid)) handle_domain_death(d);
        lock.lock();
    }
}

// xl's handle_domain_death: the action the configuration names for the
// shutdown reason.
void Toolstack::handle_domain_death(const std::shared_ptr<Domain>& d) {
    const auto action = records_.action(d->domid(), d.get(), d->shutdown_reason());
    if (!action) return;  // destroyed meanwhile
    // coredump-*: the core first, then as destroy/restart.
    if (action == Action::coredump_destroy || action == Action::coredump_restart)
        dump_core_for_action(*d);
    switch (*action) {
        case Action::preserve:
            return;
        case Action::destroy:
        case Action::coredump_destroy:
            destroy(d->domid());
            return;
        case Action::soft_reset:
            if (auto st = soft_reset(*d); !st) {
                services_.hvlog.append_line(fmt::format(
                    "(XEN) soft reset of domain {} failed: {}; destroying it", d->domid(),
                    st.error().what));
                destroy(d->domid());
            }
            return;
        case Action::rename_restart: {
            // xl keeps the dead domain under "<name>-<UTC time>" for
            // inspection and starts a fresh one under the name.
            auto cfg = records_.restart_config(d->domid(), d.get());
            if (cfg && preserve_renamed(d)) restart(std::move(*cfg));
            return;
        }
        case Action::restart:
        case Action::coredump_restart: {
            // Restart only a domain this action destroyed: an `xl destroy`
            // that came first (during the dump, say) has the last word.
            auto cfg = records_.restart_config(d->domid(), d.get());
            if (destroy(d->domid()) && cfg) restart(std::move(*cfg));
            return;
        }
    }
}

void Toolstack::restart(GuestConfig cfg) {
    const std::string name = cfg.build.identity.name;
    if (auto r = create(std::move(cfg)); !r)
        services_.hvlog.append_line(
            fmt::format("(XEN) restart of {} failed: {}", name, r.error().what));
}

bool Toolstack::preserve_renamed(const std::shared_ptr<Domain>& d) {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char suffix[24];
    std::strftime(suffix, sizeof suffix, "-%Y%m%dT%H%MZ", &tm);
    const std::string old_name = d->name();
    std::string name = old_name + suffix;
    for (int n = 1; !table_.rename(d->domid(), name); ++n) {
        if (table_.get(d->domid()) != d) return false;  // destroyed meanwhile
        name = old_name + suffix + "-" + std::to_string(n);
    }
    records_.mark_preserved(d->domid(), d.get());  // not restarted again
    services_.hvlog.append_line(
        fmt::format("(XEN) Preserving domain {} {} as {}", d->domid(), old_name, name));
    return true;
}

// libxl's soft reset: XEN_DOMCTL_soft_reset, then the toolstack's part of
// building the domain again without loading anything — new console and
// xenstore channels, the console back-end and xenstore rebound to them —
// and the domain resumes (a kexec'ing guest continues after its
// SCHEDOP_shutdown with the new kernel already in memory).
Status Toolstack::soft_reset(Domain& d) {
    if (long rc = d.soft_reset(); rc) return make_error(fmt::format("soft reset: error {}", rc));
    evtchn::Port console_port = 0, store_port = 0;
    if (d.events().alloc_unbound(0, &console_port) || d.events().alloc_unbound(0, &store_port))
        return make_error("cannot allocate console/xenstore event channels");
    d.set_param(HVM_PARAM_CONSOLE_EVTCHN, console_port);
    d.set_param(HVM_PARAM_STORE_EVTCHN, store_port);
    if (d.console()) {
        if (auto st = d.console()->reconnect(d.events(), console_port); !st) return st;
    }
    if (services_.on_soft_reset) services_.on_soft_reset(d);
    d.resume("soft reset");
    return ok_status();
}

// xl's handle_domain_death for coredump-*: the core goes to
// <dump dir>/<name>; a failure is logged and the action goes on.
void Toolstack::dump_core_for_action(Domain& d) {
    std::string dir;
    {
        std::lock_guard lock(dump_dir_mu_);
        dir = dump_dir_;
    }
    // The name is one path component: no directory escapes.
    std::string file = d.name();
    std::replace(file.begin(), file.end(), '/', '_');
    if (file == "." || file == "..") file = "domain-" + std::to_string(d.domid());
    const std::string path = dir + "/" + file;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    auto& log = services_.hvlog;
    log.append_line(fmt::format("(XEN) Domain {} ({}): dumping core to {}", d.domid(), d.name(),
                                path));
    if (auto st = domain::dump_domain_core(d, path); !st)
        log.append_line(fmt::format("(XEN) Domain {} ({}): core dump failed: {}", d.domid(),
                                    d.name(), st.error().what));
}

}  // namespace xenolith::toolstack
