// VbdDevices against a real XenstoreService (its socket in a temp dir, so
// hotplug scripts reach it with Debian's xenstore-write) and the recording
// DeviceBackends: what is written, in which order, and that a failure at
// any step leaves nothing behind.
#include "toolstack/daemon/vbd_devices.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "xenstore/xenstore_service.hpp"

namespace xenolith::toolstack {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

config::DiskConfig disk(std::string_view spec) {
    config::DiskConfig d;
    config::SpecIssues issues;
    EXPECT_TRUE(config::parse_disk_spec(spec, d, issues))
        << spec << ": " << (issues.error ? issues.error->message : "");
    return d;
}

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
const std::string kFront = "/local/domain/5/device/vbd/51712";
const std::string kBack = "/local/domain/0/backend/vbd/5/51712";
const std::string kLibxl = "/libxl/5/device/vbd/51712";

class VbdDevicesTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vbd-devices-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        xenstore::ServiceOptions o;
        o.socket_path = dir_ + "/xenstored/socket";
        auto s = xenstore::XenstoreService::start(o, &rings_);
        ASSERT_TRUE(s.ok()) << s.error().what;
        store_ = std::move(*s);
        // The domain's home, as xenstore's domain_created leaves it.
        ASSERT_EQ(store_->write("/local/domain/5/name", "guest"), xenstore::XsErr::ok);
        devices_ = std::make_unique<VbdDevices>(
            *store_, backends_, VbdDevicesOptions{0, store_->socket_path(), 2000ms});
        image_ = dir_ + "/disk.img";
        std::ofstream(image_) << "x";
    }
    void TearDown() override {
        devices_.reset();
        if (store_) store_->stop();
        store_.reset();
        fs::remove_all(dir_);
    }

    bool exists(const std::string& path) { return store_->read(path).has_value(); }
    bool nothing_left() {
        // /libxl/5 itself goes with the domain (libxl__destroy_domid).
        return !exists("/local/domain/5/device") && !exists("/local/domain/0/backend") &&
               !exists("/libxl/5/device") && exists("/local/domain/5/name");
    }

    // A hotplug script that logs "<action> <env>" lines to `log` and then
    // runs `body` (sh).
    std::string script(const std::string& body) {
        const std::string path = dir_ + "/hotplug";
        std::ofstream f(path);
        f << "#!/bin/sh\n"
          << "echo \"$1 script=$script type=$XENBUS_TYPE path=$XENBUS_PATH base=$XENBUS_BASE_PATH\" >> "
          << dir_ << "/log\n"
          << body << "\n";
        f.close();
        ::chmod(path.c_str(), 0755);
        return path;
    }
    std::string log() { return read_file(dir_ + "/log"); }
    static bool have_xenstore_tools() { return ::access("/usr/bin/xenstore-write", X_OK) == 0; }

    std::string dir_, image_;
    NoRings rings_;
    std::unique_ptr<xenstore::XenstoreService> store_;
    RecordingDeviceBackends backends_;
    std::unique_ptr<VbdDevices> devices_;
};

TEST_F(VbdDevicesTest, attach_when_no_script_then_nodes_written_and_backend_started) {
    Credentials who{42, 1000, 1000, {27}};
    ASSERT_TRUE(devices_->attach(kDomid, disk(image_ + ",raw,xvda,w"), VbdOpen{who, {}}).ok());
    EXPECT_EQ(store_->read(kBack + "/params"), image_);
    EXPECT_EQ(store_->read(kBack + "/script"), "/etc/xen/scripts/block");  // written, not run
    EXPECT_EQ(store_->read(kFront + "/backend"), kBack);
    EXPECT_EQ(store_->read(kLibxl + "/frontend"), kFront);
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].what, "start_vbd");
    EXPECT_EQ(calls[0].domid, kDomid);
    EXPECT_EQ(calls[0].devid, 51712u);
    EXPECT_EQ(calls[0].backend_path, kBack);
    ASSERT_TRUE(calls[0].open.as.has_value());
    EXPECT_EQ(calls[0].open.as->uid, 1000u);
    EXPECT_FALSE(calls[0].open.physical_device.has_value());
    ASSERT_EQ(devices_->disks(kDomid).size(), 1u);
    EXPECT_EQ(devices_->disks(kDomid)[0].vdev, "xvda");
}

