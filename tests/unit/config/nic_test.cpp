// vif= entries: xl-network-configuration(5) settings, MAC and rate syntax, and
// the errors a user gets.
#include "toolstack/config/nic.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"
#include "toolstack/config/json.hpp"

namespace xenolith::config {
namespace {

using test::build_error;
using test::build_ok;
using Strings = std::vector<std::string>;

NicConfig nic_ok(std::string_view spec, SpecIssues* issues_out = nullptr) {
    NicConfig n;
    SpecIssues issues;
    bool devid_given = false;
    std::size_t bridge_offset = 0;
    EXPECT_TRUE(parse_nic_spec(spec, n, devid_given, bridge_offset, issues))
        << spec << ": " << (issues.error ? issues.error->message : "");
    if (issues_out) *issues_out = issues;
    return n;
}

SpecIssue nic_error(std::string_view spec) {
    NicConfig n;
    SpecIssues issues;
    bool devid_given = false;
    std::size_t bridge_offset = 0;
    EXPECT_FALSE(parse_nic_spec(spec, n, devid_given, bridge_offset, issues)) << "parsed: " << spec;
    return issues.error.value_or(SpecIssue{});
}

TEST(NicSpec, EverySetting) {
    auto n = nic_ok("mac=00:16:3E:0a:0b:0c, bridge=br_lan, ip=192.0.2.5 2001:db8::5/64, "
                    "script=vif-route, vifname=web0, backend=Domain-2, rate=10Mb/s@20ms, mtu=1400, "
                    "model=e1000, type=ioemu, gatewaydev=eth1, vlan=10p/20, untrusted");
    ASSERT_TRUE(n.mac);
    EXPECT_EQ(to_string(*n.mac), "00:16:3e:0a:0b:0c");
    EXPECT_EQ(n.bridge, "br_lan");
    EXPECT_EQ(n.ip, "192.0.2.5 2001:db8::5/64");
    EXPECT_EQ(n.script, "vif-route");
    EXPECT_EQ(n.ifname, "web0");
    EXPECT_EQ(n.backend_domain, "Domain-2");
    ASSERT_TRUE(n.rate);
    EXPECT_EQ(n.rate->bytes_per_interval, 25000u);  // 1.25 MB/s for 20 ms
    EXPECT_EQ(n.rate->interval_usecs, 20000u);
    EXPECT_EQ(n.mtu, 1400u);
    EXPECT_EQ(n.model, "e1000");
    EXPECT_EQ(n.type, NicType::vif_ioemu);
    EXPECT_EQ(n.gatewaydev, "eth1");
    EXPECT_EQ(n.vlan, "10p/20");
    EXPECT_EQ(n.trusted, false);
}

TEST(NicSpec, EmptySpec_IsADefaultNic) {
    auto n = nic_ok("");
    EXPECT_FALSE(n.mac);
    EXPECT_FALSE(n.bridge);
    EXPECT_EQ(n.type, NicType::unknown);
    EXPECT_FALSE(nic_ok(" , ,").bridge);
}

TEST(NicSpec, DeprecatedAndIgnoredSettings_Warn) {
    SpecIssues issues;
    auto n = nic_ok("netdev=eth0,accel=x,colo_compare_out=y,bridge=a,bridge=b", &issues);
    EXPECT_EQ(n.gatewaydev, "eth0");
    EXPECT_EQ(n.bridge, "b");
    ASSERT_EQ(issues.warnings.size(), 4u);
    EXPECT_EQ(issues.warnings[0].message, "'netdev' is deprecated; write gatewaydev= instead");
    EXPECT_EQ(issues.warnings[1].message, "'accel' is not supported (nor by xl); ignored");
    EXPECT_EQ(issues.warnings[2].message, "COLO settings are not supported by xenolith; ignored");
    EXPECT_EQ(issues.warnings[3].message, "'bridge' is given twice; the last one counts, as in xl");
    EXPECT_EQ(issues.warnings[3].offset, 48u);
}

TEST(NicSpec, Errors_SayWhatAndWhere) {
    auto e = nic_error("bridge=xenbr0, colour=blue");
    EXPECT_EQ(e.offset, 15u);
    EXPECT_EQ(e.message.substr(0, 30), "unknown vif setting 'colour'; ");
    e = nic_error("bridge=xenbr0,promisc");
    EXPECT_EQ(e.offset, 14u);
    e = nic_error("type=virtio");
    EXPECT_EQ(e.offset, 5u);
    EXPECT_EQ(e.message, "type: expected vif or ioemu, got 'virtio'");
    e = nic_error("mtu=9001000");
    EXPECT_EQ(e.message, "mtu: expected a number of bytes from 68 to 65535, got '9001000'");
    EXPECT_EQ(nic_error("mtu=0").offset, 4u);
    EXPECT_EQ(nic_error("devid=-1").message, "devid: expected a device number, got '-1'");
    EXPECT_EQ(nic_error("bridge=this-name-is-too-long").message,
              "bridge: 'this-name-is-too-long' is 21 bytes; Linux interface names have at most 15");
    EXPECT_EQ(nic_error("vifname=a/b").message.substr(0, 23), "vifname: 'a/b' contains");
    EXPECT_EQ(nic_error("bridge=").message, "bridge: '' is empty");
    EXPECT_EQ(nic_error("ip=192.0.2.300").message,
              "ip: '192.0.2.300' is not an IPv4 or IPv6 address");
    EXPECT_EQ(nic_error("ip=10.0.0.1/33").message, "ip: '33' is not a prefix length (0..32)");
    EXPECT_EQ(nic_error("script=").message, "script: the value is empty");
    EXPECT_EQ(nic_error("vlan=10/20").message,
              "vlan: needs one term marked as the PVID (e.g. 10p/20)");
    EXPECT_EQ(nic_error("vlan=4095").message.substr(0, 31), "vlan: '4095' is not a VLAN term");
}

TEST(NicSpec, Vlans) {
    EXPECT_EQ(nic_ok("vlan=10").vlan, "10");
    EXPECT_EQ(nic_ok("vlan=10p/100+10x4").vlan, "10p/100+10x4");
    EXPECT_EQ(nic_ok("vlan=5p/20-30u").vlan, "5p/20-30u");
    EXPECT_FALSE(nic_error("vlan=10p/20p").message.empty());
    EXPECT_FALSE(nic_error("vlan=30-20").message.empty());
    EXPECT_FALSE(nic_error("vlan=4000+100x2").message.empty());
}

TEST(NicMac, GoodAndBad) {
    std::string why;
    EXPECT_EQ(to_string(*parse_mac("00:16:3e:1:2:3", why)), "00:16:3e:01:02:03");
    EXPECT_EQ(to_string(*parse_mac("02:AB:cd:EF:00:ff", why)), "02:ab:cd:ef:00:ff");
    for (const char* bad : {"00:16:3e:12:34", "00:16:3e:12:34:56:78", "00-16-3e-12-34-56",
                            "00:16:3e:123:4:5", "00:16:3e:12:34:5g", "", "::::::", "00:16:3e:12:34:"}) {
        EXPECT_FALSE(parse_mac(bad, why)) << bad;
        EXPECT_NE(why.find("is not a MAC address"), std::string::npos) << bad << ": " << why;
    }
    EXPECT_FALSE(parse_mac("01:16:3e:12:34:56", why));
    EXPECT_EQ(why, "01:16:3e:12:34:56 is a multicast address (the low bit of the first byte is "
                   "set); a NIC needs a unicast one, e.g. 00:16:3e:xx:xx:xx");
    EXPECT_FALSE(parse_mac("ff:ff:ff:ff:ff:ff", why));
    EXPECT_FALSE(parse_mac("00:00:00:00:00:00", why));
    EXPECT_EQ(why, "00:00:00:00:00:00 is not a usable address; leave mac= out to get a random one");
}

TEST(NicRate, AsLibxluComputesIt) {
    std::string why;
    auto r = parse_nic_rate("10Mb/s", why);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->interval_usecs, 50000u);            // the default 50 ms
    EXPECT_EQ(r->bytes_per_interval, 62500u);        // 1.25e6 B/s * 0.05 s
    r = parse_nic_rate("250KB/s", why);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bytes_per_interval, 12500u);
    r = parse_nic_rate("1MB/s@20ms", why);           // the manual's example: 20,000 bytes
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bytes_per_interval, 20000u);
    EXPECT_EQ(r->interval_usecs, 20000u);
    r = parse_nic_rate("1GB/s@1s", why);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bytes_per_interval, 1000000000u);
    EXPECT_EQ(r->interval_usecs, 1000000u);
    r = parse_nic_rate("800000b/s@100us", why);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bytes_per_interval, 10u);
    EXPECT_EQ(r->interval_usecs, 100u);
    r = parse_nic_rate("8B/s@2", why);  // a bare interval is in seconds
    ASSERT_TRUE(r);
    EXPECT_EQ(r->interval_usecs, 2000000u);
    EXPECT_EQ(r->bytes_per_interval, 16u);
    EXPECT_FALSE(parse_nic_rate("4294967295GB/s", why));  // per 50 ms: past 64 bits
    EXPECT_EQ(why, "'4294967295GB/s' is too large");
}

