// VbdDevice driven by a harness that plays blkfront: the xenstore nodes
// through FakeXenstore (with watches), the ring in a LocalGrantTable guest,
// a loopback event channel, a real file through io_uring.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backend/blk/vbd_device.hpp"
#include "backend/local_evtchn.hpp"
#include "backend/local_grants.hpp"
#include "fake_xenstore.hpp"

extern "C" {
#include <xen/io/blkif.h>
}

using namespace xenolith::backend;
using namespace xenolith::backend::blk;
using xenolith::backend::testing::FakeXenstore;

namespace {

constexpr DomId kVbdFront = 5, kVbdBack = 0;
constexpr std::uint64_t kVbdDiskSectors = 2048;  // 1 MiB
constexpr Port kFrontPort = 7;
constexpr Port kQueuePort0 = 20;  // queue q's front-end port: kQueuePort0 + q
constexpr unsigned kQueueFrame0 = 100;  // queue q's ring page: kQueueFrame0 + q
const std::string kVbdBe = "/local/domain/0/backend/vbd/5/51712";
const std::string kVbdFe = "/local/domain/5/device/vbd/51712";

std::string st(XenbusState s) { return std::to_string(static_cast<int>(s)); }

class VbdDeviceTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/var/tmp/vbd-test-XXXXXX";
        int fd = ::mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        path_ = tmpl;
        ASSERT_EQ(::ftruncate(fd, kVbdDiskSectors * 512), 0);
        ::close(fd);
        LocalEventChannel::connect(be_, fe_);
        be_.expect_remote_port(kFrontPort);
        for (Port q = 0; q < 4; ++q) be_.expect_remote_port(kQueuePort0 + q);
        // What libxl writes before the back end starts.
        xs_.nodes[kVbdFe + "/state"] = st(XenbusStateInitialising);
        xs_.nodes[kVbdFe + "/backend"] = kVbdBe;
        xs_.nodes[kVbdBe + "/state"] = st(XenbusStateInitialising);
        xs_.nodes[kVbdBe + "/online"] = "1";
        xs_.nodes[kVbdBe + "/frontend"] = kVbdFe;
    }
    void TearDown() override {
        dev_.reset();
        ::unlink(path_.c_str());
    }

    void start(VbdConfig cfg = {}, bool with_disk = true) {
        if (with_disk) disk_ = UringDisk::open(DiskOpen{path_, -1, cfg.readonly || cfg.cdrom, true, 64}).value();
        cfg.backend_path = kVbdBe;
        cfg.frontend_path = kVbdFe;
        cfg.frontend = kVbdFront;
        cfg.devid = 51712;
        auto d = VbdDevice::create(cfg, Services{be_, gt_, xs_}, disk_.get());
        ASSERT_TRUE(d) << d.error().what;
        dev_ = std::move(d).value();
        pump();
    }

    // Lets the device take everything that is ready.
    void pump() {
        for (int i = 0; i < 20 && dev_->poll_once(0); ++i) {}
    }
    std::string node(const std::string& path) { return xs_.read(0, path).first; }
    bool has(const std::string& path) { return xs_.read(0, path).second == 0; }
    void fe_state(const std::string& value) {
        xs_.write(0, kVbdFe + "/state", value);
        pump();
    }
    void fe_state(XenbusState s) { fe_state(st(s)); }

    // blkfront's talk_to_blkback: a fresh ring, its ref and port, then
    // Initialised (or Connected).
    void blkfront_connect(XenbusState final = XenbusStateInitialised, unsigned ring_frame = 0) {
        gt_.grant(ring_frame, ring_frame, false);
        front_ = std::make_unique<FrontRing>(gt_.page(ring_frame), 1, Abi::x86_64);
        xs_.rm(0, kVbdFe + "/ring-page-order");
        xs_.write(0, kVbdFe + "/ring-ref", std::to_string(ring_frame));
        xs_.write(0, kVbdFe + "/event-channel", std::to_string(kFrontPort));
        xs_.write(0, kVbdFe + "/protocol", "x86_64-abi");
        fe_state(final);
    }

    // blkfront with multi-queue: multi-queue-num-queues, then per queue a
    // one-page ring and its own port under queue-N/.
    void blkfront_connect_queues(unsigned n, XenbusState final = XenbusStateInitialised, bool persistent = false) {
        queues_.clear();
        xs_.write(0, kVbdFe + "/multi-queue-num-queues", std::to_string(n));
        xs_.write(0, kVbdFe + "/protocol", "x86_64-abi");
        xs_.write(0, kVbdFe + "/feature-persistent", persistent ? "1" : "0");
        for (unsigned q = 0; q < n; ++q) {
            GrantRef frame = kQueueFrame0 + q;
            gt_.grant(frame, frame, false);
            std::memset(gt_.page(frame), 0, kXenPageSize);
            queues_.push_back(std::make_unique<FrontRing>(gt_.page(frame), 1, Abi::x86_64));
            std::string dir = kVbdFe + "/queue-" + std::to_string(q);
            xs_.write(0, dir + "/ring-ref", std::to_string(frame));
            xs_.write(0, dir + "/event-channel", std::to_string(kQueuePort0 + q));
        }
        fe_state(final);
    }
    // The back end's port for queue q, which the front end notifies.
    Port queue_port(unsigned q) { return be_.local_port_of(kQueuePort0 + q).value_or(0); }
    void send_on(unsigned q, const std::vector<Request>& reqs) {
        for (const Request& r : reqs) queues_[q]->queue(r);
        if (queues_[q]->push_requests()) fe_.notify(queue_port(q));
    }
    std::vector<Response> take(unsigned q) {
        std::vector<Response> out;
        while (auto r = queues_[q]->next_response()) out.push_back(*r);
        return out;
    }
    std::vector<Response> collect_on(unsigned q, std::size_t n) {
        std::vector<Response> out;
        for (int spins = 0; out.size() < n && spins < 200; ++spins) {
            for (auto& r : take(q)) out.push_back(r);
            if (out.size() < n) dev_->poll_once(50);
        }
        return out;
    }
    VbdConfig queues_config(unsigned max_queues) {
        VbdConfig cfg;
        cfg.offer.max_queues = max_queues;
        return cfg;
    }

    GrantRef grant_page() {
        GrantRef ref = next_ref_++;
        gt_.grant(ref, ref, false);
        return ref;
    }
    std::byte* page(GrantRef ref) { return gt_.page(ref); }

    static Request rw(std::uint8_t op, std::uint64_t sector, GrantRef ref, std::uint64_t id) {
        Request r;
        r.operation = op;
        r.id = id;
        r.sector_number = sector;
        r.nr_segments = 1;
        r.seg[0] = Segment{ref, 0, 7};
        return r;
    }
    void send(const std::vector<Request>& reqs) {
        for (const Request& r : reqs) front_->queue(r);
        if (front_->push_requests()) fe_.notify(1);
    }
    std::vector<Response> collect(std::size_t n) {
        std::vector<Response> out;
        for (int spins = 0; out.size() < n && spins < 200; ++spins) {
            while (auto r = front_->next_response()) out.push_back(*r);
            if (out.size() < n) dev_->poll_once(50);
        }
        return out;
    }
    std::int16_t io1(const Request& r) {
        send({r});
        auto v = collect(1);
        return v.size() == 1 ? v[0].status : std::int16_t{99};
    }

    FakeXenstore xs_;
    LocalGrantTable gt_{kVbdFront, kVbdBack, 256, 1024};
    LocalEventChannel be_, fe_;
    std::string path_;
    std::unique_ptr<UringDisk> disk_;
    std::unique_ptr<VbdDevice> dev_;
    std::unique_ptr<FrontRing> front_;
    std::vector<std::unique_ptr<FrontRing>> queues_;
    GrantRef next_ref_ = 32;
};

}  // namespace

