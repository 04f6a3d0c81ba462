// The real xenolith-blkback binary, launched as xenolithd launches it
// (sandbox, link, scoped xenstore connection, supervisor), driven through a
// real ring by the host front-end harness.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/blk/queues.hpp"
#include "backend/harness/blkfront_harness.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::harness;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kDiskBytes = 8 << 20;

class BlkbackProcess : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenolith-blkproc.XXXXXX";
        int fd = ::mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        path_ = tmpl;
        ASSERT_EQ(::ftruncate(fd, kDiskBytes), 0);
        ::close(fd);
    }
    void TearDown() override { ::unlink(path_.c_str()); }

    HarnessOptions options() const {
        HarnessOptions o;
        o.disk = path_;
        o.binary = XENOLITH_BLKBACK_BINARY;
        o.guest_pages = 256;
        o.restart.first_backoff = 10ms;
        o.restart.max_backoff = 50ms;
        return o;
    }
    std::unique_ptr<BlkfrontHarness> start(const HarnessOptions& o) {
        auto h = BlkfrontHarness::start(o);
        EXPECT_TRUE(h) << (h ? "" : h.error().what);
        return h ? std::move(h).value() : nullptr;
    }
    std::vector<std::byte> file_bytes(std::size_t offset, std::size_t len) const {
        std::vector<std::byte> out(len);
        int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_EQ(::pread(fd, out.data(), len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
        ::close(fd);
        return out;
    }
    static void fill(BlkfrontHarness& h, unsigned frame, unsigned pages, unsigned char seed) {
        for (unsigned p = 0; p < pages; ++p)
            for (std::size_t i = 0; i < kXenPageSize; ++i)
                h.guest().page(frame + p)[i] = std::byte(static_cast<unsigned char>(seed + p * 7 + i));
    }

    std::string path_;
};

TEST_F(BlkbackProcess, write_then_read_when_connected_then_disk_and_guest_hold_the_data) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    EXPECT_EQ(h->sectors(), kDiskBytes / 512);
    EXPECT_GT(h->backend_pid(), 0);
    fill(*h, 16, 4, 0x21);
    auto w = h->io(BLKIF_OP_WRITE, 2048, 16, 4);
    ASSERT_TRUE(w) << w.error().what;
    EXPECT_EQ(*w, BLKIF_RSP_OKAY);
    // On the disk, at sector 2048.
    auto on_disk = file_bytes(2048 * 512, 4 * kXenPageSize);
    EXPECT_EQ(std::memcmp(on_disk.data(), h->guest().page(16), on_disk.size()), 0);
    // And back into other guest frames.
    auto r = h->io(BLKIF_OP_READ, 2048, 40, 4);
    ASSERT_TRUE(r && *r == BLKIF_RSP_OKAY);
    EXPECT_EQ(std::memcmp(h->guest().page(40), h->guest().page(16), 4 * kXenPageSize), 0);
    auto f = h->io(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0);
    ASSERT_TRUE(f);
    EXPECT_EQ(*f, BLKIF_RSP_OKAY);
    // Past the end of the disk: an error, and the device still serves.
    auto past = h->io(BLKIF_OP_READ, kDiskBytes / 512, 40, 1);
    ASSERT_TRUE(past);
    EXPECT_EQ(*past, BLKIF_RSP_ERROR);
    EXPECT_EQ(h->deaths(), 0u);
}

TEST_F(BlkbackProcess, multi_page_ring_when_negotiated_then_serves) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect(2, false).ok());
    fill(*h, 64, 11, 3);
    auto w = h->io(BLKIF_OP_WRITE, 0, 64, 11);
    ASSERT_TRUE(w && *w == BLKIF_RSP_OKAY);
    auto on_disk = file_bytes(0, 11 * kXenPageSize);
    EXPECT_EQ(std::memcmp(on_disk.data(), h->guest().page(64), on_disk.size()), 0);
}

TEST_F(BlkbackProcess, readonly_disk_when_written_then_error_and_file_unchanged) {
    auto o = options();
    o.readonly = true;
    auto h = start(o);
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    EXPECT_EQ(h->read(h->backend_path() + "/info"), std::to_string(VDISK_READONLY));
    fill(*h, 16, 1, 0x77);
    auto w = h->io(BLKIF_OP_WRITE, 0, 16, 1);
    ASSERT_TRUE(w);
    EXPECT_EQ(*w, BLKIF_RSP_ERROR);
    auto on_disk = file_bytes(0, kXenPageSize);
    EXPECT_EQ(on_disk, std::vector<std::byte>(kXenPageSize));
    auto r = h->io(BLKIF_OP_READ, 0, 20, 1);
    ASSERT_TRUE(r && *r == BLKIF_RSP_OKAY);
}

