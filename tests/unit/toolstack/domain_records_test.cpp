// The daemon-side toolstack's records: which configuration a restart
// builds, and that a domain destroyed by someone else (xl destroy) or a
// newer domain under the same domid is never restarted from them.
#include <gtest/gtest.h>

extern "C" {
#include <xen/sched.h>
}

#include "toolstack/daemon/domain_records.hpp"

namespace xenolith::toolstack {
namespace {

GuestConfig config(const std::string& name, std::uint64_t memory_kib = 16 * 1024) {
    GuestConfig c;
    c.build.identity.name = name;
    c.build.identity.memory_kib = memory_kib;
    c.build.paused = true;
    c.actions.on_reboot = Action::coredump_restart;
    c.libxl_json = {{"c_info", {{"name", name}, {"type", "pvh"}}},
                    {"b_info", {{"target_memkb", memory_kib}, {"max_memkb", memory_kib}}}};
    return c;
}

const int kDomainA = 0, kDomainB = 0;  // stand-ins for two Domain objects

TEST(DomainRecords, restart_config_when_recorded_then_the_running_one_unpaused) {
    DomainRecords r;
    r.add(5, &kDomainA, config("vm"));
    auto c = r.restart_config(5, &kDomainA);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->build.identity.name, "vm");
    EXPECT_FALSE(c->build.paused);
}

TEST(DomainRecords, restart_config_when_xl_destroyed_the_domain_then_none) {
    // xl destroy during a coredump-restart's dump forgets the record: the
    // action that comes back afterwards finds nothing to restart.
    DomainRecords r;
    r.add(5, &kDomainA, config("vm"));
    r.forget(5, &kDomainA);
    EXPECT_FALSE(r.restart_config(5, &kDomainA));
    EXPECT_FALSE(r.action(5, &kDomainA, SHUTDOWN_reboot));
}

TEST(DomainRecords, records_when_domid_reused_then_the_old_domain_sees_none) {
    DomainRecords r;
    r.add(5, &kDomainA, config("old"));
    r.add(5, &kDomainB, config("new"));  // the domid now names another domain
    EXPECT_FALSE(r.restart_config(5, &kDomainA));
    r.forget(5, &kDomainA);  // a late forget of the old one keeps the new record
    EXPECT_TRUE(r.has(5, &kDomainB));
}

TEST(DomainRecords, restart_config_after_config_update_then_the_update_with_current_name) {
    DomainRecords r;
    r.add(5, &kDomainA, config("vm", 16 * 1024));
    ASSERT_TRUE(r.set_next(5, &kDomainA, config("vm", 32 * 1024)));
    r.rename(5, "vm2");
    auto c = r.restart_config(5, &kDomainA);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->build.identity.memory_kib, 32u * 1024);
    EXPECT_EQ(c->build.identity.name, "vm2");
    EXPECT_FALSE(r.set_next(6, &kDomainA, config("x")));  // no such record
}

TEST(DomainRecords, restart_config_when_preserved_by_rename_restart_then_none) {
    DomainRecords r;
    r.add(5, &kDomainA, config("vm"));
    r.mark_preserved(5, &kDomainA);
    EXPECT_FALSE(r.restart_config(5, &kDomainA));
    EXPECT_TRUE(r.has(5, &kDomainA));  // still listed with its configuration
}

TEST(DomainRecords, action_for_each_reason_then_the_configured_one) {
    LifecycleActions a;
    a.on_poweroff = Action::preserve;
    a.on_reboot = Action::rename_restart;
    a.on_crash = Action::coredump_destroy;
    a.on_watchdog = Action::restart;
    a.on_soft_reset = Action::destroy;
    EXPECT_EQ(action_for(a, SHUTDOWN_poweroff), Action::preserve);
    EXPECT_EQ(action_for(a, SHUTDOWN_reboot), Action::rename_restart);
    EXPECT_EQ(action_for(a, SHUTDOWN_crash), Action::coredump_destroy);
    EXPECT_EQ(action_for(a, SHUTDOWN_watchdog), Action::restart);
    EXPECT_EQ(action_for(a, SHUTDOWN_soft_reset), Action::destroy);
    EXPECT_EQ(action_for(a, SHUTDOWN_suspend), Action::preserve);  // stays for save
    EXPECT_EQ(action_for(a, 99), Action::preserve);
}