TEST_F(VbdDeviceTest, start_when_created_then_disk_facts_offer_and_initwait_written) {
    start();
    EXPECT_EQ(node(kVbdBe + "/state"), st(XenbusStateInitWait));
    EXPECT_EQ(dev_->state(), XenbusStateInitWait);
    EXPECT_EQ(node(kVbdBe + "/sectors"), std::to_string(kVbdDiskSectors));
    EXPECT_EQ(node(kVbdBe + "/info"), "0");
    EXPECT_EQ(node(kVbdBe + "/sector-size"), "512");
    EXPECT_EQ(node(kVbdBe + "/physical-sector-size"), "512");
    EXPECT_EQ(node(kVbdBe + "/feature-flush-cache"), "1");
    EXPECT_EQ(node(kVbdBe + "/feature-discard"), "1");
    EXPECT_EQ(node(kVbdBe + "/max-ring-page-order"), "4");
    // Offered at the host's CPUs capped at 4; one queue offers nothing.
    if (dev_->max_queues() > 1)
        EXPECT_EQ(node(kVbdBe + "/multi-queue-max-queues"), std::to_string(dev_->max_queues()));
    else
        EXPECT_FALSE(has(kVbdBe + "/multi-queue-max-queues"));
    EXPECT_EQ(dev_->max_queues(), default_max_queues());
    EXPECT_FALSE(has(kVbdBe + "/error"));
    EXPECT_EQ(xs_.watch_count(), 2u);
}

