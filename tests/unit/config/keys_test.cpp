#include "toolstack/config/keys.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace xenolith::config {
namespace {

TEST(KeyTable, EveryKeyIsListedOnce) {
    std::set<std::string_view> seen;
    for (const auto& k : known_keys()) {
        EXPECT_TRUE(seen.insert(k.name).second) << k.name;
        EXPECT_EQ(find_key(k.name), &k) << k.name;
    }
    EXPECT_GT(seen.size(), 150u);
}

TEST(KeyTable, ImplementedSet_IsTheTypedKeys) {
    std::set<std::string_view> implemented;
    for (const auto& k : known_keys()) {
        if (k.implemented) implemented.insert(k.name);
    }
    const std::set<std::string_view> expected = {
        "name",        "type",          "builder",          "uuid",
        "kernel",      "ramdisk",       "cmdline",          "extra",
        "root",        "firmware_override", "memory",       "maxmem",
        "vcpus",       "maxvcpus",      "on_poweroff",      "on_reboot",
        "on_watchdog", "on_crash",      "on_soft_reset",    "max_grant_frames",
        "max_maptrack_frames", "max_event_channels", "cpus", "cpus_soft",
        "start_after", "global_virqs", "disk", "vif"};
    EXPECT_EQ(implemented, expected);
}

TEST(KeyTable, KindsOfWellKnownKeys) {
    EXPECT_EQ(find_key("memory")->kind, KeyKind::number);
    EXPECT_EQ(find_key("disk")->kind, KeyKind::list);
    EXPECT_EQ(find_key("vnuma")->kind, KeyKind::list_of_lists);
    EXPECT_EQ(find_key("serial")->kind, KeyKind::string_or_list);
    EXPECT_EQ(find_key("viridian")->kind, KeyKind::boolean_or_list);
    EXPECT_EQ(find_key("tsc_mode")->kind, KeyKind::number_or_string);
    EXPECT_EQ(to_string(KeyKind::list_of_lists), "list of lists");
}

TEST(KeyTable, UnknownKeys_AreNotFound) {
    EXPECT_EQ(find_key("nics"), nullptr);
    EXPECT_EQ(find_key(""), nullptr);
    EXPECT_EQ(find_key("Name"), nullptr);
    EXPECT_EQ(find_key("bridge"), nullptr);  // a vif= option, not a key
}

TEST(KeyTable, Suggestions_FindNearMisses) {
    EXPECT_EQ(suggest_key("memroy"), "memory");
    EXPECT_EQ(suggest_key("vpcus"), "vcpus");
    EXPECT_EQ(suggest_key("on_shutdown"), "");
    EXPECT_EQ(suggest_key("ramdsk"), "ramdisk");
    EXPECT_EQ(suggest_key(std::string(1000, 'a')), "");
}

TEST(KeyTable, XmHints_AreOnlyForKeysXlDoesNotKnow) {
    for (std::string_view k : {"nics", "ip", "netmask", "gateway", "hostname", "dhcp", "cpu",
                               "bootargs", "vcpu_avail", "on_xend_start"}) {
        EXPECT_FALSE(xm_key_hint(k).empty()) << k;
        EXPECT_EQ(find_key(k), nullptr) << k;
    }
    EXPECT_TRUE(xm_key_hint("memory").empty());
}

}  // namespace
}  // namespace xenolith::config
