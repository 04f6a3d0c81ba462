#include "toolstack/daemon/vbd_nodes.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "xenstore/test_util.hpp"

namespace xenolith::toolstack {
namespace {

using xenstore::test::Client;
using xenstore::test::XenstoreTest;

config::DiskConfig disk(std::string_view spec) {
    config::DiskConfig d;
    config::SpecIssues issues;
    EXPECT_TRUE(config::parse_disk_spec(spec, d, issues))
        << spec << ": " << (issues.error ? issues.error->message : "");
    return d;
}

VbdNodes nodes_for(std::string_view spec, domid_t domid = 5, domid_t backend = 0) {
    auto n = vbd_nodes(disk(spec), domid, backend);
    EXPECT_TRUE(n.ok()) << spec << ": " << (n.ok() ? "" : n.error().what);
    return n.ok() ? *n : VbdNodes{};
}

// Keys directly under `dir` with their values.
std::map<std::string, std::string> keys_under(const VbdNodes& n, const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& w : n.writes) {
        if (w.path.size() > dir.size() && w.path.compare(0, dir.size(), dir) == 0 &&
            w.path[dir.size()] == '/') {
            out[w.path.substr(dir.size() + 1)] = w.value;
        }
    }
    return out;
}

std::string perms_of(const VbdNodes& n, const std::string& path) {
    for (const auto& w : n.writes) {
        if (w.path != path) continue;
        std::string s;
        for (const auto& p : w.perms) {
            s += s.empty() ? "" : " ";
            s += p.access == xenstore::kPermRead ? 'r' : p.access == xenstore::kPermNone ? 'n' : '?';
            s += std::to_string(p.domid);
        }
        return s;
    }
    return "<absent>";
}

TEST(VbdDevidTest, vdev_names_when_numbered_then_libxl_device_numbers) {
    const std::pair<const char*, std::uint32_t> table[] = {
        {"xvda", 51712},   {"xvdb", 51728},          {"xvda1", 51713},
        {"xvdp15", 51967}, {"xvdq", (1u << 28) | (16u << 8)},
        {"xvda16", (1u << 28) | 16u},               {"xvdaa", (1u << 28) | (26u << 8)},
        {"hda", 768},      {"hdb", 832},             {"hdc", 5632},
        {"hdd2", 5698},    {"sda", 2048},            {"sdb1", 2065},
        {"d0p0", 51712},   {"d1p2", 51730},          {"d16p0", (1u << 28) | (16u << 8)},
        {"51712", 51712},  {"0xca00", 51712},
    };
    for (const auto& [vdev, want] : table) {
        auto got = config::disk_device_number(vdev);
        ASSERT_TRUE(got.has_value()) << vdev;
        EXPECT_EQ(*got, want) << vdev;
    }
}

TEST(VbdDevidTest, vdev_names_when_not_libxl_forms_then_refused) {
    for (const char* vdev : {"d1", "xvd", "xvda01", "hde", "hda64", "sdq", "sda16", "vda",
                             "xvdA", "-1", "xvda/x", ""}) {
        EXPECT_FALSE(config::disk_device_number(vdev).has_value()) << vdev;
    }
}

TEST(VbdNodesTest, raw_file_disk_when_built_then_libxl_keys_and_values) {
    auto n = nodes_for("/var/lib/xen/images/a.img,raw,xvda,w");
    EXPECT_EQ(n.devid, 51712u);
    EXPECT_EQ(n.frontend_path, "/local/domain/5/device/vbd/51712");
    EXPECT_EQ(n.backend_path, "/local/domain/0/backend/vbd/5/51712");
    EXPECT_EQ(n.libxl_path, "/libxl/5/device/vbd/51712");

    const std::map<std::string, std::string> back{
        {"frontend", "/local/domain/5/device/vbd/51712"},
        {"params", "/var/lib/xen/images/a.img"},
        {"script", "/etc/xen/scripts/block"},
        {"frontend-id", "5"},
        {"online", "1"},
        {"removable", "0"},
        {"bootable", "1"},
        {"state", "1"},
        {"dev", "xvda"},
        {"type", "phy"},
        {"mode", "w"},
        {"device-type", "disk"},
        {"discard-enable", "1"},
    };
    EXPECT_EQ(keys_under(n, n.backend_path), back);

    const std::map<std::string, std::string> front{
        {"backend", "/local/domain/0/backend/vbd/5/51712"},
        {"backend-id", "0"},
        {"state", "1"},
        {"virtual-device", "51712"},
        {"device-type", "disk"},
        {"trusted", "1"},
    };
    EXPECT_EQ(keys_under(n, n.frontend_path), front);

    auto libxl = back;
    libxl["backend"] = n.backend_path;
    EXPECT_EQ(keys_under(n, n.libxl_path), libxl);
}

TEST(VbdNodesTest, every_node_when_built_then_libxl_perms) {
    auto n = nodes_for("/img,raw,xvdb,w", 7, 3);
    EXPECT_EQ(n.backend_path, "/local/domain/3/backend/vbd/7/51728");
    EXPECT_EQ(perms_of(n, n.backend_path), "n3 r7");
    EXPECT_EQ(perms_of(n, n.frontend_path), "n7 r3");
    EXPECT_EQ(perms_of(n, n.libxl_path), "n0");
    for (const auto& w : n.writes) {
        std::string want = w.path.starts_with(n.backend_path)    ? "n3 r7"
                           : w.path.starts_with(n.frontend_path) ? "n7 r3"
                                                                 : "n0";
        EXPECT_EQ(perms_of(n, w.path), want) << w.path;
    }
}

TEST(VbdNodesTest, cdrom_when_built_then_removable_cdrom_read_only) {
    auto n = nodes_for("/srv/debian.iso,raw,hdc:cdrom,r");
    EXPECT_EQ(n.devid, 5632u);
    auto back = keys_under(n, n.backend_path);
    EXPECT_EQ(back["device-type"], "cdrom");
    EXPECT_EQ(back["removable"], "1");
    EXPECT_EQ(back["mode"], "r");
    EXPECT_EQ(back["dev"], "hdc");
    EXPECT_EQ(back["discard-enable"], "0");  // libxl's default follows readwrite
    EXPECT_EQ(keys_under(n, n.frontend_path)["device-type"], "cdrom");
}

TEST(VbdNodesTest, empty_cdrom_when_built_then_qdisk_with_aio_params) {
    auto n = nodes_for(",hdc:cdrom,r");
    EXPECT_EQ(n.backend_path, "/local/domain/0/backend/qdisk/5/5632");
    auto back = keys_under(n, n.backend_path);
    EXPECT_EQ(back["params"], "aio:");
    EXPECT_EQ(back["type"], "qdisk");
    EXPECT_EQ(back.count("script"), 0u);
}

TEST(VbdNodesTest, read_only_disk_when_built_then_mode_r_and_no_discard) {
    auto n = nodes_for("format=raw, vdev=xvdc, access=ro, target=/img");
    auto back = keys_under(n, n.backend_path);
    EXPECT_EQ(back["mode"], "r");
    EXPECT_EQ(back["discard-enable"], "0");
    EXPECT_EQ(back["device-type"], "disk");
}

TEST(VbdNodesTest, script_disk_when_built_then_script_under_xen_scripts) {
    auto n = nodes_for("vdev=xvda, script=block-drbd, target=r0");
    auto back = keys_under(n, n.backend_path);
    EXPECT_EQ(back["script"], "/etc/xen/scripts/block-drbd");
    EXPECT_EQ(back["params"], "r0");
    EXPECT_EQ(back["type"], "phy");
    auto abs = nodes_for("vdev=xvda, script=/opt/my-script, target=x");
    EXPECT_EQ(keys_under(abs, abs.backend_path)["script"], "/opt/my-script");
}

TEST(VbdNodesTest, optional_flags_when_given_then_written) {
    auto n = nodes_for("vdev=xvda, direct-io-safe, no-discard, untrusted, target=/img");
    auto back = keys_under(n, n.backend_path);
    EXPECT_EQ(back["direct-io-safe"], "1");
    EXPECT_EQ(back["discard-enable"], "0");
    EXPECT_EQ(keys_under(n, n.frontend_path)["trusted"], "0");
}

TEST(VbdNodesTest, qcow2_disk_when_built_then_qdisk_params_carry_format) {
    auto n = nodes_for("/img.qcow2,qcow2,xvda,w");
    auto back = keys_under(n, n.backend_path);
    EXPECT_EQ(back["params"], "qcow2:/img.qcow2");
    EXPECT_EQ(back["type"], "qdisk");
}

TEST(VbdNodesTest, libxl_refusals_when_built_then_error_names_vdev) {
    auto d = disk("/img,raw,xvda,w");
    d.vdev = "bogus";
    auto bad_vdev = vbd_nodes(d, 5, 0);
    ASSERT_FALSE(bad_vdev.ok());
    EXPECT_NE(bad_vdev.error().what.find("bogus"), std::string::npos);

    auto qcow_phy = disk("format=qcow2, backendtype=phy, vdev=xvda, target=/i");
    EXPECT_FALSE(vbd_nodes(qcow_phy, 5, 0).ok());
    auto qdisk_script = disk("backendtype=qdisk, script=block-x, vdev=xvda, target=/i");
    EXPECT_FALSE(vbd_nodes(qdisk_script, 5, 0).ok());
    auto tap = disk("tap:aio:/img,xvda,w");
    tap.backend_type = config::DiskBackendType::tap;
    EXPECT_FALSE(vbd_nodes(tap, 5, 0).ok());
    auto empty_disk = disk("/img,raw,xvda,w");
    empty_disk.format = config::DiskFormat::empty;
    EXPECT_FALSE(vbd_nodes(empty_disk, 5, 0).ok());
}

TEST(VbdNodesTest, huge_target_when_built_then_refused_before_any_write) {
    auto d = disk("/img,raw,xvda,w");
    d.target = "/" + std::string(XENSTORE_PAYLOAD_MAX, 'a');
    auto n = vbd_nodes(d, 5, 0);
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.error().what.find("xvda"), std::string::npos);
}