TEST_F(VbdDeviceTest, handshake_when_frontend_initialised_then_connected_and_write_read_round_trip) {
    start();
    blkfront_connect();
    ASSERT_TRUE(dev_->connected()) << dev_->last_error();
    EXPECT_EQ(node(kVbdBe + "/state"), st(XenbusStateConnected));
    fe_state(XenbusStateConnected);
    EXPECT_TRUE(dev_->connected());

    GrantRef a = grant_page(), b = grant_page();
    std::memset(page(a), 'A', 4096);
    EXPECT_EQ(io1(rw(BLKIF_OP_WRITE, 8, a, 1)), BLKIF_RSP_OKAY);
    EXPECT_EQ(io1(rw(BLKIF_OP_READ, 8, b, 2)), BLKIF_RSP_OKAY);
    EXPECT_EQ(std::memcmp(page(a), page(b), 4096), 0);
    EXPECT_EQ(dev_->stats().connections, 1u);
}

TEST_F(VbdDeviceTest, frontend_connected_directly_when_initwait_then_connects) {
    start();
    blkfront_connect(XenbusStateConnected);
    EXPECT_TRUE(dev_->connected());
}

TEST_F(VbdDeviceTest, reset_when_frontend_closes_then_reinitialises_then_serves_new_ring) {
    start();
    blkfront_connect();
    ASSERT_TRUE(dev_->connected());
    fe_state(XenbusStateClosing);
    EXPECT_EQ(dev_->state(), XenbusStateClosing);  // until the front end is Closed
    EXPECT_EQ(dev_->ring(), nullptr);
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(be_.bound());
    fe_state(XenbusStateClosed);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_FALSE(dev_->done());  // online: the front end may come back
    fe_state(XenbusStateInitialising);
    EXPECT_EQ(dev_->state(), XenbusStateInitWait);
    blkfront_connect(XenbusStateInitialised, 1);
    ASSERT_TRUE(dev_->connected());
    GrantRef a = grant_page();
    EXPECT_EQ(io1(rw(BLKIF_OP_READ, 0, a, 3)), BLKIF_RSP_OKAY);
    EXPECT_EQ(dev_->stats().connections, 2u);
}

// Linux's xenbus_reset_state (a kexec'd kernel finding its back end
// Connected): Closing, wait for Closing; Closed, wait for Closed;
// Initialising, wait for InitWait.
TEST_F(VbdDeviceTest, xenbus_reset_state_when_kexec_then_backend_walks_closing_closed_initwait) {
    start();
    blkfront_connect(XenbusStateConnected);
    fe_state(XenbusStateClosing);
    EXPECT_EQ(node(kVbdBe + "/state"), st(XenbusStateClosing));
    fe_state(XenbusStateClosed);
    EXPECT_EQ(node(kVbdBe + "/state"), st(XenbusStateClosed));
    fe_state(XenbusStateInitialising);
    EXPECT_EQ(node(kVbdBe + "/state"), st(XenbusStateInitWait));
    blkfront_connect(XenbusStateConnected, 1);
    EXPECT_TRUE(dev_->connected());
}

TEST_F(VbdDeviceTest, reset_when_frontend_reinitialises_without_closing_then_ring_dropped_and_initwait) {
    start();
    blkfront_connect(XenbusStateConnected);
    ASSERT_TRUE(dev_->connected());
    fe_state(XenbusStateInitialising);  // kexec after a crash: no Closing, no Closed
    EXPECT_EQ(dev_->state(), XenbusStateInitWait);
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    blkfront_connect(XenbusStateConnected, 2);
    ASSERT_TRUE(dev_->connected());
    EXPECT_EQ(io1(rw(BLKIF_OP_WRITE, 16, grant_page(), 4)), BLKIF_RSP_OKAY);
}

TEST_F(VbdDeviceTest, closing_when_io_in_flight_then_every_request_answered_before_ring_unmapped) {
    start();
    blkfront_connect(XenbusStateConnected);
    ASSERT_TRUE(dev_->connected());
    std::vector<Request> reqs;
    for (std::uint64_t i = 0; i < 16; ++i) reqs.push_back(rw(BLKIF_OP_WRITE, i * 8, grant_page(), i));
    send(reqs);
    xs_.write(0, kVbdFe + "/state", st(XenbusStateClosing));
    dev_->handle();  // takes the requests, then sees Closing: they are in flight
    const Blkback* ring = dev_->ring();
    ASSERT_NE(ring, nullptr);
    EXPECT_GT(ring->in_flight(), 0u);
    EXPECT_EQ(dev_->state(), XenbusStateClosing);
    for (int i = 0; i < 100 && dev_->ring() != nullptr; ++i) dev_->poll_once(50);
    EXPECT_EQ(dev_->ring(), nullptr);
    EXPECT_EQ(dev_->state(), XenbusStateClosing);
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    std::vector<Response> out;
    while (auto r = front_->next_response()) out.push_back(*r);
    ASSERT_EQ(out.size(), reqs.size());
    for (const Response& r : out) EXPECT_EQ(r.status, BLKIF_RSP_OKAY);
}