TEST_F(VbdDevicesTest, attach_when_vdev_taken_then_refused_and_first_untouched) {
    ASSERT_TRUE(devices_->attach(kDomid, disk(image_ + ",raw,xvda,w"), {}).ok());
    auto st = devices_->attach(kDomid, disk(image_ + ",raw,51712,r"), {});
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "disk '51712': device already exists in xenstore");
    EXPECT_EQ(store_->read(kBack + "/mode"), "w");
    EXPECT_EQ(backends_.calls().size(), 1u);
}

TEST_F(VbdDevicesTest, attach_when_backend_fails_then_nothing_left) {
    backends_.fail_start_of(51712);
    auto st = devices_->attach(kDomid, disk(image_ + ",raw,xvda,w"), {});
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "disk 'xvda': back-end failed to start");
    EXPECT_TRUE(nothing_left());
    EXPECT_TRUE(devices_->disks(kDomid).empty());
}

TEST_F(VbdDevicesTest, attach_when_config_has_a_place_then_error_names_it) {
    config::DiskConfig d = disk(image_ + ",raw,xvda,w");
    d.where = {"guest.cfg", 7, 10};
    backends_.fail_start_of(51712);
    auto st = devices_->attach(kDomid, d, {});
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "guest.cfg:7:10: disk 'xvda': back-end failed to start");
}

TEST_F(VbdDevicesTest, attach_all_when_second_fails_then_first_detached_too) {
    backends_.fail_start_of(51728);
    auto st = devices_->attach_all(
        kDomid, {disk(image_ + ",raw,xvda,w"), disk(image_ + ",raw,xvdb,r")}, {});
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(nothing_left());
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_EQ(calls[0].what, "start_vbd");
    EXPECT_EQ(calls[1].what, "start_vbd");
    EXPECT_EQ(calls[1].devid, 51728u);
    EXPECT_EQ(calls[2].what, "stop_all");
}

TEST_F(VbdDevicesTest, detach_then_backend_closed_stopped_and_nodes_removed) {
    ASSERT_TRUE(devices_->attach(kDomid, disk(image_ + ",raw,xvda,w"), {}).ok());
    EXPECT_FALSE(devices_->detach(kDomid, 51728));
    EXPECT_FALSE(devices_->detach(6, 51712));
    ASSERT_TRUE(devices_->detach(kDomid, 51712));
    EXPECT_TRUE(nothing_left());
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[1].what, "stop_vbd");
    EXPECT_EQ(calls[1].devid, 51712u);
    EXPECT_FALSE(devices_->detach(kDomid, 51712));  // once
}

TEST_F(VbdDevicesTest, detach_all_then_backends_stopped_before_nodes_go) {
    ASSERT_TRUE(devices_->attach(kDomid, disk(image_ + ",raw,xvda,w"), {}).ok());
    ASSERT_TRUE(devices_->attach(kDomid, disk(image_ + ",raw,xvdb,r"), {}).ok());
    ASSERT_TRUE(devices_->attach(6, disk(image_ + ",raw,xvda,r"), {}).ok());
    devices_->detach_all(kDomid);
    EXPECT_TRUE(!exists("/local/domain/5/device") && !exists("/libxl/5/device"));
    EXPECT_TRUE(exists("/local/domain/0/backend/vbd/6/51712"));  // the other domain's stays
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 4u);
    EXPECT_EQ(calls[3].what, "stop_all");
    EXPECT_EQ(calls[3].domid, kDomid);
    EXPECT_TRUE(devices_->disks(kDomid).empty());
    devices_->detach_all(kDomid);  // idempotent
    EXPECT_EQ(backends_.calls().size(), 4u);
}

