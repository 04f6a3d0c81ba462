#include "toolstack/config/json.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace xenolith::config {
namespace {

using test::build_ok;

TEST(DomainJson, PvhGuest_MatchesLibxlShapeAndOrder) {
    auto b = build_ok(
        "name = 'web'\n"
        "type = 'pvh'\n"
        "uuid = '5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7f'\n"
        "kernel = '/boot/vmlinuz'\n"
        "ramdisk = '/boot/initrd.img'\n"
        "root = '/dev/xvda1 ro'\n"
        "memory = 512\n"
        "maxmem = 1024\n"
        "vcpus = 2\n"
        "maxvcpus = 4\n"
        "on_crash = 'rename-restart'\n");
    const std::string expected = R"({
  "c_info": {
    "type": "pvh",
    "name": "web",
    "uuid": "5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7f"
  },
  "b_info": {
    "max_vcpus": 4,
    "avail_vcpus": [
      0,
      1
    ],
    "max_memkb": 1048576,
    "target_memkb": 524288,
    "max_grant_frames": 64,
    "max_maptrack_frames": 1024,
    "sched_params": {},
    "event_channels": 1023,
    "kernel": "/boot/vmlinuz",
    "cmdline": "root=/dev/xvda1 ro",
    "ramdisk": "/boot/initrd.img",
    "type.pvh": {},
    "arch_arm": {},
    "arch_x86": {}
  },
  "on_reboot": "restart",
  "on_crash": "restart_rename",
  "on_soft_reset": "soft_reset"
})";
    EXPECT_EQ(to_ordered_json(b.cfg).dump(2), expected);
}

TEST(DomainJson, SortedVariant_HasTheSameContent) {
    auto b = build_ok("name = 'web'\ntype='pvh'\nmemory=256\n");
    const nlohmann::json sorted = to_json(b.cfg);
    EXPECT_EQ(sorted, nlohmann::json::parse(to_ordered_json(b.cfg).dump()));
    EXPECT_EQ(sorted["b_info"]["target_memkb"], 262144);
    EXPECT_EQ(sorted["c_info"]["type"], "pvh");
}

TEST(DomainJson, DefaultsAreLeftOutAsLibxlDoes) {
    auto b = build_ok("name = 'min'\n");
    const nlohmann::json j = to_json(b.cfg);
    EXPECT_FALSE(j["c_info"].contains("uuid"));
    EXPECT_FALSE(j["b_info"].contains("kernel"));
    EXPECT_FALSE(j["b_info"].contains("cmdline"));
    EXPECT_FALSE(j.contains("on_poweroff"));
    EXPECT_FALSE(j.contains("on_watchdog"));
    EXPECT_FALSE(j.contains("on_crash"));
    EXPECT_EQ(j["on_reboot"], "restart");
    EXPECT_EQ(j["c_info"]["type"], "pv");
    EXPECT_TRUE(j["b_info"]["type.pv"].is_object());
    EXPECT_EQ(j["b_info"]["max_memkb"], 32768);
}

TEST(DomainJson, NonDefaultActions_UseLibxlEnumNames) {
    auto b = build_ok("name='a'\non_poweroff='coredump-destroy'\non_reboot='destroy'\n"
                      "on_watchdog='preserve'\non_soft_reset='coredump-restart'\n");
    const nlohmann::json j = to_json(b.cfg);
    EXPECT_EQ(j["on_poweroff"], "coredump_destroy");
    EXPECT_FALSE(j.contains("on_reboot"));
    EXPECT_EQ(j["on_watchdog"], "preserve");
    EXPECT_EQ(j["on_soft_reset"], "coredump_restart");
}

TEST(DomainJson, HvmFirmwareGoesUnderTypeHvm) {
    auto b = build_ok("name='a'\ntype='hvm'\nfirmware_override='/opt/hvmloader'\n");
    const nlohmann::json j = to_json(b.cfg);
    EXPECT_EQ(j["b_info"]["type.hvm"]["firmware"], "/opt/hvmloader");
    EXPECT_FALSE(j["b_info"].contains("type.pvh"));
}

TEST(DomainJson, InvalidUtf8_IsReplacedSoDumpNeverThrows) {
    auto b = build_ok("name='bad\\xff\\xc3name'\nkernel='/boot/\\xe2\\x82'\nextra='ok \\xe2\\x82\\xac'\n");
    const nlohmann::json j = to_json(b.cfg);
    EXPECT_EQ(j["c_info"]["name"], "bad\xef\xbf\xbd\xef\xbf\xbdname");
    EXPECT_EQ(j["b_info"]["kernel"], "/boot/\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(j["b_info"]["cmdline"], "ok \xe2\x82\xac");
    EXPECT_NO_THROW((void)j.dump());
}

TEST(DomainJson, XlListEntry_WrapsDomidAndConfig) {
    auto b = build_ok("name='a'\n");
    EXPECT_EQ(to_xl_list_entry(7, b.cfg).dump().substr(0, 22), R"({"domid":7,"config":{")");
    EXPECT_EQ(to_xl_list_entry(std::nullopt, b.cfg)["domid"], nullptr);
}

}  // namespace
}  // namespace xenolith::config