class VbdStoreTest : public XenstoreTest {};

TEST_F(VbdStoreTest, applied_nodes_when_read_back_then_match_with_perms) {
    guest_with_home(5);
    auto n = nodes_for("/var/lib/xen/images/a.img,raw,xvda,w");
    ASSERT_EQ(apply_vbd_nodes(server, dom0.conn(), n), xenstore::XsErr::ok);
    for (const auto& w : n.writes) {
        EXPECT_EQ(dom0.read(w.path), w.value) << w.path;
    }
    EXPECT_EQ(dom0.get_perms(n.backend_path), "n0 r5");
    EXPECT_EQ(dom0.get_perms(n.backend_path + "/params"), "n0 r5");
    EXPECT_EQ(dom0.get_perms(n.frontend_path), "n5 r0");
    EXPECT_EQ(dom0.get_perms(n.frontend_path + "/state"), "n5 r0");
    EXPECT_EQ(dom0.get_perms(n.libxl_path + "/params"), "n0");
}

TEST_F(VbdStoreTest, guest_when_touching_its_backend_then_reads_but_cannot_write) {
    Client guest = guest_with_home(5);
    auto n = nodes_for("/img,raw,xvda,w");
    ASSERT_EQ(apply_vbd_nodes(server, dom0.conn(), n), xenstore::XsErr::ok);
    EXPECT_EQ(guest.read(n.backend_path + "/params"), "/img");
    EXPECT_EQ(guest.read(n.backend_path + "/state"), "1");
    EXPECT_EQ(guest.write(n.backend_path + "/mode", "w"), "EACCES");
    EXPECT_EQ(guest.write(n.backend_path + "/state", "4"), "EACCES");
    EXPECT_EQ(guest.rm(n.backend_path), "EACCES");
    EXPECT_EQ(guest.read(n.backend_path + "/mode"), "w");
    // Its own front-end directory is its to write (ring-ref, state, ...).
    EXPECT_EQ(guest.write(n.frontend_path + "/ring-ref", "8"), "ok");
    EXPECT_EQ(guest.write(n.frontend_path + "/state", "3"), "ok");
    // The toolstack's copy is not the guest's to see.
    EXPECT_EQ(guest.read(n.libxl_path + "/params"), "<EACCES>");
    // Another guest sees nothing of either side.
    Client other = guest_with_home(6);
    EXPECT_EQ(other.read(n.backend_path + "/params"), "<EACCES>");
    EXPECT_EQ(other.read(n.frontend_path + "/state"), "<EACCES>");
}

