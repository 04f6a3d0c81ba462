// The Toolstack's half of disks without a guest (no KVM here): a create
// whose build fails attaches nothing, destroy of a domid nobody has
// detaches nothing, and block-attach/-detach reach the back-ends and
// xenstore through the Toolstack.
#include <gtest/gtest.h>

#include "domain/domain_table.hpp"
#include "domain/hypervisor_log.hpp"
#include "domain/timer_service.hpp"
#include "kvm/kvm_system.hpp"
#include "toolstack/daemon/toolstack.hpp"
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

}  // namespace
}  // namespace xenolith::toolstack
