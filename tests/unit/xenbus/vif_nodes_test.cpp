#include "toolstack/daemon/vif_nodes.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "xenstore/test_util.hpp"

namespace xenolith::toolstack {
namespace {

using xenstore::test::Client;
using xenstore::test::XenstoreTest;

config::MacAddress fixed_mac() { return {0x00, 0x16, 0x3e, 0x11, 0x22, 0x33}; }

config::NicConfig nic(std::string_view spec, std::uint32_t devid = 0) {
    config::NicConfig n;
    config::SpecIssues issues;
    bool devid_given = false;
    std::size_t bridge_offset = 0;
    EXPECT_TRUE(config::parse_nic_spec(spec, n, devid_given, bridge_offset, issues))
        << spec << ": " << (issues.error ? issues.error->message : "");
    if (!devid_given) n.devid = devid;
    return n;
}

VifNodes vif_nodes_for(std::string_view spec, domid_t domid = 5, domid_t backend = 0,
                   std::uint32_t devid = 0) {
    auto n = vif_nodes(nic(spec, devid), domid, backend, fixed_mac);
    EXPECT_TRUE(n.ok()) << spec << ": " << (n.ok() ? "" : n.error().what);
    return n.ok() ? *n : VifNodes{};
}

std::map<std::string, std::string> keys_under(const DeviceNodes& n, const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& w : n.writes) {
        if (w.path.size() > dir.size() && w.path.compare(0, dir.size(), dir) == 0 &&
            w.path[dir.size()] == '/') {
            out[w.path.substr(dir.size() + 1)] = w.value;
        }
    }
    return out;
}

TEST(VifMacTest, random_bytes_when_made_into_a_mac_then_xen_oui_and_top_bit_clear) {
    const std::uint8_t r[3] = {0xff, 0xab, 0xcd};
    EXPECT_EQ(config::to_string(xen_mac_from(r)), "00:16:3e:7f:ab:cd");
    std::set<std::string> seen;
    for (int i = 0; i < 16; ++i) {
        auto m = random_xen_mac();
        EXPECT_EQ(m[0], 0x00);
        EXPECT_EQ(m[1], 0x16);
        EXPECT_EQ(m[2], 0x3e);
        EXPECT_EQ(m[3] & 0x80, 0);
        seen.insert(config::to_string(m));
    }
    EXPECT_GT(seen.size(), 1u);
}

TEST(VifNodesTest, empty_spec_when_built_then_libxl_defaults) {
    auto n = vif_nodes_for("");
    EXPECT_EQ(n.frontend_path, "/local/domain/5/device/vif/0");
    EXPECT_EQ(n.backend_path, "/local/domain/0/backend/vif/5/0");
    EXPECT_EQ(n.libxl_path, "/libxl/5/device/vif/0");
    const std::map<std::string, std::string> back{
        {"frontend", "/local/domain/5/device/vif/0"},
        {"frontend-id", "5"},
        {"online", "1"},
        {"state", "1"},
        {"script", "/etc/xen/scripts/vif-bridge"},
        {"mac", "00:16:3e:11:22:33"},
        {"bridge", "xenbr0"},
        {"handle", "0"},
        {"type", "vif"},
        {"hotplug-status", ""},
    };
    EXPECT_EQ(keys_under(n, n.backend_path), back);
    const std::map<std::string, std::string> front{
        {"backend", "/local/domain/0/backend/vif/5/0"},
        {"backend-id", "0"},
        {"state", "1"},
        {"handle", "0"},
        {"mac", "00:16:3e:11:22:33"},
        {"mtu", "1500"},
        {"trusted", "1"},
    };
    EXPECT_EQ(keys_under(n, n.frontend_path), front);
    auto libxl = back;
    libxl["backend"] = n.backend_path;
    EXPECT_EQ(keys_under(n, n.libxl_path), libxl);
}

TEST(VifNodesTest, full_spec_when_built_then_every_optional_key) {
    auto n = vif_nodes_for(
        "mac=00:16:3E:01:02:03,bridge=br1,ip=10.0.0.2 10.0.0.3,script=vif-route,"
        "vifname=guest0,gatewaydev=eth1,rate=10Mb/s@20ms,mtu=9000,untrusted",
        7, 0, 2);
    auto back = keys_under(n, n.backend_path);
    EXPECT_EQ(back["mac"], "00:16:3e:01:02:03");
    EXPECT_EQ(back["bridge"], "br1");
    EXPECT_EQ(back["ip"], "10.0.0.2 10.0.0.3");
    EXPECT_EQ(back["script"], "/etc/xen/scripts/vif-route");
    EXPECT_EQ(back["vifname"], "guest0");
    EXPECT_EQ(back["gatewaydev"], "eth1");
    EXPECT_EQ(back["rate"], "25000,20000");  // 10 Mbit/s = 1.25 MB/s, 20 ms worth
    EXPECT_EQ(back["mtu"], "9000");
    EXPECT_EQ(back["handle"], "2");
    auto front = keys_under(n, n.frontend_path);
    EXPECT_EQ(front["mtu"], "9000");
    EXPECT_EQ(front["trusted"], "0");
    EXPECT_EQ(front["handle"], "2");
    EXPECT_EQ(n.backend_path, "/local/domain/0/backend/vif/7/2");
}

TEST(VifNodesTest, absolute_script_when_given_then_kept) {
    auto n = vif_nodes_for("script=/usr/local/bin/my-vif");
    EXPECT_EQ(keys_under(n, n.backend_path)["script"], "/usr/local/bin/my-vif");
}

TEST(VifNodesTest, no_mac_when_built_then_generator_used_and_reported) {
    auto n = vif_nodes(nic(""), 5, 0, [] { return config::MacAddress{0, 0x16, 0x3e, 1, 2, 3}; });
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(config::to_string(n->mac), "00:16:3e:01:02:03");
    EXPECT_EQ(keys_under(*n, n->backend_path)["mac"], "00:16:3e:01:02:03");
}

TEST(VifNodesTest, ioemu_when_pv_guest_then_refused) {
    auto spec = nic("type=ioemu", 3);
    auto n = vif_nodes(spec, 5, 0, fixed_mac);
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.error().what.find("vif 3"), std::string::npos);
    EXPECT_NE(n.error().what.find("emulated"), std::string::npos);
}