// A back-end killed mid-I/O: the guest's pages are released at once, the
// device goes Closed (errors, not a hang), the supervisor relaunches it and
// a front end that resets reconnects and finds its data.
TEST_F(BlkbackProcess, backend_killed_mid_io_when_frontend_resets_then_closed_released_relaunched_reconnected) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect(0, true).ok());
    fill(*h, 16, 8, 0x42);
    auto w = h->io(BLKIF_OP_WRITE, 512, 16, 8);
    ASSERT_TRUE(w && *w == BLKIF_RSP_OKAY);
    EXPECT_GT(h->pins_held(), 0u) << "persistent grants stay mapped while connected";

    // Requests in flight, then the process dies.
    for (unsigned i = 0; i < 16; ++i) {
        xenolith::backend::blk::Request r;
        r.operation = BLKIF_OP_READ;
        r.id = 1000 + i;
        r.sector_number = i * 8;
        r.nr_segments = 1;
        r.seg[0] = {100 + i, 0, 7};
        h->ring().queue(r);
    }
    pid_t pid = h->backend_pid();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    h->push();

    ASSERT_TRUE(h->wait_backend_state(XenbusStateClosed, 5s)) << "device must close, not hang";
    EXPECT_EQ(h->deaths(), 1u);
    EXPECT_EQ(h->guest().pins_held(), 0u) << "the dead back-end's grants are released";
    EXPECT_EQ(h->guest().flags(16) & (GTF_reading | GTF_writing), 0);

    // The front end sees Closed and resets, as Linux's blkfront does.
    h->set_frontend_state(XenbusStateClosing);
    h->set_frontend_state(XenbusStateClosed);
    h->set_frontend_state(XenbusStateInitialising);
    auto reconnected = h->connect(0, true, 10s);
    ASSERT_TRUE(reconnected.ok()) << reconnected.error().what;
    EXPECT_EQ(h->restarts(), 1u);
    EXPECT_NE(h->backend_pid(), pid);
    auto r = h->io(BLKIF_OP_READ, 512, 60, 8);
    ASSERT_TRUE(r && *r == BLKIF_RSP_OKAY);
    EXPECT_EQ(std::memcmp(h->guest().page(60), h->guest().page(16), 8 * kXenPageSize), 0);
}

TEST_F(BlkbackProcess, device_removed_when_online_zero_and_frontend_closes_then_process_exits_not_relaunched) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    h->write(h->backend_path() + "/online", "0");
    ASSERT_TRUE(h->disconnect().ok());
    ASSERT_TRUE(h->wait_backend_state(XenbusStateClosed, 5s));
    for (int i = 0; i < 200 && h->backend_pid() > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(h->backend_pid(), -1) << "exited";
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(h->restarts(), 0u) << "a finished back-end is not relaunched";
    EXPECT_EQ(h->pins_held(), 0u);
}

TEST_F(BlkbackProcess, in_process_mode_when_connected_then_same_code_serves) {
    auto o = options();
    o.in_process = true;
    auto h = start(o);
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->connect().ok());
    fill(*h, 16, 2, 9);
    auto w = h->io(BLKIF_OP_WRITE, 8, 16, 2);
    ASSERT_TRUE(w && *w == BLKIF_RSP_OKAY);
    auto r = h->io(BLKIF_OP_READ, 8, 30, 2);
    ASSERT_TRUE(r && *r == BLKIF_RSP_OKAY);
    EXPECT_EQ(std::memcmp(h->guest().page(30), h->guest().page(16), 2 * kXenPageSize), 0);
}

}  // namespace

