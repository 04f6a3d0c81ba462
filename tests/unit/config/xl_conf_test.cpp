#include "toolstack/config/xl_conf.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace xenolith::config {
namespace {

XlConf parse_ok(std::string_view text) {
    auto c = parse_xl_conf(text, "/etc/xen/xl.conf");
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().what);
    return c.ok() ? *c : XlConf{};
}

std::string parse_error(std::string_view text) {
    auto c = parse_xl_conf(text, "/etc/xen/xl.conf");
    EXPECT_FALSE(c.ok()) << text;
    return c.ok() ? "" : c.error().what;
}

TEST(XlConfTest, empty_file_when_parsed_then_xl_defaults) {
    auto c = parse_ok("");
    EXPECT_EQ(c.autoballoon, Autoballoon::automatic);
    EXPECT_TRUE(c.run_hotplug_scripts);
    EXPECT_EQ(c.lockfile, "/var/lock/xl");
    EXPECT_FALSE(c.max_grant_frames);
    EXPECT_FALSE(c.vif_default_script);
    EXPECT_FALSE(c.vif_default_bridge);
    EXPECT_EQ(c.output_format, OutputFormat::json);
    EXPECT_TRUE(c.claim_mode);
    EXPECT_FALSE(c.vm_cpumask);
    EXPECT_EQ(c.domid_policy, DomidPolicy::xen);
    EXPECT_TRUE(c.warnings.empty());
}

TEST(XlConfTest, every_key_when_set_then_typed) {
    auto c = parse_ok(R"(# xl.conf
autoballoon="off"
run_hotplug_scripts=0
lockfile="/run/xl.lock"
max_grant_frames=64
max_maptrack_frames=0x400
max_grant_version=1
vif.default.script="vif-route"
vif.default.bridge="br-lan"
vif.default.backend="netdrv"
vif.default.gatewaydev="eth1"
output_format="sxp"
blkdev_start="xvdb"
claim_mode=0
vm.cpumask="0-3,^2"
vm.pv.cpumask="1"
domid_policy="random"
)");
    EXPECT_EQ(c.autoballoon, Autoballoon::off);
    EXPECT_FALSE(c.run_hotplug_scripts);
    EXPECT_EQ(c.lockfile, "/run/xl.lock");
    EXPECT_EQ(c.max_grant_frames, 64u);
    EXPECT_EQ(c.max_maptrack_frames, 1024u);
    EXPECT_EQ(c.max_grant_version, 1u);
    EXPECT_EQ(c.vif_default_script, "vif-route");
    EXPECT_EQ(c.vif_default_bridge, "br-lan");
    EXPECT_EQ(c.vif_default_backend, "netdrv");
    EXPECT_EQ(c.vif_default_gatewaydev, "eth1");
    EXPECT_EQ(c.output_format, OutputFormat::sxp);
    EXPECT_EQ(c.blkdev_start, "xvdb");
    EXPECT_FALSE(c.claim_mode);
    ASSERT_TRUE(c.vm_cpumask);
    EXPECT_EQ(c.vm_cpumask->items.size(), 2u);
    ASSERT_TRUE(c.vm_pv_cpumask);
    EXPECT_EQ(c.domid_policy, DomidPolicy::random);
    EXPECT_TRUE(c.warnings.empty());
}

TEST(XlConfTest, autoballoon_when_numeric_or_quoted_then_xl_spellings) {
    EXPECT_EQ(parse_ok("autoballoon=1").autoballoon, Autoballoon::on);
    EXPECT_EQ(parse_ok("autoballoon=\"0\"").autoballoon, Autoballoon::off);
    EXPECT_EQ(parse_ok("autoballoon=\"auto\"").autoballoon, Autoballoon::automatic);
    EXPECT_TRUE(parse_ok("run_hotplug_scripts=\"1\"").run_hotplug_scripts);
}

