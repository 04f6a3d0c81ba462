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
    EXPECT_EQ(b.warnings,
              (Strings{"pvh-direct-kernel.cfg:22: warning: 'disk' is not supported by xenolith yet; ignored",
                       "pvh-direct-kernel.cfg:24: warning: 'vif' is not supported by xenolith yet; ignored"}));
}

TEST(Corpus, PvhWithPygrub) {
    auto b = load("pvh-pygrub.cfg");
    EXPECT_EQ(b.cfg.name, "alpine");
    EXPECT_EQ(b.cfg.type, DomainType::pvh);
    EXPECT_FALSE(b.cfg.kernel);
    EXPECT_EQ(b.cfg.memory_mib, 512u);
    EXPECT_EQ(b.warnings,
              (Strings{"pvh-pygrub.cfg:4: warning: 'bootloader' is not supported by xenolith yet; ignored",
                       "pvh-pygrub.cfg:7: warning: 'disk' is not supported by xenolith yet; ignored",
                       "pvh-pygrub.cfg:8: warning: 'vif' is not supported by xenolith yet; ignored"}));
}

TEST(Corpus, HvmFirewallWithPassthroughVncSerialUsb) {
    auto b = load("hvm-opnsense.cfg");
    EXPECT_EQ(b.cfg.name, "opnsense");
    EXPECT_EQ(b.cfg.type, DomainType::hvm);
    EXPECT_EQ(b.cfg.memory_mib, 4096u);
    EXPECT_EQ(b.cfg.vcpus, 4u);
    EXPECT_EQ(b.cfg.on_crash, ShutdownAction::preserve);
    const std::string w = "hvm-opnsense.cfg:";
    const std::string tail = " is not supported by xenolith yet; ignored";
    EXPECT_EQ(b.warnings, (Strings{w + "7: warning: 'pci'" + tail,
                                   w + "8: warning: 'pci_power_mgmt'" + tail,
                                   w + "10: warning: 'disk'" + tail,
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
    EXPECT_EQ(b.warnings,
              (Strings{"driver-domain.cfg:4: warning: 'driver_domain' is not supported by xenolith yet; ignored",
                       "driver-domain.cfg:10: warning: 'pci' is not supported by xenolith yet; ignored",
                       "driver-domain.cfg:11: warning: 'disk' is not supported by xenolith yet; ignored"}));
}

TEST(Corpus, GuestWithVifInDriverDomain) {
    auto b = load("vif-driver-backend.cfg");
    EXPECT_EQ(b.cfg.cmdline, "root=/dev/xvda ro console=hvc0");
    EXPECT_FALSE(b.cfg.root);
    EXPECT_EQ(b.cfg.memory_mib, 384u);
    EXPECT_EQ(b.cfg.max_event_channels, 2047u);
    EXPECT_EQ(b.warnings,
              (Strings{"vif-driver-backend.cfg:7: warning: 'vif' is not supported by xenolith yet; ignored",
                       "vif-driver-backend.cfg:8: warning: 'disk' is not supported by xenolith yet; ignored"}));
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
    const std::string ip_hint =
        "xm built the kernel's ip= argument from it; put ip=... into extra= instead";
    EXPECT_EQ(b.warnings,
              (Strings{"xm-era.cfg:11: warning: 'nics' is not an xl.cfg key (xl creates one network "
                       "interface per vif= entry); ignored",
                       "xm-era.cfg:12: warning: 'vif' is not supported by xenolith yet; ignored",
                       "xm-era.cfg:13: warning: 'ip' is not an xl.cfg key (" + ip_hint + "); ignored",
                       "xm-era.cfg:14: warning: 'netmask' is not an xl.cfg key (" + ip_hint + "); ignored",
                       "xm-era.cfg:15: warning: 'gateway' is not an xl.cfg key (" + ip_hint + "); ignored",
                       "xm-era.cfg:16: warning: 'hostname' is not an xl.cfg key (" + ip_hint + "); ignored",
                       "xm-era.cfg:17: warning: 'disk' is not supported by xenolith yet; ignored"}));
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
                             "vnuma.cfg"}) {
        auto r = parse_config_file(std::string(XENOLITH_CONFIG_CORPUS) + "/" + name);
        ASSERT_TRUE(r.ok()) << r.error().what;
        std::vector<Warning> ws;
        auto c = build_domain_config(*r, ws);
        ASSERT_TRUE(c.ok()) << c.error().what;
        EXPECT_NO_THROW((void)to_ordered_json(*c).dump()) << name;
    }
}

}  // namespace
}  // namespace xenolith::config
