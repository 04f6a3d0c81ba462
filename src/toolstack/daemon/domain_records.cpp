#include "toolstack/daemon/domain_records.hpp"

#include <algorithm>

#include "toolstack/config/json.hpp"

namespace xenolith::toolstack {

DomainRecords::Entry* DomainRecords::find_locked(domid_t domid, Owner owner) {
    auto it = entries_.find(domid);
    return it == entries_.end() || it->second.owner != owner ? nullptr : &it->second;
}

void DomainRecords::add(domid_t domid, Owner owner, GuestConfig running) {
    ToolstackDomain record;
    record.running = std::move(running);
    std::lock_guard lock(mu_);
    entries_.insert_or_assign(domid, Entry{owner, std::move(record)});
}

void DomainRecords::forget(domid_t domid, Owner owner) {
    std::lock_guard lock(mu_);
    if (find_locked(domid, owner)) entries_.erase(domid);
}

bool DomainRecords::has(domid_t domid, Owner owner) {
    std::lock_guard lock(mu_);
    return find_locked(domid, owner) != nullptr;
}

std::optional<Action> DomainRecords::action(domid_t domid, Owner owner, unsigned reason) {
    std::lock_guard lock(mu_);
    const Entry* e = find_locked(domid, owner);
    if (!e) return std::nullopt;
    return action_for(e->record.running.actions, reason);
}

std::optional<GuestConfig> DomainRecords::restart_config(domid_t domid, Owner owner) {
    std::lock_guard lock(mu_);
    const Entry* e = find_locked(domid, owner);
    if (!e || !e->record.restartable) return std::nullopt;
    GuestConfig cfg = e->record.restart_config();
    cfg.build.paused = false;
    return cfg;
}

void DomainRecords::mark_preserved(domid_t domid, Owner owner) {
    std::lock_guard lock(mu_);
    if (Entry* e = find_locked(domid, owner)) e->record.restartable = false;
}

void DomainRecords::rename(domid_t domid, const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(domid);
    if (it == entries_.end()) return;
    ToolstackDomain& r = it->second.record;
    r.running.build.identity.name = name;
    if (r.next) r.next->build.identity.name = name;
}

bool DomainRecords::set_next(domid_t domid, Owner owner, GuestConfig next) {
    std::lock_guard lock(mu_);
    Entry* e = find_locked(domid, owner);
    if (!e) return false;
    e->record.next = std::move(next);
    return true;
}

void DomainRecords::set_target_kib(domid_t domid, std::uint64_t kib) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end()) it->second.record.target_kib = kib;
}

void DomainRecords::set_static_max_kib(domid_t domid, std::uint64_t kib) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end())
        it->second.record.static_max_kib = kib;
}

void DomainRecords::add_disk(domid_t domid, const config::DiskConfig& disk) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end())
        it->second.record.running.disks.push_back(disk);
}

void DomainRecords::remove_disk(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end())
        std::erase_if(it->second.record.running.disks,
                      [&](const config::DiskConfig& d) { return d.device_number == devid; });
}

void DomainRecords::replace_disk(domid_t domid, const config::DiskConfig& disk) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end())
        for (auto& d : it->second.record.running.disks)
            if (d.device_number == disk.device_number) d = disk;
}

void DomainRecords::add_nic(domid_t domid, const config::NicConfig& nic) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end())
        it->second.record.running.nics.push_back(nic);
}

void DomainRecords::remove_nic(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end())
        std::erase_if(it->second.record.running.nics,
                      [&](const config::NicConfig& n) { return n.devid == devid; });
}

std::optional<Credentials> DomainRecords::owner(domid_t domid) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(domid); it != entries_.end()) return it->second.record.running.owner;
    return std::nullopt;
}

nlohmann::json DomainRecords::libxl_config(domid_t domid, Owner owner,
                                           const std::string& current_name) {
    nlohmann::json cfg;
    std::uint64_t target = 0, static_max = 0;
    std::vector<config::DiskConfig> disks;
    std::vector<config::NicConfig> nics;
    {
        std::lock_guard lock(mu_);
        const Entry* e = find_locked(domid, owner);
        if (!e) return nullptr;
        cfg = e->record.running.libxl_json;  // copied: printed outside the lock
        disks = e->record.running.disks;
        nics = e->record.running.nics;
        target = e->record.target_kib;
        static_max = e->record.static_max_kib;
    }
    // The current name (after `xl rename`) and the targets mem-set/mem-max left.
    if (cfg.is_object() && cfg.contains("c_info") && cfg["c_info"].is_object())
        cfg["c_info"]["name"] = current_name;
    if (cfg.is_object() && cfg.contains("b_info") && cfg["b_info"].is_object()) {
        if (target) cfg["b_info"]["target_memkb"] = target;
        if (static_max) cfg["b_info"]["max_memkb"] = static_max;
    }
    // The disks attached now (libxl keeps its stored config in step with
    // block-attach/-detach and cd-insert).
    if (cfg.is_object()) {
        cfg.erase("disks");
        if (!disks.empty()) {
            nlohmann::json list = nlohmann::json::array();
            for (const auto& d : disks) list.push_back(config::disk_to_json(d));
            cfg["disks"] = std::move(list);
        }
        // The vifs likewise, with the MAC each was given.
        cfg.erase("nics");
        if (!nics.empty()) {
            nlohmann::json list = nlohmann::json::array();
            for (const auto& n : nics) list.push_back(config::nic_to_json(n));
            cfg["nics"] = std::move(list);
        }
    }
    return cfg;
}

}  // namespace xenolith::toolstack