TEST(VifNodesTest, every_node_when_built_then_libxl_perms_mtu_read_only) {
    auto n = vif_nodes_for("", 7, 3);
    for (const auto& w : n.writes) {
        std::string want = w.path == n.frontend_path + "/mtu"     ? "n3 r7"
                           : w.path.starts_with(n.backend_path)  ? "n3 r7"
                           : w.path.starts_with(n.frontend_path) ? "n7 r3"
                                                                 : "n0";
        std::string got;
        for (const auto& p : w.perms) {
            got += got.empty() ? "" : " ";
            got += p.access == xenstore::kPermRead ? 'r' : 'n';
            got += std::to_string(p.domid);
        }
        EXPECT_EQ(got, want) << w.path;
    }
}

class VifStoreTest : public XenstoreTest {};

TEST_F(VifStoreTest, applied_nodes_when_read_back_then_match_with_perms) {
    Client guest = guest_with_home(5);
    auto n = vif_nodes_for("bridge=br0");
    ASSERT_EQ(apply_vif_nodes(server, dom0.conn(), n), xenstore::XsErr::ok);
    for (const auto& w : n.writes) EXPECT_EQ(dom0.read(w.path), w.value) << w.path;
    EXPECT_EQ(dom0.get_perms(n.backend_path + "/hotplug-status"), "n0 r5");
    EXPECT_EQ(dom0.get_perms(n.frontend_path + "/mtu"), "n0 r5");
    // The guest writes its rings and state, but not the mtu it was given.
    EXPECT_EQ(guest.write(n.frontend_path + "/tx-ring-ref", "8"), "ok");
    EXPECT_EQ(guest.write(n.frontend_path + "/state", "4"), "ok");
    EXPECT_EQ(guest.write(n.frontend_path + "/mtu", "65535"), "EACCES");
    EXPECT_EQ(guest.read(n.frontend_path + "/mtu"), "1500");
    EXPECT_EQ(guest.write(n.backend_path + "/hotplug-status", "connected"), "EACCES");
    EXPECT_EQ(guest.read(n.libxl_path + "/mac"), "<EACCES>");
}

TEST_F(VifStoreTest, devids_when_vifs_exist_then_next_is_after_highest) {
    guest_with_home(5);
    EXPECT_EQ(next_vif_devid(server, dom0.conn(), 5), 0u);
    auto a = vif_nodes_for("", 5, 0, 0);
    auto b = vif_nodes_for("", 5, 0, 4);
    ASSERT_EQ(apply_vif_nodes(server, dom0.conn(), a), xenstore::XsErr::ok);
    EXPECT_EQ(next_vif_devid(server, dom0.conn(), 5), 1u);
    ASSERT_EQ(apply_vif_nodes(server, dom0.conn(), b), xenstore::XsErr::ok);
    EXPECT_EQ(next_vif_devid(server, dom0.conn(), 5), 5u);
    EXPECT_EQ(next_vif_devid(server, dom0.conn(), 6), 0u);
}

TEST_F(VifStoreTest, removal_when_done_then_other_vif_untouched_and_parents_cleaned) {
    guest_with_home(5);
    const std::size_t before = server.store().size();
    auto a = vif_nodes_for("", 5, 0, 0);
    auto b = vif_nodes_for("", 5, 0, 1);
    ASSERT_EQ(apply_vif_nodes(server, dom0.conn(), a), xenstore::XsErr::ok);
    ASSERT_EQ(apply_vif_nodes(server, dom0.conn(), b), xenstore::XsErr::ok);
    ASSERT_EQ(remove_vif_nodes(server, dom0.conn(), a), xenstore::XsErr::ok);
    EXPECT_EQ(dom0.read(a.backend_path + "/mac"), "<ENOENT>");
    EXPECT_EQ(dom0.read(b.backend_path + "/handle"), "1");
    ASSERT_EQ(remove_vif_nodes(server, dom0.conn(), b), xenstore::XsErr::ok);
    EXPECT_EQ(dom0.read("/local/domain/0/backend"), "<ENOENT>");
    EXPECT_EQ(dom0.read("/local/domain/5/device"), "<ENOENT>");
    EXPECT_EQ(server.store().size(), before + 3);
}

}  // namespace
}  // namespace xenolith::toolstack