TEST_F(VbdDeviceTest, closing_when_requests_arrive_after_close_then_not_taken) {
    start();
    blkfront_connect(XenbusStateConnected);
    send({rw(BLKIF_OP_WRITE, 0, grant_page(), 1)});
    xs_.write(0, kVbdFe + "/state", st(XenbusStateClosing));
    dev_->handle();
    send({rw(BLKIF_OP_WRITE, 8, grant_page(), 2)});  // too late: intake stopped
    for (int i = 0; i < 100 && dev_->ring() != nullptr; ++i) dev_->poll_once(50);
    std::vector<Response> out;
    while (auto r = front_->next_response()) out.push_back(*r);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].id, 1u);
}

struct BadKey {
    const char* key;
    const char* value;
    const char* error_mentions;
};

class VbdBadFrontend : public VbdDeviceTest, public ::testing::WithParamInterface<BadKey> {};

TEST_P(VbdBadFrontend, bad_ring_node_when_connecting_then_error_node_and_closed) {
    start();
    xs_.write(0, kVbdFe + std::string("/") + GetParam().key, GetParam().value);
    gt_.grant(0, 0, false);
    if (std::string(GetParam().key) != "ring-ref") xs_.write(0, kVbdFe + "/ring-ref", "0");
    if (std::string(GetParam().key) != "event-channel") xs_.write(0, kVbdFe + "/event-channel", std::to_string(kFrontPort));
    fe_state(XenbusStateInitialised);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_EQ(node(kVbdBe + "/state"), st(XenbusStateClosed));
    EXPECT_NE(node(kVbdBe + "/error").find(GetParam().error_mentions), std::string::npos) << node(kVbdBe + "/error");
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(be_.bound());
    // Not attached again until the front end resets; then served.
    fe_state(XenbusStateConnected);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    fe_state(XenbusStateClosed);
    fe_state(XenbusStateInitialising);
    EXPECT_EQ(dev_->state(), XenbusStateInitWait);
    blkfront_connect();
    EXPECT_TRUE(dev_->connected()) << dev_->last_error();
}

INSTANTIATE_TEST_SUITE_P(
    Keys, VbdBadFrontend,
    ::testing::Values(BadKey{"ring-ref", "999", "ring-ref"},     // never granted
                      BadKey{"ring-ref", "0x10", "ring-ref"},    // not decimal
                      BadKey{"ring-page-order", "9", "ring-page-order"},
                      BadKey{"protocol", "sparc-abi", "protocol"},
                      BadKey{"event-channel", "9", "event-channel"},  // not the port the front end allocated
                      BadKey{"event-channel", "-1", "event-channel"}));

TEST_F(VbdDeviceTest, missing_ring_ref_when_initialised_then_error_names_key) {
    start();
    xs_.write(0, kVbdFe + "/event-channel", "7");
    fe_state(XenbusStateInitialised);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_NE(dev_->last_error().find("ring-ref: missing"), std::string::npos) << dev_->last_error();
}

TEST_F(VbdDeviceTest, online_zero_when_connected_then_closing_until_frontend_closes_then_done) {
    start();
    blkfront_connect(XenbusStateConnected);
    ASSERT_TRUE(dev_->connected());
    xs_.write(0, kVbdBe + "/online", "0");
    pump();
    EXPECT_EQ(dev_->state(), XenbusStateClosing);
    EXPECT_FALSE(dev_->done());
    EXPECT_EQ(io1(rw(BLKIF_OP_WRITE, 0, grant_page(), 9)), BLKIF_RSP_OKAY);  // still served meanwhile
    fe_state(XenbusStateClosed);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_TRUE(dev_->done());
    EXPECT_TRUE(dev_->fds().empty());
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_EQ(xs_.watch_count(), 0u);
}

TEST_F(VbdDeviceTest, online_zero_when_frontend_never_connected_then_closed_and_done_at_once) {
    start();
    xs_.write(0, kVbdBe + "/online", "0");
    pump();
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_TRUE(dev_->done());
}

TEST_F(VbdDeviceTest, online_zero_when_frontend_closes_then_not_reattached_on_reinitialise) {
    start();
    blkfront_connect(XenbusStateConnected);
    xs_.write(0, kVbdBe + "/online", "0");
    pump();
    fe_state(XenbusStateInitialising);  // a reset while removal is asked: no new connection
    EXPECT_TRUE(dev_->done());
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
}

TEST_F(VbdDeviceTest, frontend_state_removed_when_connected_then_closed_and_done) {
    start();
    blkfront_connect(XenbusStateConnected);
    xs_.rm(0, kVbdFe);
    pump();
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_TRUE(dev_->done());
    EXPECT_EQ(gt_.mapped_pages(), 0u);
}

