// VifDevices against a real XenstoreService (scripts reach it with Debian's
// xenstore-write), the recording DeviceBackends, real TAP devices and real
// hotplug scripts (a fake one, and Xen's vif-bridge from dist/scripts). The
// test process moves into a network namespace of its own first (and a
// mount namespace whose /sys shows it), so no TAP or bridge it makes is
// ever seen by the host.
#include "toolstack/daemon/vif_devices.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "toolstack/daemon/vif_tap.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::toolstack {
namespace vif_devices_test {  // named: the tests compile as unity batches

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class NoRings final : public xenstore::RingHost {
public:
    xenstore::XsResult<xenstore::RingBinding> connect(domid_t, std::int64_t, evtchn_port_t,
                                                      std::function<void()>) override {
        return xenstore::XsErr::inval;
    }
};

constexpr domid_t kDomid = 5;
const std::string kBack = "/local/domain/0/backend/vif/5/0";
const std::string kFront = "/local/domain/5/device/vif/0";
const std::string kLibxl = "/libxl/5/device/vif/0";

config::NicConfig nic(std::uint32_t devid, std::string_view spec = "") {
    config::NicConfig n;
    n.devid = devid;
    bool devid_given = false;
    std::size_t bridge_offset = 0;
    config::SpecIssues issues;
    EXPECT_TRUE(config::parse_nic_spec(spec, n, devid_given, bridge_offset, issues))
        << spec << ": " << (issues.error ? issues.error->message : "");
    return n;
}

class VifDevicesTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // This thread (and the threads and scripts it starts) gets a
        // network namespace of its own: the TAPs made here never reach the host.
        own_netns_ = ::unshare(CLONE_NEWNET) == 0;
        // /sys/class/net of this namespace, for the scripts (as ip netns exec).
        own_sysfs_ = own_netns_ && ::unshare(CLONE_NEWNS) == 0 &&
                     ::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) == 0 &&
                     ::umount2("/sys", MNT_DETACH) == 0 &&
                     ::mount("sysfs", "/sys", "sysfs", 0, nullptr) == 0;
    }

    void SetUp() override {
        if (!own_netns_) GTEST_SKIP() << "needs CAP_SYS_ADMIN for a network namespace";
        if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
        if (::access("/usr/bin/xenstore-write", X_OK) != 0)
            GTEST_SKIP() << "no xenstore-write (Debian's xen-utils)";
        char tmpl[] = "/tmp/vif-devices-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        xenstore::ServiceOptions o;
        o.socket_path = dir_ + "/xenstored/socket";
        auto s = xenstore::XenstoreService::start(o, &rings_);
        ASSERT_TRUE(s.ok()) << s.error().what;
        store_ = std::move(*s);
        ASSERT_EQ(store_->write("/local/domain/5/name", "guest"), xenstore::XsErr::ok);
        ASSERT_EQ(store_->write("/local/domain/6/name", "other"), xenstore::XsErr::ok);
        make(true);
    }
    void TearDown() override {
        if (devices_) {
            devices_->detach_all(kDomid);
            devices_->detach_all(6);
        }
        devices_.reset();
        if (store_) store_->stop();
        store_.reset();
        if (!dir_.empty()) fs::remove_all(dir_);
    }

    void make(bool run_scripts, std::chrono::milliseconds timeout = 5000ms) {
        VifDevicesOptions o;
        o.xenstore_socket = store_->socket_path();
        o.hotplug_timeout = timeout;
        o.queues = 2;
        o.run_hotplug_scripts = run_scripts;
        o.defaults.script = script("xenstore-write \"$XENBUS_PATH/hotplug-status\" connected");
        o.make_mac = [] { return config::MacAddress{0x00, 0x16, 0x3e, 0x00, 0x00, 0x42}; };
        devices_ = std::make_unique<VifDevices>(*store_, backends_, o);
    }

    bool exists(const std::string& path) { return store_->read(path).has_value(); }
    bool nothing_left() {
        return !exists("/local/domain/5/device") && !exists("/local/domain/0/backend/vif/5") &&
               !exists("/libxl/5/device") && !host_interface_exists("vif5.0") &&
               backends_.tap_fds_held(kDomid) == 0;
    }

    // A vif script that logs "<action> vif=<if> path=<XENBUS_PATH>
    // link=<present|absent>" to `log`, then runs `body` (sh).
    std::string script(const std::string& body, const std::string& name = "vif-test") {
        const std::string path = dir_ + "/" + name;
        std::ofstream f(path);
        f << "#!/bin/sh\n"
          << "if ip link show dev \"$vif\" >/dev/null 2>&1; then link=present; else link=absent; fi\n"
          << "echo \"$1 vif=$vif path=$XENBUS_PATH type=$XENBUS_TYPE netdev=$netdev link=$link\" >> "
          << dir_ << "/log\n"
          << body << "\n";
        f.close();
        ::chmod(path.c_str(), 0755);
        return path;
    }
    std::string log() { return read_file(dir_ + "/log"); }

    static inline bool own_netns_ = false;
    static inline bool own_sysfs_ = false;
    std::string dir_;
    NoRings rings_;
    std::unique_ptr<xenstore::XenstoreService> store_;
    RecordingDeviceBackends backends_;
    std::unique_ptr<VifDevices> devices_;
};

