// The Toolstack's half of disks without a guest (no KVM here): a create
// whose build fails attaches nothing, destroy of a domid nobody has
// detaches nothing, and block-attach/-detach reach the back-ends and
// xenstore through the Toolstack.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include "domain/domain_table.hpp"
#include "domain/hypervisor_log.hpp"
#include "domain/timer_service.hpp"
#include "kvm/kvm_system.hpp"
#include "toolstack/daemon/toolstack.hpp"
#include "toolstack/daemon/vif_tap.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::toolstack {
namespace {

config::DiskConfig devices_disk(std::string_view spec) {
    config::DiskConfig d;
    config::SpecIssues issues;
    EXPECT_TRUE(config::parse_disk_spec(spec, d, issues)) << spec;
    return d;
}

struct ToolstackDevices : ::testing::Test {
    kvm::System no_kvm;
    domain::HypervisorLog log;
    domain::TimerService timers;
    domain::DomainTable table;
    std::unique_ptr<domain::Services> services;
    std::unique_ptr<xenstore::XenstoreService> store;
    RecordingDeviceBackends backends;
    std::unique_ptr<Toolstack> toolstack;

    void SetUp() override {
        services.reset(new domain::Services{no_kvm, log, timers, table, nullptr, {}, {}, {}, {}});
        table.set_services(services.get());
        table.set_builder([](const domain::BuildRequest&) -> Result<std::shared_ptr<domain::Domain>> {
            return make_error("no KVM in unit tests");
        });
        auto s = xenstore::XenstoreService::start(xenstore::ServiceOptions{}, nullptr);
        ASSERT_TRUE(s.ok()) << s.error().what;
        store = std::move(*s);
        toolstack = std::make_unique<Toolstack>(table, *services, *store, backends);
    }
    void TearDown() override {
        toolstack.reset();
        store->stop();
    }
};

TEST_F(ToolstackDevices, create_when_build_fails_then_no_disk_attached) {
    GuestConfig cfg;
    cfg.build.identity.name = "vm";
    cfg.disks = {devices_disk("/a.img,raw,xvda,w")};
    auto r = toolstack->create(cfg);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "no KVM in unit tests");
    EXPECT_TRUE(backends.calls().empty());
    EXPECT_FALSE(store->read("/libxl/1").has_value());
}

TEST_F(ToolstackDevices, destroy_when_no_domain_then_no_backend_call) {
    EXPECT_FALSE(toolstack->destroy(3));
    EXPECT_TRUE(backends.calls().empty());
}

TEST_F(ToolstackDevices, attach_then_detach_through_the_toolstack) {
    ASSERT_TRUE(toolstack->attach_disk(4, devices_disk("/a.img,raw,xvdb,r"), Credentials{1, 2, 3, {}}).ok());
    EXPECT_EQ(store->read("/local/domain/0/backend/vbd/4/51728/params"), "/a.img");
    ASSERT_EQ(toolstack->vbds().disks(4).size(), 1u);
    EXPECT_FALSE(toolstack->detach_disk(4, 51712));
    EXPECT_TRUE(toolstack->detach_disk(4, 51728));
    EXPECT_FALSE(store->read("/local/domain/0/backend/vbd/4/51728").has_value());
    const auto calls = backends.calls();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].what, "start_vbd");
    EXPECT_EQ(calls[0].open.as->uid, 2u);
    EXPECT_EQ(calls[1].what, "stop_vbd");
}

TEST_F(ToolstackDevices, create_when_build_fails_then_no_vif_attached) {
    GuestConfig cfg;
    cfg.build.identity.name = "vm";
    config::NicConfig n;
    n.devid = 0;
    cfg.nics = {n};
    ASSERT_FALSE(toolstack->create(cfg).ok());
    EXPECT_TRUE(backends.calls().empty());
    EXPECT_FALSE(host_interface_exists("vif1.0"));
}

// network-attach/-detach through the Toolstack, scripts off (xl.conf's
// run_hotplug_scripts=0), in a network namespace of the test's own.
TEST_F(ToolstackDevices, network_attach_then_detach_through_the_toolstack) {
    if (::unshare(CLONE_NEWNET) != 0 || ::access("/dev/net/tun", R_OK | W_OK) != 0)
        GTEST_SKIP() << "needs CAP_SYS_ADMIN and /dev/net/tun";
    toolstack->set_vif_defaults(VifDefaults{}, false);
    config::NicConfig n;
    n.bridge = "br9";
    auto r = toolstack->attach_nic(4, n, false);
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(n.devid, 0u);
    ASSERT_TRUE(r->mac.has_value());
    EXPECT_TRUE(host_interface_exists("vif4.0"));
    EXPECT_EQ(store->read("/local/domain/0/backend/vif/4/0/hotplug-status"), "connected");
    EXPECT_EQ(toolstack->vifs().devid_of_mac(4, *r->mac), 0u);
    config::NicConfig second;
    ASSERT_TRUE(toolstack->attach_nic(4, second, false).ok());
    EXPECT_EQ(second.devid, 1u);
    EXPECT_FALSE(toolstack->detach_nic(4, 7));
    EXPECT_TRUE(toolstack->detach_nic(4, 0));
    EXPECT_FALSE(host_interface_exists("vif4.0"));
    EXPECT_FALSE(store->read("/local/domain/0/backend/vif/4/0").has_value());
    EXPECT_TRUE(toolstack->detach_nic(4, 1));
    const auto calls = backends.calls();
    ASSERT_EQ(calls.size(), 4u);
    EXPECT_EQ(calls[0].what, "start_vif");
    EXPECT_EQ(calls[0].taps, vif_queue_count());
    EXPECT_EQ(calls[2].what, "stop_vif");
}

}  // namespace
}  // namespace xenolith::toolstack