TEST_F(VbdDeviceTest, backend_dir_removed_when_connected_then_done_and_nothing_recreated) {
    start();
    blkfront_connect(XenbusStateConnected);
    xs_.rm(0, kVbdBe);
    pump();
    EXPECT_TRUE(dev_->done());
    EXPECT_FALSE(has(kVbdBe + "/state"));
    EXPECT_FALSE(has(kVbdBe + "/error"));
    EXPECT_EQ(gt_.mapped_pages(), 0u);
}

TEST_F(VbdDeviceTest, frontend_absent_when_started_then_waits_for_it) {
    xs_.nodes.erase(kVbdFe + "/state");
    start();
    EXPECT_EQ(dev_->state(), XenbusStateInitWait);
    EXPECT_FALSE(dev_->done());
    fe_state(XenbusStateInitialising);
    blkfront_connect();
    EXPECT_TRUE(dev_->connected());
}

class VbdGarbageState : public VbdDeviceTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(VbdGarbageState, garbage_state_when_connected_then_error_closed_and_recoverable) {
    start();
    blkfront_connect(XenbusStateConnected);
    ASSERT_TRUE(dev_->connected());
    fe_state(GetParam());
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_TRUE(has(kVbdBe + "/error"));
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(dev_->done());
    fe_state(GetParam());  // the same garbage again: no second error
    EXPECT_EQ(dev_->stats().fatal_errors, 1u);
    fe_state(XenbusStateClosed);
    fe_state(XenbusStateInitialising);
    EXPECT_EQ(dev_->state(), XenbusStateInitWait);
    blkfront_connect(XenbusStateConnected, 3);
    EXPECT_TRUE(dev_->connected());
}

INSTANTIATE_TEST_SUITE_P(Values, VbdGarbageState,
                         ::testing::Values("abc", "", "4 ", "+4", "-1", "99", "99999999999999", "7", "8", "2",
                                           std::string("4\0", 2)));

TEST_F(VbdDeviceTest, backwards_when_connected_to_initialised_then_ignored_and_still_connected) {
    start();
    blkfront_connect(XenbusStateConnected);
    fe_state(XenbusStateInitialised);
    EXPECT_TRUE(dev_->connected());
    EXPECT_EQ(dev_->stats().backwards_moves, 1u);
    EXPECT_EQ(io1(rw(BLKIF_OP_READ, 0, grant_page(), 1)), BLKIF_RSP_OKAY);
}

TEST_F(VbdDeviceTest, closing_then_connected_when_closed_then_not_reattached) {
    start();
    blkfront_connect(XenbusStateConnected);
    fe_state(XenbusStateClosing);
    fe_state(XenbusStateConnected);  // changed its mind: must reset first
    EXPECT_EQ(dev_->state(), XenbusStateClosing);
    EXPECT_EQ(dev_->ring(), nullptr);
    EXPECT_EQ(dev_->stats().connections, 1u);
    fe_state(XenbusStateClosed);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
}

TEST_F(VbdDeviceTest, random_flips_when_any_sequence_then_no_hang_and_recovers) {
    start();
    std::mt19937 rng(1234);
    const char* values[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "x", ""};
    for (int i = 0; i < 300; ++i) {
        if (rng() % 4 == 0) blkfront_connect(XenbusStateInitialised, 4 + rng() % 4);
        fe_state(values[rng() % std::size(values)]);
        if (dev_->done()) break;
    }
    if (!dev_->done()) {
        fe_state(XenbusStateClosed);
        fe_state(XenbusStateInitialising);
        blkfront_connect(XenbusStateConnected, 9);
        EXPECT_TRUE(dev_->connected()) << dev_->last_error();
    }
}

TEST_F(VbdDeviceTest, ring_broken_when_req_prod_lies_then_error_and_closed) {
    start();
    blkfront_connect(XenbusStateConnected);
    std::uint32_t lie = 1000;  // more than a ring ahead of the responses
    std::memcpy(gt_.page(0), &lie, sizeof lie);
    fe_.notify(1);
    pump();
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_NE(node(kVbdBe + "/error").find("ring broken"), std::string::npos);
    EXPECT_EQ(gt_.mapped_pages(), 0u);
}

TEST_F(VbdDeviceTest, readonly_device_when_writing_then_error_and_reads_served) {
    VbdConfig cfg;
    cfg.readonly = true;
    start(cfg);
    EXPECT_EQ(node(kVbdBe + "/info"), std::to_string(VDISK_READONLY));
    EXPECT_EQ(node(kVbdBe + "/feature-discard"), "0");
    blkfront_connect(XenbusStateConnected);
    EXPECT_EQ(io1(rw(BLKIF_OP_WRITE, 0, grant_page(), 1)), BLKIF_RSP_ERROR);
    EXPECT_EQ(io1(rw(BLKIF_OP_READ, 0, grant_page(), 2)), BLKIF_RSP_OKAY);
}