TEST_F(VifDevicesTest, attach_then_nodes_tap_script_online_and_backend_with_queue_fds) {
    auto r = devices_->attach(kDomid, nic(0, "bridge=br0,gatewaydev=eth9"));
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(config::to_string(*r->mac), "00:16:3e:00:00:42");
    EXPECT_EQ(store_->read(kBack + "/hotplug-status"), "connected");
    EXPECT_EQ(store_->read(kBack + "/bridge"), "br0");
    EXPECT_EQ(store_->read(kFront + "/backend"), kBack);
    EXPECT_EQ(store_->read(kLibxl + "/frontend"), kFront);
    EXPECT_TRUE(host_interface_exists("vif5.0"));
    EXPECT_EQ(log(), "online vif=vif5.0 path=backend/vif/5/0 type=vif netdev=eth9 link=present\n");
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].what, "start_vif");
    EXPECT_EQ(calls[0].backend_path, kBack);
    EXPECT_EQ(calls[0].taps, 2u);
    ASSERT_EQ(devices_->nics(kDomid).size(), 1u);
    EXPECT_EQ(devices_->ifname(kDomid, 0), "vif5.0");
}

TEST_F(VifDevicesTest, detach_then_backend_stopped_script_offline_with_link_then_tap_gone) {
    ASSERT_TRUE(devices_->attach(kDomid, nic(0)).ok());
    EXPECT_FALSE(devices_->detach(kDomid, 1));
    ASSERT_TRUE(devices_->detach(kDomid, 0));
    // The back-end let go first; the toolstack's fd kept the interface for
    // the script, and closing it took the interface away.
    EXPECT_EQ(log(),
              "online vif=vif5.0 path=backend/vif/5/0 type=vif netdev= link=present\n"
              "offline vif=vif5.0 path=backend/vif/5/0 type=vif netdev= link=present\n");
    EXPECT_TRUE(nothing_left());
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[1].what, "stop_vif");
    EXPECT_FALSE(devices_->detach(kDomid, 0));
}

TEST_F(VifDevicesTest, attach_with_vifname_then_tap_has_that_name) {
    ASSERT_TRUE(devices_->attach(kDomid, nic(0, "vifname=web0")).ok());
    EXPECT_TRUE(host_interface_exists("web0"));
    EXPECT_FALSE(host_interface_exists("vif5.0"));
    EXPECT_EQ(store_->read(kBack + "/vifname"), "web0");
    EXPECT_NE(log().find("online vif=web0 "), std::string::npos);
    devices_->detach_all(kDomid);
    EXPECT_FALSE(host_interface_exists("web0"));
}

