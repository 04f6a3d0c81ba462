// The daemon-side toolstack: xenolithd's counterpart of libxl and of xl's
// domain-death handling, above the hypervisor core. It creates domains from
// typed GuestConfigs, keeps each domain's ToolstackDomain record, and applies
// the on_* actions on its own thread (handle_domain_death), because a vCPU
// thread cannot join itself.
//
// Locks: the records' lock is a leaf, never held while calling into the
// DomainTable or a Domain.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/result.hpp"
#include "domain/domain_table.hpp"
#include "toolstack/daemon/device_backends.hpp"
#include "toolstack/daemon/domain_records.hpp"
#include "toolstack/daemon/domain_transfer.hpp"
#include "toolstack/daemon/guest_config.hpp"
#include "toolstack/daemon/vbd_devices.hpp"
#include "toolstack/daemon/vif_devices.hpp"

namespace xenolith::toolstack {

class Toolstack {
public:
    // `table`, `services`, `store` and `backends` outlive the toolstack.
    // `backends` starts and stops what serves each device.
    Toolstack(domain::DomainTable& table, domain::Services& services,
              xenstore::XenstoreService& store, DeviceBackends& backends);
    ~Toolstack();
    // Stops the death handler (waits for a running action); shutdowns
    // reported after this are ignored. Idempotent.
    void stop();
    Toolstack(const Toolstack&) = delete;
    Toolstack& operator=(const Toolstack&) = delete;

    // xl create: builds the domain (paused), attaches its disks and then
    // its vifs, records its configuration and lets it run unless asked to
    // keep it paused, as libxl and xl do. A disk or vif that fails destroys
    // the domain again (its devices first).
    Result<std::shared_ptr<domain::Domain>> create(GuestConfig cfg);
    // xl destroy: its devices first (libxl__devices_destroy), then the
    // domain. False when no domain `domid` was there to destroy.
    bool destroy(domid_t domid);

    // Daemon exit: every domain, devices first, as destroy does.
    void destroy_all();

    // xl block-attach: the disk is attached and joins the running
    // configuration. `as`: whose rights open it (nullopt: the owner's).
    Status attach_disk(domid_t domid, const config::DiskConfig& disk,
                       std::optional<Credentials> as);
    // xl block-detach. False when the domain has no such disk.
    bool detach_disk(domid_t domid, std::uint32_t devid);
    // xl cd-insert / cd-eject on drive media.vdev.
    Status change_media(domid_t domid, const config::DiskConfig& media);
    // The domain's disks as attached.
    VbdDevices& vbds() { return vbds_; }
    // xl network-attach: the vif (devid chosen when the spec gave none) is
    // attached and joins the running configuration; returns it as attached
    // (nic.devid is the devid it was given, also on failure).
    Result<config::NicConfig> attach_nic(domid_t domid, config::NicConfig& nic,
                                         bool devid_given);
    // xl network-detach. False when the domain has no such vif.
    bool detach_nic(domid_t domid, std::uint32_t devid);
    // The domain's vifs as attached.
    VifDevices& vifs() { return vifs_; }
    // xl.conf's vif.default.* and run_hotplug_scripts, for vifs attached
    // from now on.
    void set_vif_defaults(VifDefaults defaults, bool run_hotplug_scripts);
    // xl rename: the table's name and the one a restart uses.
    Status rename(domid_t domid, const std::string& new_name);
    // xl config-update: what the next restart of `domid` builds (its
    // identity's domid is ignored). False when the toolstack has no record.
    bool set_next_config(domid_t domid, GuestConfig cfg);
    // xl mem-set / mem-max: the targets `xl list -l` reports.
    void set_target_kib(domid_t domid, std::uint64_t kib);
    void set_static_max_kib(domid_t domid, std::uint64_t kib);
    // libxl_retrieve_domain_configuration: the running configuration with the
    // current name and memory targets; null for a domain with no record.
    nlohmann::json libxl_config(const domain::Domain& d);
    // Where coredump-destroy/-restart write <dir>/<name> (xl's XEN_DUMP_DIR).
    void set_dump_dir(std::string dir);

    // xl save / xl migrate's sender: writes the domain's image (xl header,
    // libxl and libxc streams) to `fd`, then does what `opts.after` says.
    // On any failure the domain is left running as it was.
    Result<SaveReport> save(domid_t domid, int fd, const SaveOptions& opts);
    // xl restore / migrate-receive: builds an empty domain from `cfg` (no
    // kernel is loaded), fills it from the stream on `fd` (positioned at
    // the libxl stream, after xl's header), attaches its disks and vifs and
    // runs it unless opts.paused. A stream refused at any point leaves no
    // domain behind.
    Result<std::shared_ptr<domain::Domain>> restore(GuestConfig cfg, int fd,
                                                    const RestoreOptions& opts);
    // xl migrate, when the receiver failed: the domain save() kept
    // suspended runs on, seeing its suspend cancelled.
    Status resume_suspended(domid_t domid);

    // The guest has shut down (any thread): its on_* action runs later, on
    // the death handler's thread.
    void domain_shut_down(domid_t domid);

private:
    // create, building with `build` when given (restore).
    Result<std::shared_ptr<domain::Domain>> create_with(GuestConfig cfg,
                                                        const domain::DomainTable::Builder& build);
    // The save side's suspend handshake (libxl's domain_suspend): asks the
    // guest through control/shutdown and waits for SHUTDOWN_suspend.
    Status suspend_guest(domain::Domain& d);
    // The guest comes back from a suspend that did not end in a save or
    // migration: SCHEDOP_shutdown returns 1 (cancelled), as Xen's fast resume.
    Status cancel_suspend(domain::Domain& d);

    void death_handler();
    void handle_domain_death(const std::shared_ptr<domain::Domain>& d);
    Status soft_reset(domain::Domain& d);
    // rename-restart's first half; false when the domain went meanwhile.
    bool preserve_renamed(const std::shared_ptr<domain::Domain>& d);
    void dump_core_for_action(domain::Domain& d);
    void restart(GuestConfig cfg);

    domain::DomainTable& table_;
    domain::Services& services_;
    xenstore::XenstoreService& store_;
    VbdDevices vbds_;
    VifDevices vifs_;

    DomainRecords records_;
    std::mutex dump_dir_mu_;
    std::string dump_dir_ = "/var/lib/xen/dump";

    std::mutex death_mu_;
    std::condition_variable death_cv_;
    std::deque<domid_t> deaths_;
    bool stopping_ = false;
    std::thread death_handler_;  // last: started once everything above exists
};

}  // namespace xenolith::toolstack