TEST_F(VbdStoreTest, driver_domain_backend_when_applied_then_owns_backend_and_reads_front) {
    Client guest = guest_with_home(5);
    Client driver = guest_with_home(3);
    auto n = nodes_for("/img,raw,xvda,w", 5, 3);
    ASSERT_EQ(apply_vbd_nodes(server, dom0.conn(), n), xenstore::XsErr::ok);
    EXPECT_EQ(driver.write(n.backend_path + "/state", "2"), "ok");
    EXPECT_EQ(driver.read(n.frontend_path + "/virtual-device"), "51712");
    EXPECT_EQ(driver.write(n.frontend_path + "/state", "6"), "EACCES");
    EXPECT_EQ(guest.read(n.backend_path + "/state"), "2");
}

TEST_F(VbdStoreTest, leftovers_when_applied_again_then_replaced) {
    guest_with_home(5);
    auto n = nodes_for("/img,raw,xvda,w");
    ASSERT_EQ(dom0.write(n.backend_path + "/stale", "x"), "ok");
    ASSERT_EQ(apply_vbd_nodes(server, dom0.conn(), n), xenstore::XsErr::ok);
    EXPECT_EQ(dom0.read(n.backend_path + "/stale"), "<ENOENT>");
}

TEST_F(VbdStoreTest, removal_when_done_then_nothing_of_the_device_remains) {
    guest_with_home(5);
    const std::size_t before = server.store().size();
    auto n = nodes_for("/img,raw,xvda,w");
    ASSERT_EQ(apply_vbd_nodes(server, dom0.conn(), n), xenstore::XsErr::ok);
    EXPECT_GT(server.store().size(), before);
    ASSERT_EQ(remove_vbd_nodes(server, dom0.conn(), n), xenstore::XsErr::ok);
    for (const auto& w : n.writes) EXPECT_EQ(dom0.read(w.path), "<ENOENT>") << w.path;
    // Emptied parents go (libxl__xs_path_cleanup), the domains' homes stay.
    EXPECT_EQ(dom0.read("/local/domain/0/backend"), "<ENOENT>");
    EXPECT_EQ(dom0.read("/local/domain/5/device"), "<ENOENT>");
    EXPECT_EQ(dom0.read("/libxl/5/device"), "<ENOENT>");
    EXPECT_EQ(dom0.read("/local/domain/5"), "");
    EXPECT_EQ(dom0.read("/local/domain/0"), "");
    EXPECT_EQ(dom0.read("/libxl/5"), "");
    EXPECT_EQ(server.store().size(), before + 3);  // /local/domain/0, /libxl, /libxl/5
}

TEST_F(VbdStoreTest, removal_when_other_disks_remain_then_they_are_untouched) {
    guest_with_home(5);
    auto a = nodes_for("/a,raw,xvda,w");
    auto b = nodes_for("/b,raw,xvdb,w");
    ASSERT_EQ(apply_vbd_nodes(server, dom0.conn(), a), xenstore::XsErr::ok);
    ASSERT_EQ(apply_vbd_nodes(server, dom0.conn(), b), xenstore::XsErr::ok);
    ASSERT_EQ(remove_vbd_nodes(server, dom0.conn(), a), xenstore::XsErr::ok);
    EXPECT_EQ(dom0.read(a.backend_path + "/params"), "<ENOENT>");
    EXPECT_EQ(dom0.read(b.backend_path + "/params"), "/b");
    EXPECT_EQ(dom0.read(b.frontend_path + "/virtual-device"), "51728");
    EXPECT_EQ(dom0.read(b.libxl_path + "/params"), "/b");
}

}  // namespace
}  // namespace xenolith::toolstack
