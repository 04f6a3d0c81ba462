// xenolithd's block back-ends (daemon::BackendProcesses) end to end without
// KVM: a domain made of real memfd guest memory, a real grant table and
// real event-channel tables (the grant and core tests' fixtures), libxl's
// vbd nodes in an in-process xenstore, and the real xenolith-blkback
// process launched, linked and supervised as xenolithd does it. The test
// plays the guest's blkfront: grants in its table, a ring in its memory,
// notifications through its event channel.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "backend/blk/abi.hpp"
#include "backend/blk/ring.hpp"
#include "daemon/backend_processes.hpp"
#include "fake_target.hpp"
#include "grant_fixture.hpp"
#include "backend/net/tap.hpp"
#include "toolstack/daemon/vbd_nodes.hpp"
#include "toolstack/daemon/vif_nodes.hpp"

extern "C" {
#include <xen/io/blkif.h>
#include <xen/io/xenbus.h>
}

namespace xenolith {
namespace {

using namespace std::chrono_literals;
using grant::test::kDataGfn;
constexpr domid_t kGuest = 5;
constexpr std::uint64_t kRingGfn = 0x200;
constexpr grant_ref_t kRingRef = 8;
constexpr std::size_t kDiskBytes = 4 << 20;

class BackendProcessesTest : public ::testing::Test {
protected:
    grant::test::Domains domains;
    grant::test::TestDomain& guest = domains.add(kGuest);
    test::FakeTarget target{kGuest};
    test::FakeDomains evtchn_domains;
    std::shared_ptr<evtchn::EventChannels> host = evtchn_domains.add(0, nullptr);
    std::shared_ptr<evtchn::EventChannels> guest_ev = evtchn_domains.add(kGuest, &target);
    std::unique_ptr<xenstore::XenstoreService> store;
    std::unique_ptr<daemon::BackendProcesses> backends;
    std::string image;
    toolstack::VbdNodes nodes;
    config::DiskConfig disk;

    void SetUp() override {
        char tmpl[] = "/tmp/xenolith-bbt.XXXXXX";
        int fd = ::mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        image = tmpl;
        ASSERT_EQ(::ftruncate(fd, kDiskBytes), 0);
        ::close(fd);
        auto s = xenstore::XenstoreService::start(xenstore::ServiceOptions{}, nullptr);
        ASSERT_TRUE(s) << s.error().what;
        store = std::move(*s);
        backends = std::make_unique<daemon::BackendProcesses>(
            domains.lookup(),
            [this](domid_t d) { return d == kGuest ? guest_ev : nullptr; }, host, *store,
            daemon::BackendBinaries{XENOLITH_BLKBACK_BINARY, XENOLITH_NETBACK_BINARY});
        disk = parse(image + ",raw,xvda,w");
        auto n = toolstack::vbd_nodes(disk, kGuest, 0);
        ASSERT_TRUE(n) << n.error().what;
        nodes = std::move(*n);
        ASSERT_EQ(store->with_own_connection([&](xenstore::Server& srv, xenstore::Connection& c) {
                      return toolstack::apply_vbd_nodes(srv, c, nodes);
                  }),
                  xenstore::XsErr::ok);
    }
    void TearDown() override {
        backends.reset();
        store->stop();
        ::unlink(image.c_str());
    }
    static config::DiskConfig parse(const std::string& spec) {
        config::DiskConfig d;
        config::SpecIssues issues;
        EXPECT_TRUE(config::parse_disk_spec(spec, d, issues)) << spec;
        return d;
    }
    bool backend_state_is(XenbusState s, std::chrono::milliseconds timeout = 5s) {
        const std::string want = std::to_string(static_cast<int>(s));
        return store->wait_for_node(nodes.backend_path + "/state",
                                    [&](const std::optional<std::string>& v) { return v == want; },
                                    std::chrono::steady_clock::now() + timeout);
    }
    // blkfront's connect: one ring page granted, an unbound port, the keys,
    // Initialised; then Connected once the back-end is.
    evtchn::Port connect_frontend() {
        std::memset(guest.page(kRingGfn), 0, kPageSize);
        guest.grant(kRingRef, 0, kRingGfn, GTF_permit_access);
        evtchn::Port port = 0;
        EXPECT_EQ(guest_ev->alloc_unbound(0, &port), 0);
        const std::string& fe = nodes.frontend_path;
        store->write(fe + "/ring-ref", std::to_string(kRingRef));
        store->write(fe + "/event-channel", std::to_string(port));
        store->write(fe + "/protocol", "x86_64-abi");
        store->write(fe + "/state", std::to_string(static_cast<int>(XenbusStateInitialised)));
        return port;
    }
    // One request on the ring, the guest's EVTCHNOP_send, and its response.
    std::optional<std::int16_t> request(backend::blk::FrontRing& ring, evtchn::Port port,
                                        std::uint8_t op, std::uint64_t sector, grant_ref_t ref) {
        static std::uint64_t id = 1;
        backend::blk::Request r;
        r.operation = op;
        r.id = ++id;
        r.sector_number = sector;
        r.nr_segments = 1;
        r.seg[0] = {ref, 0, 7};
        ring.queue(r);
        if (ring.push_requests()) guest_ev->send(port);
        for (int i = 0; i < 500; ++i) {
            if (auto rsp = ring.next_response()) return rsp->status;
            std::this_thread::sleep_for(10ms);
        }
        return std::nullopt;
    }