TEST_F(VbdDeviceTest, empty_cdrom_when_reading_then_zero_sectors_and_error) {
    VbdConfig cfg;
    cfg.cdrom = true;
    start(cfg, false);
    EXPECT_EQ(node(kVbdBe + "/sectors"), "0");
    EXPECT_EQ(node(kVbdBe + "/info"), std::to_string(VDISK_CDROM | VDISK_REMOVABLE | VDISK_READONLY));
    blkfront_connect(XenbusStateConnected);
    ASSERT_TRUE(dev_->connected()) << dev_->last_error();
    EXPECT_EQ(io1(rw(BLKIF_OP_READ, 0, grant_page(), 1)), BLKIF_RSP_ERROR);
    EXPECT_EQ(io1(rw(BLKIF_OP_WRITE, 0, grant_page(), 2)), BLKIF_RSP_ERROR);
    Request flush;
    flush.operation = BLKIF_OP_FLUSH_DISKCACHE;
    flush.id = 3;
    EXPECT_EQ(io1(flush), BLKIF_RSP_ERROR);
}

TEST_F(VbdDeviceTest, create_when_no_disk_and_not_cdrom_then_refused) {
    VbdConfig cfg;
    cfg.backend_path = kVbdBe;
    cfg.frontend_path = kVbdFe;
    auto d = VbdDevice::create(cfg, Services{be_, gt_, xs_}, nullptr);
    EXPECT_FALSE(d);
}

TEST_F(VbdDeviceTest, connect_when_commit_meets_eagain_then_retried) {
    start();
    xs_.fail_commits = 3;
    blkfront_connect();
    EXPECT_TRUE(dev_->connected());
}

TEST_F(VbdDeviceTest, create_when_xenstore_refuses_writes_then_error) {
    xs_.fail_writes = 1;
    disk_ = UringDisk::open(DiskOpen{path_, -1, false, true, 64}).value();
    VbdConfig cfg;
    cfg.backend_path = kVbdBe;
    cfg.frontend_path = kVbdFe;
    auto d = VbdDevice::create(cfg, Services{be_, gt_, xs_}, disk_.get());
    EXPECT_FALSE(d);
}

// Multi-queue (blkif.h "Multi-queue", Linux's connect_ring/read_per_ring_refs).

TEST_F(VbdDeviceTest, offer_when_max_queues_configured_then_key_written_only_above_one) {
    start(queues_config(4));
    EXPECT_EQ(node(kVbdBe + "/multi-queue-max-queues"), "4");
    dev_.reset();
    xs_.rm(0, kVbdBe + "/multi-queue-max-queues");
    start(queues_config(1));
    EXPECT_FALSE(has(kVbdBe + "/multi-queue-max-queues"));
}

TEST_F(VbdDeviceTest, four_queues_when_negotiated_then_io_served_on_each_queue_with_own_port_and_grants) {
    start(queues_config(4));
    blkfront_connect_queues(4, XenbusStateConnected, true);
    ASSERT_TRUE(dev_->connected()) << dev_->last_error();
    ASSERT_EQ(dev_->queues(), 4u);
    std::set<Port> ports;
    for (unsigned q = 0; q < 4; ++q) {
        ASSERT_NE(queue_port(q), 0u) << q;
        ports.insert(queue_port(q));
        EXPECT_EQ(dev_->ring(q)->port(), queue_port(q));
    }
    EXPECT_EQ(ports.size(), 4u);
    EXPECT_EQ(gt_.mapped_pages() >= 4, true);
    for (unsigned q = 0; q < 4; ++q) {
        GrantRef a = grant_page(), b = grant_page();
        std::memset(page(a), 'a' + static_cast<int>(q), 4096);
        send_on(q, {rw(BLKIF_OP_WRITE, 8 * q, a, 100 + q)});
        auto w = collect_on(q, 1);
        ASSERT_EQ(w.size(), 1u) << q;
        EXPECT_EQ(w[0].id, 100u + q);
        EXPECT_EQ(w[0].status, BLKIF_RSP_OKAY);
        send_on(q, {rw(BLKIF_OP_READ, 8 * q, b, 200 + q)});
        auto r = collect_on(q, 1);
        ASSERT_EQ(r.size(), 1u) << q;
        EXPECT_EQ(r[0].status, BLKIF_RSP_OKAY);
        EXPECT_EQ(std::memcmp(page(a), page(b), 4096), 0) << q;
        // Persistent grants are each queue's own, as Linux's per-ring pool.
        EXPECT_EQ(dev_->ring(q)->persistent_grants(), 2u) << q;
        EXPECT_EQ(dev_->ring(q)->stats().requests, 2u) << q;
    }
}