TEST_F(VifDevicesTest, attach_when_script_fails_then_its_hotplug_error_and_nothing_left) {
    const std::string s = script(
        "xenstore-write \"$XENBUS_PATH/hotplug-error\" \"bridge br9 does not exist\" "
        "\"$XENBUS_PATH/hotplug-status\" error\nexit 1",
        "vif-broken");
    auto r = devices_->attach(kDomid, nic(0, "script=" + s));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "vif 0: " + s + " online: bridge br9 does not exist");
    EXPECT_TRUE(nothing_left());
    EXPECT_NE(log().find("offline vif=vif5.0"), std::string::npos);  // undone by the script too
    EXPECT_TRUE(backends_.calls().empty());
    EXPECT_TRUE(devices_->nics(kDomid).empty());
}

TEST_F(VifDevicesTest, attach_when_script_exits_zero_without_status_then_refused) {
    const std::string s = script("exit 0", "vif-silent");
    make(true, 500ms);
    auto r = devices_->attach(kDomid, nic(0, "script=" + s));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "vif 0: " + s + " online: hotplug-status is not set");
    EXPECT_TRUE(nothing_left());
}

TEST_F(VifDevicesTest, attach_when_script_hangs_then_killed_at_timeout_and_nothing_left) {
    const std::string s = script("exec sleep 30", "vif-hang");
    make(true, 300ms);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = devices_->attach(kDomid, nic(0, "script=" + s));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("timed out after 300 ms; killed"), std::string::npos)
        << r.error().what;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    EXPECT_TRUE(nothing_left());
}

TEST_F(VifDevicesTest, attach_when_backend_fails_then_script_offline_and_nothing_left) {
    backends_.fail_start_of(0);
    auto r = devices_->attach(kDomid, nic(0));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "vif 0: back-end failed to start");
    EXPECT_NE(log().find("offline"), std::string::npos);
    EXPECT_TRUE(nothing_left());
}

TEST_F(VifDevicesTest, attach_when_config_has_a_place_then_error_names_it) {
    config::NicConfig n = nic(1, "backend=Domain-1");
    n.where = {"guest.cfg", 3, 7};
    auto r = devices_->attach(kDomid, n);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what,
              "guest.cfg:3:7: vif 1: backend 'Domain-1': only domain 0 serves network devices "
              "in xenolith (driver domains are not supported)");
    config::NicConfig pv = nic(2, "type=ioemu");
    pv.where = {"guest.cfg", 4, 7};
    r = devices_->attach(kDomid, pv);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "guest.cfg:4:7: vif 2: trying to create PV or PVH guest with an "
                              "emulated interface");
    EXPECT_TRUE(nothing_left());
    EXPECT_TRUE(devices_->attach(kDomid, nic(3, "backend=Domain-0")).ok());
}