    static toolstack::VbdOpen as_daemon() { return {}; }
};

TEST_F(BackendProcessesTest, vbd_served_when_started_then_guest_writes_and_reads_through_its_grants) {
    ASSERT_TRUE(backends->start_vbd(kGuest, nodes, disk, as_daemon()).ok());
    EXPECT_GT(backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, nodes.devid), 0);
    ASSERT_TRUE(backend_state_is(XenbusStateInitWait)) << "the process offers the device";
    EXPECT_EQ(store->read(nodes.backend_path + "/sectors"), std::to_string(kDiskBytes / 512));

    evtchn::Port port = connect_frontend();
    ASSERT_TRUE(backend_state_is(XenbusStateConnected))
        << store->read(nodes.backend_path + "/error").value_or("");
    backend::blk::FrontRing ring(reinterpret_cast<std::byte*>(guest.page(kRingGfn)), 1,
                                 backend::blk::Abi::x86_64);

    guest.grant(20, 0, kDataGfn, GTF_permit_access);
    for (std::size_t i = 0; i < kPageSize; ++i) guest.page(kDataGfn)[i] = static_cast<std::uint8_t>(i * 3);
    ASSERT_EQ(request(ring, port, BLKIF_OP_WRITE, 64, 20), BLKIF_RSP_OKAY);
    std::vector<std::uint8_t> on_disk(kPageSize);
    int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(::pread(fd, on_disk.data(), kPageSize, 64 * 512), static_cast<ssize_t>(kPageSize));
    ::close(fd);
    EXPECT_EQ(std::memcmp(on_disk.data(), guest.page(kDataGfn), kPageSize), 0);

    guest.grant(21, 0, kDataGfn + 1, GTF_permit_access);
    ASSERT_EQ(request(ring, port, BLKIF_OP_READ, 64, 21), BLKIF_RSP_OKAY);
    EXPECT_EQ(std::memcmp(guest.page(kDataGfn + 1), guest.page(kDataGfn), kPageSize), 0);

    // A grant the guest gave to someone else: Xen's rules, through the daemon.
    guest.grant(22, 9, kDataGfn + 2, GTF_permit_access);
    EXPECT_EQ(request(ring, port, BLKIF_OP_READ, 0, 22), BLKIF_RSP_ERROR);

    backends->stop_vbd(kGuest, nodes.devid);
    EXPECT_EQ(backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, nodes.devid), -1);
    EXPECT_FALSE(guest.table.any_pinned()) << "a stopped back-end holds none of the guest's pages";
    EXPECT_TRUE(guest.end_access(20));
}

TEST_F(BackendProcessesTest, backend_killed_when_connected_then_pages_released_device_closed_and_offered_again) {
    ASSERT_TRUE(backends->start_vbd(kGuest, nodes, disk, as_daemon()).ok());
    ASSERT_TRUE(backend_state_is(XenbusStateInitWait));
    evtchn::Port port = connect_frontend();
    ASSERT_TRUE(backend_state_is(XenbusStateConnected));
    EXPECT_TRUE(guest.table.any_pinned()) << "the ring is mapped";

    pid_t pid = backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, nodes.devid);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(backend_state_is(XenbusStateClosed)) << "the guest must see the device close";
    for (int i = 0; i < 100 && guest.table.any_pinned(); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(guest.table.any_pinned()) << "the dead process's mappings are released";
    EXPECT_TRUE(guest.end_access(kRingRef));

    // Relaunched, the device stays Closed while the front end still says
    // Initialised (the dead process's ring); a front end that resets, as
    // Linux's does, gets it offered again.
    for (int i = 0; i < 200 && backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, nodes.devid) <= 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_NE(backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, nodes.devid), pid);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(store->read(nodes.backend_path + "/state"), std::to_string(static_cast<int>(XenbusStateClosed)))
        << "never offered to, or attached to, the stale ring";
    store->write(nodes.frontend_path + "/state", std::to_string(static_cast<int>(XenbusStateClosed)));
    store->write(nodes.frontend_path + "/state", std::to_string(static_cast<int>(XenbusStateInitialising)));
    ASSERT_TRUE(backend_state_is(XenbusStateInitWait, 10s));
    port = connect_frontend();
    ASSERT_TRUE(backend_state_is(XenbusStateConnected));
    backend::blk::FrontRing ring(reinterpret_cast<std::byte*>(guest.page(kRingGfn)), 1,
                                 backend::blk::Abi::x86_64);
    guest.grant(30, 0, kDataGfn, GTF_permit_access);
    EXPECT_EQ(request(ring, port, BLKIF_OP_READ, 0, 30), BLKIF_RSP_OKAY);
    backends->stop_all(kGuest);
    EXPECT_EQ(backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, nodes.devid), -1);
}