TEST(DomainRecords, libxl_config_after_rename_and_mem_set_then_current_values) {
    DomainRecords r;
    r.add(5, &kDomainA, config("vm", 16 * 1024));
    EXPECT_EQ(r.libxl_config(5, &kDomainA, "vm")["b_info"]["target_memkb"], 16 * 1024);
    r.set_target_kib(5, 8 * 1024);
    r.set_static_max_kib(5, 64 * 1024);
    const auto j = r.libxl_config(5, &kDomainA, "renamed");
    EXPECT_EQ(j["c_info"]["name"], "renamed");
    EXPECT_EQ(j["b_info"]["target_memkb"], 8 * 1024);
    EXPECT_EQ(j["b_info"]["max_memkb"], 64 * 1024);
    EXPECT_TRUE(r.libxl_config(5, &kDomainB, "vm").is_null());
}

TEST(GuestConfig, initial_max_pages_then_memory_plus_libxl_maxmem_constant) {
    domain::DomainIdentity id;
    id.memory_kib = 16 * 1024;
    EXPECT_EQ(initial_max_pages(id), (16u * 1024 + 1024) / 4);
}

config::DiskConfig parsed_disk(std::string_view spec) {
    config::DiskConfig d;
    config::SpecIssues issues;
    EXPECT_TRUE(config::parse_disk_spec(spec, d, issues)) << spec;
    return d;
}

TEST(DomainRecords, disks_when_attached_and_detached_then_list_l_and_restart_follow) {
    DomainRecords r;
    GuestConfig c = config("vm");
    c.disks = {parsed_disk("/a.img,raw,xvda,w")};
    c.owner = Credentials{7, 1000, 100, {}};
    c.libxl_json["disks"] = nlohmann::json::array({{{"vdev", "stale"}}});
    r.add(5, &kDomainA, std::move(c));
    auto j = r.libxl_config(5, &kDomainA, "vm");
    ASSERT_EQ(j["disks"].size(), 1u);  // the attached ones, not what xl sent
    EXPECT_EQ(j["disks"][0]["vdev"], "xvda");
    r.add_disk(5, parsed_disk("/b.img,raw,xvdb,r"));
    j = r.libxl_config(5, &kDomainA, "vm");
    ASSERT_EQ(j["disks"].size(), 2u);
    EXPECT_EQ(j["disks"][1], (nlohmann::json{{"pdev_path", "/b.img"}, {"vdev", "xvdb"}, {"format", "raw"}}));
    EXPECT_EQ(r.restart_config(5, &kDomainA)->disks.size(), 2u);
    EXPECT_EQ(r.owner(5)->uid, 1000u);
    r.remove_disk(5, 51712);
    r.remove_disk(5, 51728);
    j = r.libxl_config(5, &kDomainA, "vm");
    EXPECT_FALSE(j.contains("disks"));
    EXPECT_TRUE(r.restart_config(5, &kDomainA)->disks.empty());
    EXPECT_FALSE(r.owner(6).has_value());
}

TEST(DomainRecords, nics_when_attached_and_detached_then_list_l_shows_them_with_their_mac) {
    DomainRecords r;
    GuestConfig c = config("vm");
    config::NicConfig first;
    first.devid = 0;
    first.mac = config::MacAddress{0x00, 0x16, 0x3e, 0x00, 0x00, 0x01};
    first.bridge = "br0";
    c.nics = {first};
    c.libxl_json["nics"] = nlohmann::json::array({{{"devid", 0}}});  // as xl sent it: no mac
    r.add(5, &kDomainA, std::move(c));
    auto j = r.libxl_config(5, &kDomainA, "vm");
    ASSERT_EQ(j["nics"].size(), 1u);
    EXPECT_EQ(j["nics"][0], (nlohmann::json{{"devid", 0}, {"mac", "00:16:3e:00:00:01"},
                                            {"bridge", "br0"}}));
    config::NicConfig second;
    second.devid = 3;
    second.mac = config::MacAddress{0x00, 0x16, 0x3e, 0x00, 0x00, 0x02};
    r.add_nic(5, second);
    EXPECT_EQ(r.libxl_config(5, &kDomainA, "vm")["nics"].size(), 2u);
    EXPECT_EQ(r.restart_config(5, &kDomainA)->nics.size(), 2u);
    r.remove_nic(5, 0);
    r.remove_nic(5, 3);
    EXPECT_FALSE(r.libxl_config(5, &kDomainA, "vm").contains("nics"));
}

}  // namespace
}  // namespace xenolith::toolstack
