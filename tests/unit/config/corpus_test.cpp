// Realistic configs from the corpus directory: typed results and warnings.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.hpp"
#include "toolstack/config/json.hpp"

namespace xenolith::config {
namespace {

using Strings = std::vector<std::string>;

std::string read_corpus(const std::string& name) {
    std::ifstream f(std::string(XENOLITH_CONFIG_CORPUS) + "/" + name, std::ios::binary);
    EXPECT_TRUE(f.good()) << name;
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}


// Parsed with the bare file name as source, so messages do not depend on
// where the tree is checked out.
test::Built load(const std::string& name) { return test::build_ok(read_corpus(name), name); }

TEST(Corpus, PvhWithDirectKernelAndExtra) {
    auto b = load("pvh-direct-kernel.cfg");
    const DomainConfig& c = b.cfg;
    EXPECT_EQ(c.name, "deb12-web");
    EXPECT_EQ(c.type, DomainType::pvh);
    ASSERT_TRUE(c.uuid);
    EXPECT_EQ(c.uuid->str(), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    EXPECT_EQ(c.kernel, "/var/lib/xen/kernels/vmlinuz-6.1.0-18-amd64");
    EXPECT_EQ(c.ramdisk, "/var/lib/xen/kernels/initrd.img-6.1.0-18-amd64");
    EXPECT_EQ(c.cmdline, "root=/dev/xvda1 ro console=hvc0 earlyprintk=xen");
    EXPECT_EQ(c.memory_mib, 1024u);
    EXPECT_EQ(c.maxmem_mib, 2048u);
    EXPECT_EQ(c.vcpus, 2u);
    EXPECT_EQ(c.max_vcpus, 4u);
    ASSERT_TRUE(c.cpus);
    EXPECT_EQ(c.cpus->text, "2-5");
    EXPECT_EQ(c.on_crash, ShutdownAction::coredump_restart);
    // LVM volumes with the phy: prefix, positional vdev and access.
    ASSERT_EQ(c.disks.size(), 2u);
    EXPECT_EQ(c.disks[0].target, "/dev/vg0/deb12-web-root");
    EXPECT_EQ(c.disks[0].vdev, "xvda");
    EXPECT_EQ(c.disks[0].device_number, 51712u);
    EXPECT_EQ(c.disks[0].format, DiskFormat::raw);
    EXPECT_TRUE(c.disks[0].readwrite);
    EXPECT_FALSE(c.disks[0].is_cdrom);
    EXPECT_EQ(c.disks[0].where.line, 22u);
    EXPECT_EQ(c.disks[0].where.column, 11u);
    EXPECT_EQ(c.disks[1].target, "/dev/vg0/deb12-web-swap");
    EXPECT_EQ(c.disks[1].device_number, 51728u);
    EXPECT_EQ(c.disks[1].where.line, 23u);
    ASSERT_EQ(c.nics.size(), 1u);
    ASSERT_TRUE(c.nics[0].mac);
    EXPECT_EQ(to_string(*c.nics[0].mac), "00:16:3e:12:34:56");
    EXPECT_EQ(c.nics[0].bridge, "xenbr0");
    EXPECT_EQ(c.nics[0].devid, 0u);
    EXPECT_EQ(b.warnings,
              Strings{});
}

TEST(Corpus, PvhWithPygrub) {
    auto b = load("pvh-pygrub.cfg");
    EXPECT_EQ(b.cfg.name, "alpine");
    EXPECT_EQ(b.cfg.type, DomainType::pvh);
    EXPECT_FALSE(b.cfg.kernel);
    EXPECT_EQ(b.cfg.memory_mib, 512u);
    // key=value form with the target last.
    ASSERT_EQ(b.cfg.disks.size(), 1u);
    EXPECT_EQ(b.cfg.disks[0].target, "/srv/xen/alpine.img");
    EXPECT_EQ(b.cfg.disks[0].vdev, "xvda");
    EXPECT_TRUE(b.cfg.disks[0].readwrite);
    ASSERT_EQ(b.cfg.nics.size(), 1u);
    EXPECT_FALSE(b.cfg.nics[0].mac);  // chosen at attach time, as xl does
    EXPECT_EQ(b.cfg.nics[0].bridge, "xenbr0");
    EXPECT_EQ(b.warnings,
              (Strings{"pvh-pygrub.cfg:4: warning: 'bootloader' is not supported by xenolith yet; ignored"}));
}

TEST(Corpus, HvmFirewallWithPassthroughVncSerialUsb) {
    auto b = load("hvm-opnsense.cfg");
    EXPECT_EQ(b.cfg.name, "opnsense");
    EXPECT_EQ(b.cfg.type, DomainType::hvm);
    EXPECT_EQ(b.cfg.memory_mib, 4096u);
    EXPECT_EQ(b.cfg.vcpus, 4u);
    EXPECT_EQ(b.cfg.on_crash, ShutdownAction::preserve);
    ASSERT_EQ(b.cfg.disks.size(), 2u);
    EXPECT_EQ(b.cfg.disks[0].target, "/dev/vg0/opnsense");
    EXPECT_EQ(b.cfg.disks[0].device_number, 768u);  // hda: IDE major 3
    EXPECT_TRUE(b.cfg.disks[1].is_cdrom);
    EXPECT_TRUE(b.cfg.disks[1].removable);
    EXPECT_FALSE(b.cfg.disks[1].readwrite);
    EXPECT_EQ(b.cfg.disks[1].format, DiskFormat::raw);
    EXPECT_EQ(b.cfg.disks[1].device_number, 5632u);  // hdc: IDE major 22
    EXPECT_EQ(b.cfg.disks[1].where.line, 11u);
    const std::string w = "hvm-opnsense.cfg:";
    const std::string tail = " is not supported by xenolith yet; ignored";
    EXPECT_EQ(b.warnings, (Strings{w + "7: warning: 'pci'" + tail,
                                   w + "8: warning: 'pci_power_mgmt'" + tail,
                                   w + "12: warning: 'boot'" + tail,
                                   w + "14: warning: 'vnc'" + tail,
                                   w + "15: warning: 'vnclisten'" + tail,
                                   w + "16: warning: 'vncdisplay'" + tail,
                                   w + "17: warning: 'serial'" + tail,
                                   w + "18: warning: 'usb'" + tail,
                                   w + "19: warning: 'usbdevice'" + tail}));
}

TEST(Corpus, DriverDomain) {
    auto b = load("driver-domain.cfg");
    EXPECT_EQ(b.cfg.name, "Domain-1");
    EXPECT_EQ(b.cfg.cmdline, "root=/dev/xvda console=hvc0 rootfstype=ext4");
    EXPECT_EQ(b.cfg.max_grant_frames, 128u);
    EXPECT_EQ(b.cfg.max_maptrack_frames, 2048u);
    ASSERT_EQ(b.cfg.disks.size(), 1u);
    EXPECT_EQ(b.cfg.disks[0].target, "/dev/vg0/netdom");
    EXPECT_EQ(b.warnings,
              (Strings{"driver-domain.cfg:4: warning: 'driver_domain' is not supported by xenolith yet; ignored",
                       "driver-domain.cfg:10: warning: 'pci' is not supported by xenolith yet; ignored"}));
}

TEST(Corpus, GuestWithVifInDriverDomain) {
    auto b = load("vif-driver-backend.cfg");
    EXPECT_EQ(b.cfg.cmdline, "root=/dev/xvda ro console=hvc0");
    EXPECT_FALSE(b.cfg.root);
    EXPECT_EQ(b.cfg.memory_mib, 384u);
    EXPECT_EQ(b.cfg.max_event_channels, 2047u);
    ASSERT_EQ(b.cfg.nics.size(), 1u);
    EXPECT_EQ(b.cfg.nics[0].backend_domain, "Domain-1");
    EXPECT_EQ(b.cfg.nics[0].bridge, "br_lan");
    ASSERT_EQ(b.cfg.disks.size(), 1u);
    EXPECT_EQ(b.cfg.disks[0].target, "/srv/xen/lan-client.img");
    EXPECT_EQ(b.cfg.disks[0].format, DiskFormat::raw);
    EXPECT_EQ(b.cfg.disks[0].vdev, "xvda");
    EXPECT_EQ(b.warnings,
              Strings{});
    auto parsed = parse_config(read_corpus("vif-driver-backend.cfg"), "x");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->find("vif")->value.items.at(0).text, "backend=Domain-1, bridge=br_lan");
}

TEST(Corpus, XmEraFile) {
    auto b = load("xm-era.cfg");
    EXPECT_EQ(b.cfg.name, "legacy");
    EXPECT_EQ(b.cfg.type, DomainType::pv);  // no type=: xl's x86 default
    EXPECT_EQ(b.cfg.cmdline, "root=/dev/sda1 ro 4");
    EXPECT_EQ(b.cfg.on_crash, ShutdownAction::restart);
    // sda1 is SCSI disk 0 partition 1: 8 << 8 | 1.
    ASSERT_EQ(b.cfg.disks.size(), 1u);
    EXPECT_EQ(b.cfg.disks[0].device_number, 2049u);
    ASSERT_EQ(b.cfg.nics.size(), 1u);
    EXPECT_EQ(to_string(*b.cfg.nics[0].mac), "00:16:3e:00:00:01");
    EXPECT_EQ(b.cfg.nics[0].bridge, "xenbr0");  // " bridge=": the space after the comma is dropped
    const std::string ip_hint =
        "xm built the kernel's ip= argument from it; put ip=... into extra= instead";
    EXPECT_EQ(b.warnings,
              (Strings{"xm-era.cfg:11: warning: 'nics' is not an xl.cfg key (xl creates one network "
                       "interface per vif= entry); ignored",
                       "xm-era.cfg:13: warning: 'ip' is not an xl.cfg key (" + ip_hint + "); ignored",
                       "xm-era.cfg:14: warning: 'netmask' is not an xl.cfg key (" + ip_hint + "); ignored",
                       "xm-era.cfg:15: warning: 'gateway' is not an xl.cfg key (" + ip_hint + "); ignored",
                       "xm-era.cfg:16: warning: 'hostname' is not an xl.cfg key (" + ip_hint + "); ignored"}));
}

TEST(Corpus, HvmWithQcow2EmptyCdromAndRateLimitedE1000) {
    auto b = load("hvm-windows.cfg");
    const DomainConfig& c = b.cfg;
    EXPECT_EQ(c.type, DomainType::hvm);
    ASSERT_EQ(c.disks.size(), 3u);
    EXPECT_EQ(c.disks[0].format, DiskFormat::qcow2);
    EXPECT_EQ(c.disks[0].target, "/var/lib/xen/images/win11.qcow2");
    EXPECT_EQ(c.disks[1].format, DiskFormat::raw);
    EXPECT_EQ(c.disks[1].target, "/var/lib/xen/images/win11-data.img");
    EXPECT_EQ(c.disks[1].vdev, "hdb");
    EXPECT_TRUE(c.disks[2].is_cdrom);
    EXPECT_EQ(c.disks[2].target, "");  // target= with nothing: an empty drive
    EXPECT_EQ(c.disks[2].format, DiskFormat::empty);
    ASSERT_EQ(c.nics.size(), 1u);
    const NicConfig& n = c.nics[0];
    EXPECT_EQ(n.type, NicType::vif_ioemu);
    EXPECT_EQ(n.model, "e1000");
    EXPECT_EQ(n.mtu, 9000u);
    ASSERT_TRUE(n.rate);
    // 100 Mbit/s is 12.5 MB/s; 20 ms of it is 250,000 bytes.
    EXPECT_EQ(n.rate->bytes_per_interval, 250000u);
    EXPECT_EQ(n.rate->interval_usecs, 20000u);
    EXPECT_EQ(b.warnings,
              (Strings{"hvm-windows.cfg:13: warning: 'boot' is not supported by xenolith yet; ignored",
                       "hvm-windows.cfg:14: warning: 'vnc' is not supported by xenolith yet; ignored"}));
    const auto j = to_json(c);
    EXPECT_EQ(j["disks"], nlohmann::json::parse(
              R"([{"pdev_path":"/var/lib/xen/images/win11.qcow2","vdev":"hda","format":"qcow2","readwrite":1},)"
              R"({"pdev_path":"/var/lib/xen/images/win11-data.img","vdev":"hdb","format":"raw","readwrite":1},)"
              R"({"pdev_path":"","vdev":"hdc","format":"empty","removable":1,"is_cdrom":1}])"));
    EXPECT_EQ(j["nics"], nlohmann::json::parse(
              R"([{"devid":0,"mtu":9000,"model":"e1000","mac":"00:16:3e:5a:11:01","bridge":"xenbr0",)"
              R"("nictype":"vif_ioemu","rate_bytes_per_interval":250000,"rate_interval_usecs":20000}])"));
}

TEST(Corpus, XendEraDeviceLines) {
    auto b = load("xm-legacy-devices.cfg");
    const DomainConfig& c = b.cfg;
    ASSERT_EQ(c.disks.size(), 4u);
    EXPECT_EQ(c.disks[0].target, "/srv/xen/oldbox/disk.img");  // tap:aio: dropped
    EXPECT_EQ(c.disks[0].vdev, "xvda1");
    EXPECT_EQ(c.disks[0].device_number, (202u << 8) | 1u);
    EXPECT_EQ(c.disks[1].target, "/srv/xen/oldbox/swap.img");
    EXPECT_EQ(c.disks[1].device_number, (202u << 8) | 2u);
    // ",hdc:cdrom,r": xend's empty cdrom.
    EXPECT_TRUE(c.disks[2].is_cdrom);
    EXPECT_EQ(c.disks[2].target, "");
    EXPECT_EQ(c.disks[2].vdev, "hdc");
    EXPECT_EQ(c.disks[2].format, DiskFormat::empty);
    EXPECT_EQ(c.disks[2].where.line, 9u);
    EXPECT_EQ(c.disks[3].target, "vg0/oldbox-data");  // libxl puts /dev/ in front at attach
    EXPECT_FALSE(c.disks[3].readwrite);
    ASSERT_EQ(c.nics.size(), 2u);
    EXPECT_EQ(c.nics[0].ip, "192.0.2.10");
    EXPECT_EQ(c.nics[0].ifname, "vif-oldbox");
    EXPECT_EQ(c.nics[0].devid, 0u);
    EXPECT_EQ(c.nics[1].devid, 1u);
    EXPECT_EQ(c.nics[1].bridge, "xenbr1");
    EXPECT_EQ(c.nics[1].script, "vif-bridge");
    ASSERT_TRUE(c.nics[1].rate);
    EXPECT_EQ(c.nics[1].rate->bytes_per_interval, 500000u);  // 10 MB/s for the default 50 ms
    EXPECT_EQ(c.nics[1].rate->interval_usecs, 50000u);
    EXPECT_EQ(b.warnings, Strings{});
}

TEST(Corpus, VnumaListOfLists) {
    auto b = load("vnuma.cfg");
    EXPECT_EQ(b.cfg.vcpus, 4u);
    EXPECT_EQ(b.warnings,
              Strings{"vnuma.cfg:7: warning: 'vnuma' is not supported by xenolith yet; ignored"});
}

TEST(Corpus, OverridesOnTopOfAFile) {
    auto parsed = parse_config(read_corpus("pvh-direct-kernel.cfg"), "pvh-direct-kernel.cfg");
    ASSERT_TRUE(parsed.ok());
    ASSERT_TRUE(apply_override(*parsed, "memory=1536").ok());
    ASSERT_TRUE(apply_override(*parsed, "extra+=' single'").ok());
    ASSERT_TRUE(apply_override(*parsed, "name=\"deb12-rescue\"").ok());
    std::vector<Warning> ws;
    auto c = build_domain_config(*parsed, ws);
    ASSERT_TRUE(c.ok()) << c.error().what;
    EXPECT_EQ(c->name, "deb12-rescue");
    EXPECT_EQ(c->memory_mib, 1536u);
    EXPECT_EQ(c->maxmem_mib, 2048u);
    EXPECT_EQ(c->cmdline, "root=/dev/xvda1 ro console=hvc0 earlyprintk=xen single");
}

TEST(Corpus, EveryFileParsesAndProducesJson) {
    for (const char* name : {"pvh-direct-kernel.cfg", "pvh-pygrub.cfg", "hvm-opnsense.cfg",
                             "driver-domain.cfg", "vif-driver-backend.cfg", "xm-era.cfg",
                             "vnuma.cfg", "hvm-windows.cfg", "xm-legacy-devices.cfg"}) {
        auto r = parse_config_file(std::string(XENOLITH_CONFIG_CORPUS) + "/" + name);
        ASSERT_TRUE(r.ok()) << r.error().what;
        std::vector<Warning> ws;
        auto c = build_domain_config(*r, ws);
        ASSERT_TRUE(c.ok()) << c.error().what;
        EXPECT_NO_THROW((void)to_libxl_json(*c)) << name;
    }
}

}  // namespace
}  // namespace xenolith::config