TEST_F(VbdDeviceTest, request_on_queue_two_when_notified_then_answered_on_its_ring_and_port_only) {
    start(queues_config(4));
    blkfront_connect_queues(4, XenbusStateConnected);
    ASSERT_TRUE(dev_->connected()) << dev_->last_error();
    while (fe_.pending()) {}
    GrantRef a = grant_page();
    send_on(2, {rw(BLKIF_OP_WRITE, 16, a, 42)});
    auto out = collect_on(2, 1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].id, 42u);
    EXPECT_EQ(out[0].status, BLKIF_RSP_OKAY);
    for (unsigned q : {0u, 1u, 3u}) {
        EXPECT_TRUE(take(q).empty()) << q;
        EXPECT_EQ(dev_->ring(q)->stats().requests, 0u) << q;
    }
    // The notification came on queue 2's port, and on no other.
    auto port = fe_.pending();
    ASSERT_TRUE(port.has_value());
    EXPECT_EQ(*port, queue_port(2));
    EXPECT_FALSE(fe_.pending().has_value());
}

TEST_F(VbdDeviceTest, requests_on_every_queue_when_sent_together_then_each_answered_on_its_own_ring) {
    start(queues_config(4));
    blkfront_connect_queues(4, XenbusStateConnected);
    for (unsigned q = 0; q < 4; ++q) {
        std::vector<Request> reqs;
        for (std::uint64_t i = 0; i < 8; ++i) reqs.push_back(rw(BLKIF_OP_WRITE, (q * 8 + i) * 8, grant_page(), q * 100 + i));
        send_on(q, reqs);
    }
    for (unsigned q = 0; q < 4; ++q) {
        auto out = collect_on(q, 8);
        ASSERT_EQ(out.size(), 8u) << q;
        for (const Response& r : out) {
            EXPECT_EQ(r.id / 100, q);
            EXPECT_EQ(r.status, BLKIF_RSP_OKAY);
        }
    }
}

TEST_F(VbdDeviceTest, one_queue_asked_when_offered_four_then_flat_keys_served) {
    start(queues_config(4));
    xs_.write(0, kVbdFe + "/multi-queue-num-queues", "1");
    blkfront_connect();
    ASSERT_TRUE(dev_->connected()) << dev_->last_error();
    EXPECT_EQ(dev_->queues(), 1u);
    EXPECT_EQ(io1(rw(BLKIF_OP_READ, 0, grant_page(), 1)), BLKIF_RSP_OKAY);
}

class VbdBadNumQueues : public VbdDeviceTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(VbdBadNumQueues, bad_num_queues_when_connecting_then_error_names_key_and_nothing_attached) {
    start(queues_config(4));
    blkfront_connect_queues(2, XenbusStateInitialising);  // every queue's keys there
    xs_.write(0, kVbdFe + "/multi-queue-num-queues", GetParam());
    fe_state(XenbusStateInitialised);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_NE(node(kVbdBe + "/error").find("multi-queue-num-queues"), std::string::npos) << node(kVbdBe + "/error");
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(be_.bound());
    EXPECT_EQ(dev_->stats().connections, 0u);
}

INSTANTIATE_TEST_SUITE_P(Values, VbdBadNumQueues,
                         ::testing::Values("0", "5", "17", "4294967296", "abc", "", "-1", "2 ", "0x2"));

struct MissingQueueKey {
    const char* key;  // removed under the front end's dir
    const char* error_mentions;
};

class VbdMissingQueueKey : public VbdDeviceTest, public ::testing::WithParamInterface<MissingQueueKey> {};

