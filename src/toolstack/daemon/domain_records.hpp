// The toolstack's records of the domains it created, by domid. A record
// belongs to one incarnation of a domid (the Domain object, by address,
// never dereferenced), so a record cannot be mistaken for a newer domain's.
// Thread-safe; the lock is a leaf.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "toolstack/daemon/guest_config.hpp"

namespace xenolith::toolstack {

class DomainRecords {
public:
    using Owner = const void*;  // the Domain the record belongs to

    // Records the configuration `owner` (now `domid`) was built from,
    // replacing a record left by an earlier domain with the domid.
    void add(domid_t domid, Owner owner, GuestConfig running);
    // Drops the record (the domain was destroyed).
    void forget(domid_t domid, Owner owner);
    bool has(domid_t domid, Owner owner);

    // The on_* action for a shutdown reason; none without a record.
    std::optional<Action> action(domid_t domid, Owner owner, unsigned shutdown_reason);
    // The configuration a restart builds (under the name xl rename or
    // config-update last gave it); none without a record or once preserved
    // by rename-restart.
    std::optional<GuestConfig> restart_config(domid_t domid, Owner owner);
    // rename-restart kept the dead domain: it is never restarted again.
    void mark_preserved(domid_t domid, Owner owner);

    // xl rename: the name a restart uses.
    void rename(domid_t domid, const std::string& name);
    // xl config-update. False without a record.
    bool set_next(domid_t domid, Owner owner, GuestConfig next);
    // xl mem-set / mem-max.
    void set_target_kib(domid_t domid, std::uint64_t kib);
    void set_static_max_kib(domid_t domid, std::uint64_t kib);

    // block-attach / block-detach / cd-insert: the running configuration's
    // disks (and so a restart's). Nothing without a record.
    void add_disk(domid_t domid, const config::DiskConfig& disk);
    void remove_disk(domid_t domid, std::uint32_t devid);
    void replace_disk(domid_t domid, const config::DiskConfig& disk);
    // network-attach / network-detach, likewise.
    void add_nic(domid_t domid, const config::NicConfig& nic);
    void remove_nic(domid_t domid, std::uint32_t devid);
    // The owner's credentials recorded at create (for block-attach's opener
    // when a request has none); nullopt without a record.
    std::optional<Credentials> owner(domid_t domid);

    // libxl_retrieve_domain_configuration: the running configuration's
    // libxl JSON with `current_name` and the memory targets; null without a
    // record.
    nlohmann::json libxl_config(domid_t domid, Owner owner, const std::string& current_name);

private:
    struct Entry {
        Owner owner;
        ToolstackDomain record;
    };
    Entry* find_locked(domid_t domid, Owner owner);

    std::mutex mu_;
    std::map<domid_t, Entry> entries_;
};

}  // namespace xenolith::toolstack