TEST_F(VbdDevicesTest, attach_when_refused_by_vbd_nodes_then_libxl_message) {
    auto st = devices_->attach(kDomid, disk("backendtype=phy,format=qcow2,vdev=xvda,target=/x"), {});
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("Disk vdev=xvda: no suitable backend"), std::string::npos);
    EXPECT_TRUE(backends_.calls().empty());
}

TEST_F(VbdDevicesTest, script_add_when_connected_then_physical_device_passed_on) {
    if (!have_xenstore_tools()) GTEST_SKIP() << "no /usr/bin/xenstore-write";
    const std::string s = script(
        "if [ \"$1\" = add ]; then xenstore-write \"$XENBUS_PATH/physical-device\" fe:1 "
        "\"$XENBUS_PATH/hotplug-status\" connected; fi");
    ASSERT_TRUE(devices_->attach(kDomid, disk("script=" + s + ",vdev=xvda,target=iqn.x"), {}).ok());
    EXPECT_EQ(log(), "add script=" + s + " type=vbd path=backend/vbd/5/51712 base=backend\n");
    auto calls = backends_.calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].open.physical_device, "fe:1");
    ASSERT_TRUE(devices_->detach(kDomid, 51712));
    EXPECT_EQ(log(), "add script=" + s + " type=vbd path=backend/vbd/5/51712 base=backend\n"
                     "remove script=" + s + " type=vbd path=backend/vbd/5/51712 base=backend\n");
    EXPECT_TRUE(nothing_left());
}

TEST_F(VbdDevicesTest, script_add_when_it_fails_then_hotplug_error_reported_and_removed) {
    if (!have_xenstore_tools()) GTEST_SKIP() << "no /usr/bin/xenstore-write";
    const std::string s = script(
        "if [ \"$1\" = add ]; then xenstore-write \"$XENBUS_PATH/hotplug-error\" "
        "'/srv/x does not exist.' \"$XENBUS_PATH/hotplug-status\" error; exit 1; fi");
    auto st = devices_->attach(kDomid, disk("script=" + s + ",vdev=xvda,target=/srv/x"), {});
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "disk 'xvda': script: /srv/x does not exist.");
    EXPECT_NE(log().find("remove script="), std::string::npos);
    EXPECT_TRUE(backends_.calls().empty());
    EXPECT_TRUE(nothing_left());
}

TEST_F(VbdDevicesTest, script_add_when_no_hotplug_status_then_refused) {
    const std::string s = script("exit 0");
    auto st = devices_->attach(kDomid, disk("script=" + s + ",vdev=xvda,target=t"), {});
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "disk 'xvda': " + s + " add: hotplug-status is not set");
    EXPECT_TRUE(nothing_left());
}

TEST_F(VbdDevicesTest, script_add_when_it_hangs_then_killed_at_timeout) {
    devices_ = std::make_unique<VbdDevices>(*store_, backends_,
                                            VbdDevicesOptions{0, store_->socket_path(), 300ms});
    const std::string s = script("if [ \"$1\" = add ]; then sleep 30; fi");
    const auto t0 = std::chrono::steady_clock::now();
    auto st = devices_->attach(kDomid, disk("script=" + s + ",vdev=xvda,target=t"), {});
    ASSERT_FALSE(st.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_NE(st.error().what.find("timed out after 300 ms; killed"), std::string::npos)
        << st.error().what;
    EXPECT_NE(log().find("remove script="), std::string::npos);
    EXPECT_TRUE(nothing_left());
}

TEST_F(VbdDevicesTest, change_media_then_params_emptied_then_set_in_both_copies) {
    ASSERT_TRUE(devices_->attach(kDomid, disk(image_ + ",raw,hdc:cdrom,r"), {}).ok());
    const std::string be = "/local/domain/0/backend/vbd/5/5632";
    EXPECT_EQ(store_->read(be + "/params"), image_);
    config::DiskConfig media = disk("vdev=hdc,access=r,devtype=cdrom,target=/srv/new.iso");
    ASSERT_TRUE(devices_->change_media(kDomid, media).ok());
    EXPECT_EQ(store_->read(be + "/params"), "/srv/new.iso");
    EXPECT_EQ(store_->read("/libxl/5/device/vbd/5632/params"), "/srv/new.iso");
    EXPECT_EQ(devices_->disk(kDomid, 5632)->target, "/srv/new.iso");
    auto eject = devices_->change_media(kDomid, disk("vdev=hdc,access=r,devtype=cdrom,target="));
    ASSERT_TRUE(eject.ok()) << eject.error().what;
    EXPECT_EQ(store_->read(be + "/params"), "");
    auto st = devices_->change_media(kDomid, disk("vdev=hdd,access=r,devtype=cdrom,target="));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "Virtual device not found");
}