TEST_F(VifDevicesTest, attach_when_vifname_taken_by_another_vif_then_refused_first_untouched) {
    ASSERT_TRUE(devices_->attach(6, nic(0, "vifname=web0")).ok());
    auto r = devices_->attach(kDomid, nic(0, "vifname=web0"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "vif 0: interface name 'web0' is already vif 0 of domain 6");
    EXPECT_TRUE(nothing_left());
    EXPECT_TRUE(host_interface_exists("web0"));
    EXPECT_EQ(backends_.tap_fds_held(6), 2u);
}

TEST_F(VifDevicesTest, attach_when_host_has_the_interface_then_refused_not_joined) {
    auto squatter = create_vif_tap("web1", 1);  // someone else's TAP
    ASSERT_TRUE(squatter.ok()) << squatter.error().what;
    auto r = devices_->attach(kDomid, nic(0, "vifname=web1"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "vif 0: tap web1: an interface of that name already exists on "
                              "this host");
    EXPECT_TRUE(nothing_left());
    EXPECT_TRUE(backends_.calls().empty());
}

TEST_F(VifDevicesTest, attach_when_default_name_too_long_then_refused_before_anything) {
    auto r = devices_->attach(kDomid, nic(1234567890));
    ASSERT_TRUE(r.ok()) << r.error().what;  // vif5.1234567890: 15 characters
    EXPECT_TRUE(host_interface_exists("vif5.1234567890"));
    r = devices_->attach(32000, nic(1234567));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "vif 1234567: its host interface name 'vif32000.1234567' is 16 "
                              "characters; Linux allows 1 to 15 (give it a shorter vifname=)");
    EXPECT_FALSE(exists("/local/domain/0/backend/vif/32000"));
}

TEST_F(VifDevicesTest, attach_when_devid_taken_then_refused) {
    ASSERT_TRUE(devices_->attach(kDomid, nic(0)).ok());
    auto r = devices_->attach(kDomid, nic(0, "vifname=other0"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "vif 0: device already exists in xenstore");
    EXPECT_FALSE(host_interface_exists("other0"));
}

TEST_F(VifDevicesTest, hotplug_without_devid_then_next_free_one) {
    ASSERT_TRUE(devices_->attach(kDomid, nic(0)).ok());
    ASSERT_TRUE(devices_->attach(kDomid, nic(3)).ok());
    config::NicConfig n = nic(0);
    auto r = devices_->hotplug(kDomid, n, false);
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(r->devid, 4u);
    EXPECT_EQ(n.devid, 4u);
    EXPECT_TRUE(host_interface_exists("vif5.4"));
    EXPECT_EQ(devices_->devid_of_mac(kDomid, *r->mac), 0u);  // the first with that MAC
}

TEST_F(VifDevicesTest, attach_all_when_second_fails_then_first_detached_too) {
    backends_.fail_start_of(1);
    auto st = devices_->attach_all(kDomid, {nic(0), nic(1)});
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "vif 1: back-end failed to start");
    EXPECT_TRUE(nothing_left());
    EXPECT_FALSE(host_interface_exists("vif5.1"));
}

TEST_F(VifDevicesTest, detach_all_then_newest_first_other_domain_untouched) {
    ASSERT_TRUE(devices_->attach(kDomid, nic(0)).ok());
    ASSERT_TRUE(devices_->attach(kDomid, nic(1)).ok());
    ASSERT_TRUE(devices_->attach(6, nic(0)).ok());
    devices_->detach_all(kDomid);
    EXPECT_TRUE(nothing_left());
    EXPECT_TRUE(host_interface_exists("vif6.0"));
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 5u);
    EXPECT_EQ(calls[3].what, "stop_vif");
    EXPECT_EQ(calls[3].devid, 1u);
    EXPECT_EQ(calls[4].devid, 0u);
}

TEST_F(VifDevicesTest, run_hotplug_scripts_off_then_no_script_and_status_connected) {
    make(false);
    ASSERT_TRUE(devices_->attach(kDomid, nic(0)).ok());
    EXPECT_EQ(log(), "");
    EXPECT_EQ(store_->read(kBack + "/hotplug-status"), "connected");
    EXPECT_TRUE(host_interface_exists("vif5.0"));
    ASSERT_TRUE(devices_->detach(kDomid, 0));
    EXPECT_EQ(log(), "");
    EXPECT_TRUE(nothing_left());
}