TEST(NicRate, BadRates) {
    std::string why;
    for (const char* bad : {"", "10", "10Mb", "10Mbps", "10mb/s", "10 Mb/s", "Mb/s", "10Tb/s",
                            "10Mb/s@", "10Mb/s@20h", "10Mb/s@ms", "-1Mb/s", "0x10Mb/s",
                            "10Mb/s@20ms@1s"}) {
        EXPECT_FALSE(parse_nic_rate(bad, why)) << bad;
        EXPECT_NE(why.find("is not a rate"), std::string::npos) << bad << ": " << why;
    }
    EXPECT_FALSE(parse_nic_rate("0Mb/s", why));
    EXPECT_EQ(why, "'0Mb/s': the rate must be above 0");
    EXPECT_FALSE(parse_nic_rate("4294967296B/s", why));
    EXPECT_EQ(why, "'4294967296B/s' is too large (at most 4294967295 units per second)");
    EXPECT_FALSE(parse_nic_rate("1B/s@0ms", why));
    EXPECT_EQ(why, "'1B/s@0ms': the interval must be above 0");
    EXPECT_FALSE(parse_nic_rate("1B/s@5000s", why));
    EXPECT_EQ(why, "'1B/s@5000s': the interval is longer than 4294967295 us");
}

// ---- in a config file -----------------------------------------------------------