TEST_F(VbdDevicesTest, change_media_when_not_a_cdrom_then_not_found) {
    ASSERT_TRUE(devices_->attach(kDomid, disk(image_ + ",raw,hdc,r"), {}).ok());
    auto st = devices_->change_media(kDomid, disk("vdev=hdc,access=r,devtype=cdrom,target="));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "Virtual device not found");
}

// ---- the script runner on its own ---------------------------------------------

TEST(HotplugScriptTest, run_then_action_argument_and_environment_given) {
    char tmpl[] = "/tmp/hotplug-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl, path = dir + "/s", out = dir + "/out";
    std::ofstream(path) << "#!/bin/sh\necho \"$1 $FOO $XENBUS_PATH $(cat)\" > " << out << "\n";
    ::chmod(path.c_str(), 0755);
    ASSERT_TRUE(run_hotplug_script({path, "add", {{"FOO", "bar"}, {"XENBUS_PATH", "p"}}}).ok());
    EXPECT_EQ(read_file(out), "add bar p \n");  // stdin is /dev/null
    fs::remove_all(dir);
}

TEST(HotplugScriptTest, run_when_exit_status_or_missing_then_libxl_wording) {
    char tmpl[] = "/tmp/hotplug-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl, path = dir + "/s";
    std::ofstream(path) << "#!/bin/sh\nexit 3\n";
    ::chmod(path.c_str(), 0755);
    auto st = run_hotplug_script({path, "remove", {}});
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find(path + " remove ["), std::string::npos);
    EXPECT_NE(st.error().what.find("] exited with error status 3"), std::string::npos);
    auto missing = run_hotplug_script({dir + "/none", "add", {}});
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().what, dir + "/none add: cannot run: No such file or directory");
    fs::remove_all(dir);
}

TEST(HotplugScriptTest, vbd_env_then_relative_xenbus_path) {
    VbdNodes n;
    n.backend_domid = 0;
    n.backend_path = "/local/domain/0/backend/qdisk/7/51728";
    auto env = vbd_hotplug_env(n, "/etc/xen/scripts/block", "/run/x/socket");
    EXPECT_EQ(env, (Environment{{"script", "/etc/xen/scripts/block"},
                                {"XENBUS_TYPE", "qdisk"},
                                {"XENBUS_PATH", "backend/qdisk/7/51728"},
                                {"XENBUS_BASE_PATH", "backend"},
                                {"XENSTORED_PATH", "/run/x/socket"}}));
}

TEST(VifHotplugEnvTest, vif_when_built_then_libxl_env_with_vif_and_netdev) {
    config::NicConfig nic;
    nic.devid = 2;
    nic.mac = config::MacAddress{0, 0x16, 0x3e, 1, 2, 3};
    auto n = vif_nodes(nic, 7, 0);
    ASSERT_TRUE(n.ok());
    auto env = vif_hotplug_env(*n, "/etc/xen/scripts/vif-bridge", "eth1", "");
    EXPECT_EQ(env, (Environment{{"script", "/etc/xen/scripts/vif-bridge"},
                                {"XENBUS_TYPE", "vif"},
                                {"XENBUS_PATH", "backend/vif/7/2"},
                                {"XENBUS_BASE_PATH", "backend"},
                                {"netdev", "eth1"},
                                {"vif", "vif7.2"}}));
}

}  // namespace
}  // namespace xenolith::toolstack