TEST_P(VbdMissingQueueKey, queue_key_missing_when_connecting_then_error_names_it_and_earlier_queues_dropped) {
    start(queues_config(4));
    blkfront_connect_queues(3, XenbusStateInitialising);
    xs_.rm(0, kVbdFe + "/" + GetParam().key);
    fe_state(XenbusStateInitialised);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_NE(dev_->last_error().find(GetParam().error_mentions), std::string::npos) << dev_->last_error();
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(be_.bound());
    // Recoverable by a reset, as for one queue.
    fe_state(XenbusStateClosed);
    fe_state(XenbusStateInitialising);
    EXPECT_EQ(dev_->state(), XenbusStateInitWait);
    blkfront_connect_queues(3, XenbusStateConnected);
    EXPECT_TRUE(dev_->connected()) << dev_->last_error();
    EXPECT_EQ(dev_->queues(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Keys, VbdMissingQueueKey,
                         ::testing::Values(MissingQueueKey{"queue-0/ring-ref", "queue-0/ring-ref: missing"},
                                           MissingQueueKey{"queue-1/event-channel", "queue-1/event-channel: missing"},
                                           MissingQueueKey{"queue-2/ring-ref", "queue-2/ring-ref: missing"}));

TEST_F(VbdDeviceTest, queue_ring_not_granted_when_connecting_then_error_names_queue_and_nothing_left) {
    start(queues_config(4));
    blkfront_connect_queues(3, XenbusStateInitialising);
    xs_.write(0, kVbdFe + "/queue-2/ring-ref", "999");  // never granted: queues 0 and 1 were already mapped
    fe_state(XenbusStateInitialised);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_NE(dev_->last_error().find("queue-2/ring-ref"), std::string::npos) << dev_->last_error();
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(be_.bound());
}

TEST_F(VbdDeviceTest, queue_port_not_allocated_when_connecting_then_error_names_queue) {
    start(queues_config(4));
    blkfront_connect_queues(2, XenbusStateInitialising);
    xs_.write(0, kVbdFe + "/queue-1/event-channel", "9");
    fe_state(XenbusStateInitialised);
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_NE(dev_->last_error().find("queue-1/event-channel"), std::string::npos) << dev_->last_error();
    EXPECT_FALSE(be_.bound());
    EXPECT_EQ(gt_.mapped_pages(), 0u);
}

TEST_F(VbdDeviceTest, closing_when_io_in_flight_on_several_queues_then_each_answered_before_unmap) {
    start(queues_config(4));
    blkfront_connect_queues(4, XenbusStateConnected);
    ASSERT_TRUE(dev_->connected()) << dev_->last_error();
    for (unsigned q = 0; q < 4; ++q) {
        std::vector<Request> reqs;
        for (std::uint64_t i = 0; i < 16; ++i) reqs.push_back(rw(BLKIF_OP_WRITE, (q * 16 + i) * 8, grant_page(), q * 100 + i));
        send_on(q, reqs);
    }
    xs_.write(0, kVbdFe + "/state", st(XenbusStateClosing));
    dev_->handle();  // takes every queue's requests, then sees Closing
    unsigned busy = 0;
    for (unsigned q = 0; q < 4; ++q) {
        const Blkback* ring = dev_->ring(q);
        ASSERT_NE(ring, nullptr);
        if (ring->in_flight() > 0) ++busy;
    }
    EXPECT_GT(busy, 1u);
    EXPECT_EQ(dev_->state(), XenbusStateClosing);
    for (int i = 0; i < 100 && dev_->queues() > 0; ++i) dev_->poll_once(50);
    EXPECT_EQ(dev_->queues(), 0u);
    EXPECT_EQ(dev_->ring(), nullptr);
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(be_.bound());
    for (unsigned q = 0; q < 4; ++q) {
        auto out = take(q);
        ASSERT_EQ(out.size(), 16u) << q;
        for (const Response& r : out) {
            EXPECT_EQ(r.id / 100, q);
            EXPECT_EQ(r.status, BLKIF_RSP_OKAY);
        }
    }
    // A reset brings every queue back.
    fe_state(XenbusStateClosed);
    fe_state(XenbusStateInitialising);
    blkfront_connect_queues(2, XenbusStateConnected);
    EXPECT_TRUE(dev_->connected()) << dev_->last_error();
    EXPECT_EQ(dev_->queues(), 2u);
}

TEST_F(VbdDeviceTest, ring_broken_on_one_queue_when_req_prod_lies_then_error_names_queue_and_all_dropped) {
    start(queues_config(4));
    blkfront_connect_queues(3, XenbusStateConnected);
    std::uint32_t lie = 1000;
    std::memcpy(gt_.page(kQueueFrame0 + 1), &lie, sizeof lie);
    fe_.notify(queue_port(1));
    pump();
    EXPECT_EQ(dev_->state(), XenbusStateClosed);
    EXPECT_NE(node(kVbdBe + "/error").find("queue 1 ring broken"), std::string::npos) << node(kVbdBe + "/error");
    EXPECT_EQ(gt_.mapped_pages(), 0u);
    EXPECT_FALSE(be_.bound());
}

TEST_F(VbdDeviceTest, empty_cdrom_when_multi_queue_then_each_queue_answers_errors) {
    VbdConfig cfg = queues_config(2);
    cfg.cdrom = true;
    start(cfg, false);
    blkfront_connect_queues(2, XenbusStateConnected);
    ASSERT_TRUE(dev_->connected()) << dev_->last_error();
    for (unsigned q = 0; q < 2; ++q) {
        send_on(q, {rw(BLKIF_OP_READ, 0, grant_page(), q)});
        auto out = collect_on(q, 1);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].status, BLKIF_RSP_ERROR);
    }
}