TEST(NicConfigFile, DevidsFollowThePlaceInTheList) {
    auto b = build_ok("name='a'\nvif=['bridge=br0', '', 'devid=7']\n");
    ASSERT_EQ(b.cfg.nics.size(), 3u);
    EXPECT_EQ(b.cfg.nics[0].devid, 0u);
    EXPECT_EQ(b.cfg.nics[1].devid, 1u);
    EXPECT_EQ(b.cfg.nics[2].devid, 7u);
    EXPECT_EQ(b.cfg.nics[0].bridge_pos.line, 2u);
    EXPECT_EQ(b.cfg.nics[0].bridge_pos.column, 14u);
}

TEST(NicConfigFile, Errors_CarryFileLineAndColumn) {
    EXPECT_EQ(build_error("name='a'\nvif = [ 'bridge=xenbr0,mac=01:00:5e:00:00:01' ]\n"),
              "t.cfg:2:28: vif: mac: 01:00:5e:00:00:01 is a multicast address (the low bit of the "
              "first byte is set); a NIC needs a unicast one, e.g. 00:16:3e:xx:xx:xx");
    EXPECT_EQ(build_error("name='a'\nvif = [ 'mac=00:16:3e:00:00' ]\n"),
              "t.cfg:2:14: vif: mac: '00:16:3e:00:00' is not a MAC address; expected six two-digit "
              "hex groups separated by ':', e.g. 00:16:3e:12:34:56");
    EXPECT_EQ(build_error("name='a'\nvif = [ 'rate=fast' ]\n"),
              "t.cfg:2:15: vif: rate: 'fast' is not a rate; expected <N>[G|M|K](B|b)/s"
              "[@<interval>[ms|us|s]], e.g. 10Mb/s or 1MB/s@20ms");
    EXPECT_EQ(build_error("name='a'\nvif = [ 'bridge=br0', 'brige=br1' ]\n").substr(0, 47),
              "t.cfg:2:24: vif: unknown vif setting 'brige'; e");
}