TEST_F(BackendProcessesTest, bad_disks_when_started_then_refused_naming_them_and_nothing_runs) {
    auto qcow = parse(image + ",qcow2,xvdb,w");
    auto r = backends->start_vbd(kGuest, nodes, qcow, as_daemon());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("disk 'xvdb': format qcow2 is not supported"), std::string::npos)
        << r.error().what;

    auto missing = parse("/nonexistent/x.img,raw,xvdc,w");
    r = backends->start_vbd(kGuest, nodes, missing, as_daemon());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("disk 'xvdc': /nonexistent/x.img: No such file or directory"),
              std::string::npos)
        << r.error().what;

    r = backends->start_vbd(kGuest + 1, nodes, disk, as_daemon());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("domain 6 is gone"), std::string::npos) << r.error().what;

    // Another user may not hand a guest a disk they cannot open.
    ASSERT_EQ(::chmod(image.c_str(), 0600), 0);
    toolstack::VbdOpen nobody;
    nobody.as = toolstack::Credentials{1, 65534, 65534, {}};
    r = backends->start_vbd(kGuest, nodes, disk, nobody);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("Permission denied"), std::string::npos) << r.error().what;
    EXPECT_EQ(backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, nodes.devid), -1);
}

// A vif: the real xenolith-netback launched with its TAP queues, linked to
// the guest and confined to the vif's xenstore directories; it offers the
// device, is relaunched when killed, and lets go of everything when stopped.
TEST_F(BackendProcessesTest, vif_served_when_started_then_offered_relaunched_and_stopped) {
    config::NicConfig nic;
    nic.devid = 0;
    auto vn = toolstack::vif_nodes(nic, kGuest, 0);
    ASSERT_TRUE(vn) << vn.error().what;
    ASSERT_EQ(store->with_own_connection([&](xenstore::Server& srv, xenstore::Connection& c) {
                  return toolstack::apply_vif_nodes(srv, c, *vn);
              }),
              xenstore::XsErr::ok);
    // A TAP of this test's own (it goes when its last fd closes).
    const std::string name = "xbpt" + std::to_string(::getpid() % 100000);
    auto taps = backend::net::open_tap(name, 2);
    ASSERT_TRUE(taps) << taps.error().what;
    const auto vif = daemon::BackendProcesses::Kind::vif;

    ASSERT_TRUE(backends->start_vif(kGuest, *vn, nic, std::move(*taps)).ok());
    const pid_t first = backends->backend_pid(kGuest, vif, 0);
    EXPECT_GT(first, 0);
    auto vif_state_is = [&](XenbusState st) {
        const std::string want = std::to_string(static_cast<int>(st));
        return store->wait_for_node(vn->backend_path + "/state",
                                    [&](const std::optional<std::string>& v) { return v == want; },
                                    std::chrono::steady_clock::now() + 5s);
    };
    ASSERT_TRUE(vif_state_is(XenbusStateInitWait)) << "the process offers the vif";
    EXPECT_EQ(store->read(vn->backend_path + "/multi-queue-max-queues"), "2") << "one per TAP queue";
    EXPECT_EQ(store->read(vn->backend_path + "/feature-rx-copy"), "1");
    EXPECT_EQ(backends->backend_pid(kGuest, daemon::BackendProcesses::Kind::vbd, 0), -1)
        << "vbd and vif devids are separate";

    ASSERT_EQ(::kill(first, SIGKILL), 0);
    for (int i = 0; i < 300; ++i) {
        pid_t now = backends->backend_pid(kGuest, vif, 0);
        if (now > 0 && now != first) break;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_NE(backends->backend_pid(kGuest, vif, 0), first) << "relaunched";
    EXPECT_GT(backends->backend_pid(kGuest, vif, 0), 0);

    backends->stop_vif(kGuest, 0);
    EXPECT_EQ(backends->backend_pid(kGuest, vif, 0), -1);
    EXPECT_NE(::access(("/sys/class/net/" + name).c_str(), F_OK), 0)
        << "the TAP went with the back-end's fds";
}

TEST_F(BackendProcessesTest, vif_refused_when_domain_gone_then_nothing_runs) {
    config::NicConfig nic;
    nic.devid = 1;
    auto vn = toolstack::vif_nodes(nic, kGuest + 1, 0);
    ASSERT_TRUE(vn) << vn.error().what;
    auto taps = backend::net::open_tap("xbpu" + std::to_string(::getpid() % 100000), 1);
    ASSERT_TRUE(taps) << taps.error().what;
    auto r = backends->start_vif(kGuest + 1, *vn, nic, std::move(*taps));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("vif 1: domain 6 is gone"), std::string::npos) << r.error().what;
    EXPECT_EQ(backends->backend_pid(kGuest + 1, daemon::BackendProcesses::Kind::vif, 1), -1);
}

}  // namespace
}  // namespace xenolith