// Multi-queue through the real process: each queue its own ring, port,
// persistent grants and io_uring inside the sandbox (twins of the disk fd).
TEST_F(BlkbackProcess, four_queues_when_negotiated_then_each_queue_serves_its_own_ring) {
    auto o = options();
    o.max_queues = 4;
    auto h = start(o);
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->wait_backend_state(XenbusStateInitWait));
    EXPECT_EQ(h->read(h->backend_path() + "/multi-queue-max-queues").value_or(""), "4");
    auto st = h->connect(1, true, 10s, 4);  // rings on frames 0..7
    ASSERT_TRUE(st.ok()) << st.error().what;
    ASSERT_EQ(h->queues(), 4u);
    for (unsigned q = 0; q < 4; ++q) {
        const unsigned frame = 16 + 8 * q;
        fill(*h, frame, 2, static_cast<unsigned char>(0x40 + q));
        auto w = h->io(BLKIF_OP_WRITE, 64 * q, frame, 2, 10s, q);
        ASSERT_TRUE(w) << w.error().what;
        EXPECT_EQ(*w, BLKIF_RSP_OKAY) << q;
        auto on_disk = file_bytes(64 * q * 512, 2 * kXenPageSize);
        EXPECT_EQ(std::memcmp(on_disk.data(), h->guest().page(frame), on_disk.size()), 0) << q;
        auto r = h->io(BLKIF_OP_READ, 64 * q, frame + 4, 2, 10s, q);
        ASSERT_TRUE(r && *r == BLKIF_RSP_OKAY) << q;
        EXPECT_EQ(std::memcmp(h->guest().page(frame + 4), h->guest().page(frame), 2 * kXenPageSize), 0) << q;
    }

    // Every queue at once: requests on all four rings pushed together,
    // each answered on its own ring.
    for (unsigned q = 0; q < 4; ++q) {
        for (unsigned i = 0; i < 4; ++i) {
            blk::Request r;
            r.operation = BLKIF_OP_WRITE;
            r.id = 1000 * (q + 1) + i;
            r.sector_number = 4096 + 8 * (4 * q + i);
            r.nr_segments = 1;
            r.seg[0] = blk::Segment{static_cast<GrantRef>(64 + 4 * q + i), 0, 7};
            h->ring(q).queue(r);
        }
    }
    for (unsigned q = 0; q < 4; ++q) h->push(q);
    unsigned answered[4] = {};
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (answered[0] + answered[1] + answered[2] + answered[3] < 16 && std::chrono::steady_clock::now() < deadline) {
        for (unsigned q = 0; q < 4; ++q) {
            while (auto rsp = h->ring(q).next_response()) {
                EXPECT_EQ(rsp->id / 1000, q + 1);
                EXPECT_EQ(rsp->status, BLKIF_RSP_OKAY);
                ++answered[q];
            }
            h->ring(q).final_check_for_responses();
        }
        h->wait_event(50ms);
    }
    for (unsigned q = 0; q < 4; ++q) EXPECT_EQ(answered[q], 4u) << q;

    ASSERT_TRUE(h->disconnect().ok());
    ASSERT_TRUE(h->wait_backend_state(XenbusStateClosed));
    for (int i = 0; i < 100 && h->pins_held() != 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(h->pins_held(), 0u);  // every queue's ring and persistent grants released
    EXPECT_EQ(h->deaths(), 0u);
}

TEST_F(BlkbackProcess, two_queues_when_default_offer_then_launcher_resolves_host_default) {
    auto h = start(options());
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->wait_backend_state(XenbusStateInitWait));
    const unsigned offered = blk::default_max_queues();
    if (offered > 1) {
        EXPECT_EQ(h->read(h->backend_path() + "/multi-queue-max-queues").value_or(""), std::to_string(offered));
    }
    const unsigned queues = std::min(offered, 2u);
    auto st = h->connect(0, false, 10s, queues);
    ASSERT_TRUE(st.ok()) << st.error().what;
    for (unsigned q = 0; q < queues; ++q) {
        auto w = h->io(BLKIF_OP_WRITE, 8 * q, 16 + q, 1, 10s, q);
        ASSERT_TRUE(w && *w == BLKIF_RSP_OKAY) << q;
    }
}

TEST_F(BlkbackProcess, num_queues_above_offer_when_connecting_then_error_names_key) {
    auto o = options();
    o.max_queues = 2;
    auto h = start(o);
    ASSERT_TRUE(h);
    auto st = h->connect(0, false, 2s, 3);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(h->read(h->backend_path() + "/error").value_or("").find("multi-queue-num-queues"), std::string::npos)
        << h->read(h->backend_path() + "/error").value_or("");
    EXPECT_EQ(h->deaths(), 0u);
}