TEST(NicConfigFile, DuplicateDevid_IsAnError) {
    EXPECT_EQ(build_error("name='a'\nvif=['devid=1', '']\n"),
              "t.cfg:2:18: vif: devid 1 is taken by the vif at line 2 (this entry gets it from its "
              "place in the list; give it devid=)");
    EXPECT_EQ(build_error("name='a'\nvif=['devid=3',\n'devid=3']\n"),
              "t.cfg:3:2: vif: devid 3 is taken by the vif at line 2");
}

TEST(NicConfigFile, Warnings) {
    auto b = build_ok("name='a'\ntype='pvh'\nvif=['mac=00:16:3e:00:00:01,model=e1000',\n"
                      "'mac=00:16:3e:00:00:01,bridge=b']\n");
    EXPECT_EQ(b.warnings,
              (Strings{"t.cfg:3: warning: vif: model= and type=ioemu only apply to HVM guests, and "
                       "this one is pvh; ignored",
                       "t.cfg:3: warning: vif: mac 00:16:3e:00:00:01 is also used by the vif at "
                       "line 3"}));
    auto hvm = build_ok("name='a'\ntype='hvm'\nvif=['model=e1000,type=ioemu']\n");
    EXPECT_EQ(hvm.warnings.size(), 0u);
}

TEST(NicConfigFile, XmEraKeysStillOnlyWarn) {
    auto b = build_ok("name='a'\nnics=2\nip='10.0.0.2'\nhostname='h'\nvif=['bridge=xenbr0']\n");
    EXPECT_EQ(b.cfg.nics.size(), 1u);
    ASSERT_EQ(b.warnings.size(), 3u);
    EXPECT_NE(b.warnings[0].find("'nics' is not an xl.cfg key"), std::string::npos);
    EXPECT_NE(b.warnings[1].find("'ip' is not an xl.cfg key"), std::string::npos);
    EXPECT_NE(b.warnings[2].find("'hostname' is not an xl.cfg key"), std::string::npos);
}

TEST(NicJson, LibxlShape) {
    auto b = build_ok("name='a'\ntype='hvm'\n"
                      "vif=['bridge=xenbr0', 'mac=00:16:3e:01:02:03,backend=dd,ip=10.0.0.2,"
                      "vifname=v1,script=vif-nat,type=vif,gatewaydev=eth0,vlan=5,trusted,mtu=1500']\n");
    EXPECT_EQ(to_json(b.cfg)["nics"], nlohmann::json::parse(
              R"([{"devid":0,"bridge":"xenbr0"},{"backend_domname":"dd","devid":1,"mtu":1500,"vlan":"5",)"
              R"("mac":"00:16:3e:01:02:03","ip":"10.0.0.2","ifname":"v1","script":"vif-nat",)"
              R"("nictype":"vif","gatewaydev":"eth0","trusted":"True"}])"));
    // The typed JSON for the daemon has the same content.
    EXPECT_EQ(to_json(b.cfg)["nics"][1]["mac"], "00:16:3e:01:02:03");
}