TEST(XlConfTest, unknown_key_when_parsed_then_warning_with_file_line_and_key) {
    auto c = parse_ok("autoballoon=\"on\"\nvif.default.brige=\"xenbr1\"\n");
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.warnings[0].str(),
              "/etc/xen/xl.conf:2: warning: vif.default.brige: unknown xl.conf setting, ignored");
}

TEST(XlConfTest, unsupported_keys_when_parsed_then_kept_with_a_warning) {
    auto c = parse_ok(
        "remus.default.netbufscript=\"x\"\ncolo.default.proxyscript=\"y\"\nvm.hvm.cpumask=\"0\"\n");
    EXPECT_EQ(c.remus_default_netbufscript, "x");
    EXPECT_EQ(c.colo_default_proxyscript, "y");
    ASSERT_EQ(c.warnings.size(), 3u);
    EXPECT_NE(c.warnings[0].str().find(":1: warning: remus.default.netbufscript"),
              std::string::npos);
    EXPECT_NE(c.warnings[2].str().find("vm.hvm.cpumask"), std::string::npos);
}

TEST(XlConfTest, deprecated_names_when_both_given_then_new_name_wins_and_old_warned) {
    auto c = parse_ok("vif.default.script=\"new\"\nvifscript=\"old\"\ndefaultbridge=\"br9\"\n");
    EXPECT_EQ(c.vif_default_script, "new");
    EXPECT_EQ(c.vif_default_bridge, "br9");
    ASSERT_EQ(c.warnings.size(), 2u);
    EXPECT_NE(c.warnings[0].message.find("vif.default.script"), std::string::npos);
}

TEST(XlConfTest, bad_values_when_parsed_then_errors_name_file_line_and_key) {
    EXPECT_EQ(parse_error("\nautoballoon=\"maybe\""),
              "/etc/xen/xl.conf:2: autoballoon: \"maybe\" is not \"on\", \"off\" or \"auto\"");
    EXPECT_EQ(parse_error("max_grant_frames=\"-1\""),
              "/etc/xen/xl.conf:1: max_grant_frames: \"-1\" is not a number from 0 to 2147483647");
    EXPECT_NE(parse_error("max_maptrack_frames=\"lots\"").find("max_maptrack_frames"),
              std::string::npos);
    EXPECT_NE(parse_error("output_format=\"xml\"").find("output_format"), std::string::npos);
    EXPECT_NE(parse_error("domid_policy=\"next\"").find("domid_policy"), std::string::npos);
    EXPECT_NE(parse_error("vif.default.bridge=[\"a\"]").find("expected a string"),
              std::string::npos);
    EXPECT_NE(parse_error("vm.cpumask=\"0-x\"").find(":1: vm.cpumask: "), std::string::npos);
    EXPECT_NE(parse_error("claim_mode=\"yes\"").find("claim_mode"), std::string::npos);
}

TEST(XlConfTest, syntax_error_when_parsed_then_parser_position) {
    auto e = parse_error("autoballoon=\"on\"\nlockfile = = 1\n");
    EXPECT_EQ(e.rfind("/etc/xen/xl.conf:2:", 0), 0u) << e;
}

TEST(XlConfLoadTest, missing_file_when_loaded_then_defaults) {
    auto c = load_xl_conf("/nonexistent/xl.conf");
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->source.empty());
    EXPECT_EQ(c->autoballoon, Autoballoon::automatic);
}

TEST(XlConfLoadTest, file_when_loaded_then_parsed_with_its_name) {
    char path[] = "/tmp/xl_conf_test.XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    std::ofstream(path) << "vif.default.bridge=\"xenbr1\"\nbogus=1\n";
    auto c = load_xl_conf(path);
    std::remove(path);
    ASSERT_TRUE(c.ok()) << c.error().what;
    EXPECT_EQ(c->vif_default_bridge, "xenbr1");
    ASSERT_EQ(c->warnings.size(), 1u);
    EXPECT_EQ(c->warnings[0].file, path);
    EXPECT_EQ(c->warnings[0].line, 2u);
}

}  // namespace
}  // namespace xenolith::config