TEST_F(VifDevicesTest, defaults_fill_only_what_vif_left_out) {
    devices_->set_defaults(VifDefaults{std::nullopt, "xlbr", std::nullopt, "eth7"}, true);
    // set_defaults replaced the script default too: the vif names its own.
    const std::string s = script("xenstore-write \"$XENBUS_PATH/hotplug-status\" connected",
                                 "vif-own");
    ASSERT_TRUE(devices_->attach(kDomid, nic(0, "script=" + s)).ok());
    ASSERT_TRUE(devices_->attach(kDomid, nic(1, "script=" + s + ",bridge=mine")).ok());
    EXPECT_EQ(store_->read(kBack + "/bridge"), "xlbr");
    EXPECT_EQ(store_->read(kBack + "/gatewaydev"), "eth7");
    EXPECT_EQ(store_->read("/local/domain/0/backend/vif/5/1/bridge"), "mine");
    devices_->set_defaults(VifDefaults{std::nullopt, std::nullopt, "Domain-2", std::nullopt}, true);
    auto r = devices_->attach(kDomid, nic(2, "script=" + s));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("backend 'Domain-2'"), std::string::npos);
}

// Xen's own vif-bridge (dist/scripts) through VifDevices: the TAP joins the
// bridge named in xenstore at online and leaves it at offline.
TEST_F(VifDevicesTest, vif_bridge_script_then_tap_enslaved_then_released) {
    if (!own_sysfs_) GTEST_SKIP() << "needs a mount namespace for /sys";
    const std::string scripts = dir_ + "/scripts";
    fs::copy(XENOLITH_DIST_SCRIPTS, scripts);
    ::setenv("XEN_LOCK_DIR", (dir_ + "/locks").c_str(), 1);
    ::setenv("XEN_HOTPLUG_LOG", (dir_ + "/hotplug.log").c_str(), 1);
    ASSERT_EQ(std::system("ip link add xtbr0 type bridge && ip link set xtbr0 up"), 0);
    devices_->set_defaults(VifDefaults{scripts + "/vif-bridge", "xtbr0", std::nullopt,
                                       std::nullopt},
                           true);
    auto r = devices_->attach(kDomid, nic(0));
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(store_->read(kBack + "/hotplug-status"), "connected");
    EXPECT_EQ(std::system("ip -o link show dev vif5.0 | grep -q ' master xtbr0 '"), 0);
    ASSERT_TRUE(devices_->detach(kDomid, 0));
    EXPECT_TRUE(nothing_left());
    EXPECT_NE(std::system("ip -o link show master xtbr0 | grep -q ."), 0);  // no port left
    // A bridge that is not there: the script's own message, nothing left.
    devices_->set_defaults(VifDefaults{scripts + "/vif-bridge", "nosuchbr", std::nullopt,
                                       std::nullopt},
                           true);
    r = devices_->attach(kDomid, nic(0));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("Could not find bridge device nosuchbr"), std::string::npos)
        << r.error().what;
    EXPECT_TRUE(nothing_left());
    (void)std::system("ip link del xtbr0");
}

TEST(VifTapTest, queue_count_is_one_per_cpu_at_most_eight) {
    const unsigned n = vif_queue_count();
    EXPECT_GE(n, 1u);
    EXPECT_LE(n, 8u);
    EXPECT_EQ(n, std::min<unsigned>(8, static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN))));
}

TEST(VifDefaultsTest, from_xl_conf) {
    auto conf = config::parse_xl_conf("vif.default.script=\"vif-route\"\n"
                                      "vif.default.bridge=\"br1\"\n"
                                      "vif.default.gatewaydev=\"eth2\"\n",
                                      "xl.conf");
    ASSERT_TRUE(conf.ok()) << conf.error().what;
    const VifDefaults d = vif_defaults(*conf);
    EXPECT_EQ(d.script, "vif-route");
    EXPECT_EQ(d.bridge, "br1");
    EXPECT_EQ(d.gatewaydev, "eth2");
    EXPECT_FALSE(d.backend);
    config::NicConfig n;
    n.bridge = "own";
    n = with_vif_defaults(n, d);
    EXPECT_EQ(n.bridge, "own");
    EXPECT_EQ(n.script, "vif-route");
}

}  // namespace vif_devices_test
}  // namespace xenolith::toolstack