// xl network-attach's arguments: one setting each, xl's messages for what
// xl itself refuses.
TEST(NicArgument, SettingsAccumulateAndCommasAreNotSplit) {
    NicConfig n;
    bool devid_given = false;
    SpecIssues issues;
    ASSERT_TRUE(parse_nic_argument("mac=00:16:3e:01:02:03", n, devid_given, issues));
    ASSERT_TRUE(parse_nic_argument("bridge=br0", n, devid_given, issues));
    ASSERT_TRUE(parse_nic_argument("trusted", n, devid_given, issues));
    EXPECT_FALSE(devid_given);
    ASSERT_TRUE(parse_nic_argument("devid=7", n, devid_given, issues));
    EXPECT_TRUE(devid_given);
    EXPECT_EQ(n.devid, 7u);
    EXPECT_EQ(to_string(*n.mac), "00:16:3e:01:02:03");
    EXPECT_EQ(n.bridge, "br0");
    EXPECT_EQ(n.trusted, true);
    // A comma is part of the value: not split into a second setting.
    SpecIssues bad;
    EXPECT_FALSE(parse_nic_argument("mtu=9000,bridge=br1", n, devid_given, bad));
    EXPECT_TRUE(bad.failed());
    EXPECT_EQ(n.bridge, "br0");
}

TEST(NicArgument, XlMessagesForUnknownAndInvalid) {
    NicConfig n;
    bool devid_given = false;
    SpecIssues a, b, c, d;
    EXPECT_FALSE(parse_nic_argument("colour=red", n, devid_given, a));
    EXPECT_EQ(a.error->message, "unrecognized argument `colour=red'");
    EXPECT_FALSE(parse_nic_argument("bogus", n, devid_given, b));
    EXPECT_EQ(b.error->message, "unrecognized argument `bogus'");
    EXPECT_FALSE(parse_nic_argument("mac=00:16:3e:zz:00:01", n, devid_given, c));
    EXPECT_EQ(c.error->message, "Invalid parameter `mac'.");
    EXPECT_FALSE(parse_nic_argument("type=e1000", n, devid_given, d));
    EXPECT_EQ(d.error->message, "Invalid parameter `type'.");
    SpecIssues w;
    EXPECT_TRUE(parse_nic_argument("netdev=eth0", n, devid_given, w));
    EXPECT_EQ(n.gatewaydev, "eth0");
    EXPECT_EQ(w.warnings.size(), 1u);
}

TEST(NicArgument, LibxlJsonAsXlPrintsIt) {
    NicConfig n;
    bool devid_given = false;
    SpecIssues issues;
    for (const char* arg : {"bridge=br0", "mac=00:16:3e:01:02:03", "mtu=9000", "vifname=web0",
                            "rate=10Mb/s@20ms", "untrusted"})
        ASSERT_TRUE(parse_nic_argument(arg, n, devid_given, issues)) << arg;
    EXPECT_EQ(nic_to_libxl_json(n, devid_given),
              "{\n"
              "    \"mtu\": 9000,\n"
              "    \"mac\": \"00:16:3e:01:02:03\",\n"
              "    \"bridge\": \"br0\",\n"
              "    \"ifname\": \"web0\",\n"
              "    \"rate_bytes_per_interval\": 25000,\n"
              "    \"rate_interval_usecs\": 20000,\n"
              "    \"trusted\": \"False\"\n"
              "}\n");
    ASSERT_TRUE(parse_nic_argument("devid=2", n, devid_given, issues));
    EXPECT_NE(nic_to_libxl_json(n, devid_given).find("{\n    \"devid\": 2,\n"), std::string::npos);
    EXPECT_EQ(nic_to_libxl_json(NicConfig{}, false), "{\n\n}\n");
}

}  // namespace
}  // namespace xenolith::config
