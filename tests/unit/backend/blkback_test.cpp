// blkback's core driven as a front end would: a ring in a stand-in guest's
// memory (LocalGrantTable), a loopback event channel, a real file through
// io_uring. Hostile cases follow Linux's xen-blkback.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/blk/blkback.hpp"
#include "backend/local_evtchn.hpp"
#include "backend/local_grants.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;

namespace {

constexpr DomId kBlkFront = 5, kBlkBack = 0;
constexpr std::uint64_t kDiskSectors = 4096;  // 2 MiB

class BlkbackTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/var/tmp/blkback-test-XXXXXX";
        int fd = ::mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        path_ = tmpl;
        ASSERT_EQ(::ftruncate(fd, kDiskSectors * 512), 0);
        ::close(fd);
        LocalEventChannel::connect(be_, fe_);
    }
    void TearDown() override {
        back_.reset();
        ::unlink(path_.c_str());
    }

    void start(Config cfg = {}, unsigned ring_pages = 1, bool readonly_disk = false) {
        disk_ = UringDisk::open(DiskOpen{path_, -1, readonly_disk, true, 256}).value();
        cfg.frontend = kBlkFront;
        cfg.port = be_.bind_interdomain(kBlkFront, 1).first;
        cfg.ring_refs.clear();
        for (unsigned i = 0; i < ring_pages; ++i) {
            gt_.grant(i, i, false);
            cfg.ring_refs.push_back(i);
        }
        front_ = std::make_unique<FrontRing>(gt_.page(0), ring_pages, cfg.abi);
        auto b = Blkback::create(cfg, gt_, be_, *disk_);
        ASSERT_TRUE(b) << b.error().what;
        back_ = std::move(*b);
    }

    // A fresh guest page granted to the back end.
    GrantRef grant_page(bool readonly = false, std::size_t* frame = nullptr) {
        std::size_t f = next_frame_++;
        GrantRef ref = next_ref_++;
        gt_.grant(ref, f, readonly);
        if (frame) *frame = f;
        return ref;
    }
    std::byte* page_of(GrantRef ref) { return gt_.page(ref - 100 + 16); }

    std::vector<Response> run(const std::vector<Request>& reqs) {
        for (const Request& r : reqs) front_->queue(r);
        if (front_->push_requests()) fe_.notify(1);
        std::vector<Response> out;
        for (int spins = 0; out.size() < reqs.size() && spins < 200; ++spins) {
            while (auto r = front_->next_response()) out.push_back(*r);
            if (out.size() == reqs.size()) break;
            back_->poll_once(50);
        }
        return out;
    }
    Response run1(const Request& req) {
        auto v = run({req});
        EXPECT_EQ(v.size(), 1u);
        return v.empty() ? Response{~0ull, 0xff, 99} : v[0];
    }

    static Request rw(std::uint8_t op, std::uint64_t sector, std::initializer_list<Segment> segs,
                      std::uint64_t id = 1) {
        Request r;
        r.operation = op;
        r.id = id;
        r.sector_number = sector;
        r.nr_segments = static_cast<std::uint16_t>(segs.size());
        unsigned i = 0;
        for (const Segment& s : segs) r.seg[i++] = s;
        return r;
    }

    std::string disk_bytes(std::uint64_t offset, std::size_t len) {
        std::string s(len, '\0');
        int fd = ::open(path_.c_str(), O_RDONLY);
        EXPECT_EQ(::pread(fd, s.data(), len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
        ::close(fd);
        return s;
    }
    void put_disk_bytes(std::uint64_t offset, const std::string& s) {
        int fd = ::open(path_.c_str(), O_WRONLY);
        EXPECT_EQ(::pwrite(fd, s.data(), s.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(s.size()));
        ::close(fd);
    }

    LocalGrantTable gt_{kBlkFront, kBlkBack, 2048, 8192};
    LocalEventChannel be_, fe_;
    std::string path_;
    std::unique_ptr<UringDisk> disk_;
    std::unique_ptr<FrontRing> front_;
    std::unique_ptr<Blkback> back_;
    GrantRef next_ref_ = 100;
    std::size_t next_frame_ = 16;
};

std::string pattern(char c, std::size_t n) { return std::string(n, c); }

}  // namespace

TEST_F(BlkbackTest, write_then_read_when_full_pages_then_data_round_trips_through_disk) {
    start();
    GrantRef a = grant_page(), b = grant_page();
    std::memset(page_of(a), 'A', 4096);
    std::memset(page_of(b), 'B', 4096);
    Response w = run1(rw(BLKIF_OP_WRITE, 16, {{a, 0, 7}, {b, 0, 7}}, 11));
    EXPECT_EQ(w.id, 11u);
    EXPECT_EQ(w.operation, BLKIF_OP_WRITE);
    EXPECT_EQ(w.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(disk_bytes(16 * 512, 8192), pattern('A', 4096) + pattern('B', 4096));

    GrantRef c = grant_page();
    Response r = run1(rw(BLKIF_OP_READ, 24, {{c, 0, 7}}, 12));
    EXPECT_EQ(r.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(page_of(c)), 4096), pattern('B', 4096));
    EXPECT_EQ(back_->stats().requests, 2u);
    EXPECT_EQ(gt_.mapped_pages(), 1u);  // only the ring stays mapped
}

TEST_F(BlkbackTest, partial_segments_when_first_and_last_sect_inside_page_then_only_those_sectors) {
    start();
    GrantRef a = grant_page();
    std::memset(page_of(a), 'x', 4096);
    std::memset(page_of(a) + 512, 'y', 1024);  // sectors 1 and 2 of the page
    put_disk_bytes(0, pattern('0', 4096));
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 3, {{a, 1, 2}})).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(disk_bytes(0, 4096), pattern('0', 3 * 512) + pattern('y', 1024) + pattern('0', 3 * 512));

    GrantRef b = grant_page();
    std::memset(page_of(b), '.', 4096);
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 3, {{b, 6, 7}})).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(page_of(b)), 4096),
              pattern('.', 6 * 512) + pattern('y', 1024));
}

TEST_F(BlkbackTest, x86_32_front_end_when_writing_then_same_result_as_native) {
    Config cfg;
    cfg.abi = Abi::x86_32;
    start(cfg);
    GrantRef a = grant_page();
    std::memset(page_of(a), 'q', 4096);
    Response w = run1(rw(BLKIF_OP_WRITE, 100, {{a, 0, 7}}, 0x8000000000000001ull));
    EXPECT_EQ(w.id, 0x8000000000000001ull);
    EXPECT_EQ(w.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(disk_bytes(100 * 512, 4096), pattern('q', 4096));
}

TEST_F(BlkbackTest, multi_page_ring_when_more_requests_than_one_page_holds_then_all_answered) {
    Config cfg;
    cfg.abi = Abi::x86_64;
    start(cfg, 4);
    std::vector<Request> reqs;
    for (std::uint64_t i = 0; i < 100; ++i) {
        GrantRef g = grant_page();
        std::memset(page_of(g), static_cast<int>('a' + i % 26), 4096);
        reqs.push_back(rw(BLKIF_OP_WRITE, i * 8, {{g, 0, 7}}, i));
    }
    auto rsp = run(reqs);
    ASSERT_EQ(rsp.size(), 100u);
    for (const Response& r : rsp) EXPECT_EQ(r.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(disk_bytes(99 * 4096, 4096), pattern('a' + 99 % 26, 4096));
}

TEST_F(BlkbackTest, requests_when_more_than_in_flight_limit_then_all_answered_in_turn) {
    Config cfg;
    cfg.max_in_flight = 2;
    start(cfg);
    std::vector<Request> reqs;
    for (std::uint64_t i = 0; i < 32; ++i) reqs.push_back(rw(BLKIF_OP_READ, i, {{grant_page(), 0, 0}}, i));
    auto rsp = run(reqs);
    ASSERT_EQ(rsp.size(), 32u);
    for (const Response& r : rsp) EXPECT_EQ(r.status, BLKIF_RSP_OKAY);
    EXPECT_LE(back_->in_flight(), 2u);
}

TEST_F(BlkbackTest, indirect_write_when_64_segments_then_256_KiB_written) {
    start();
    GrantRef ind = grant_page();
    std::vector<Segment> segs;
    for (unsigned i = 0; i < 64; ++i) {
        GrantRef g = grant_page();
        std::memset(page_of(g), static_cast<int>('A' + i % 26), 4096);
        encode_indirect_segment(std::span<std::byte>(page_of(ind), 4096), i, Segment{g, 0, 7});
    }
    Request r;
    r.operation = BLKIF_OP_INDIRECT;
    r.indirect_op = BLKIF_OP_WRITE;
    r.nr_segments = 64;
    r.id = 9;
    r.sector_number = 8;
    r.indirect_grefs[0] = ind;
    Response w = run1(r);
    EXPECT_EQ(w.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(w.operation, BLKIF_OP_WRITE);  // the inner operation, as Linux answers
    EXPECT_EQ(disk_bytes(8 * 512 + 63 * 4096, 4096), pattern('A' + 63 % 26, 4096));
    EXPECT_EQ(gt_.mapped_pages(), 1u);
}

TEST_F(BlkbackTest, indirect_read_when_segments_span_two_indirect_pages_then_read) {
    start();
    put_disk_bytes(0, pattern('r', 600 * 512));
    GrantRef ind0 = grant_page(true), ind1 = grant_page(true);
    std::vector<GrantRef> data;
    for (unsigned i = 0; i < 600; ++i) {
        GrantRef g = grant_page();
        data.push_back(g);
        std::byte* page = page_of(i < 512 ? ind0 : ind1);
        encode_indirect_segment(std::span<std::byte>(page, 4096), i % 512, Segment{g, 0, 0});
    }
    Config cfg;
    Request r;
    r.operation = BLKIF_OP_INDIRECT;
    r.indirect_op = BLKIF_OP_READ;
    r.nr_segments = 600;
    r.indirect_grefs[0] = ind0;
    r.indirect_grefs[1] = ind1;
    // 600 is above the default of 256: refused...
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
    // ...and a device that offers more serves it.
    back_.reset();
    cfg.max_indirect_segments = 1024;
    start(cfg);
    EXPECT_EQ(run1(r).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(page_of(data[599])), 512), pattern('r', 512));
}

TEST_F(BlkbackTest, indirect_when_hostile_then_error_or_eopnotsupp) {
    start();
    Request r;
    r.operation = BLKIF_OP_INDIRECT;
    r.indirect_op = BLKIF_OP_DISCARD;  // only read and write go indirect
    r.nr_segments = 1;
    r.indirect_grefs[0] = grant_page();
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
    r.indirect_op = BLKIF_OP_READ;
    r.nr_segments = 0;
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
    r.nr_segments = 257;
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
    r.nr_segments = 1;
    r.indirect_grefs[0] = 7777;  // not granted
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
    // Segments in the indirect page that point at ungranted refs.
    GrantRef ind = grant_page();
    encode_indirect_segment(std::span<std::byte>(page_of(ind), 4096), 0, Segment{5000, 0, 7});
    r.indirect_grefs[0] = ind;
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
    encode_indirect_segment(std::span<std::byte>(page_of(ind), 4096), 0, Segment{grant_page(), 3, 8});
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);

    back_.reset();
    Config off;
    off.max_indirect_segments = 0;
    start(off);
    encode_indirect_segment(std::span<std::byte>(page_of(ind), 4096), 0, Segment{grant_page(), 0, 7});
    Response rsp = run1(r);
    EXPECT_EQ(rsp.status, BLKIF_RSP_EOPNOTSUPP);
    EXPECT_EQ(rsp.operation, BLKIF_OP_INDIRECT);
    EXPECT_EQ(gt_.mapped_pages(), 1u);
}

TEST_F(BlkbackTest, flush_when_no_segments_then_okay_and_with_segments_then_written) {
    start();
    EXPECT_EQ(run1(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, {})).status, BLKIF_RSP_OKAY);
    GrantRef a = grant_page();
    std::memset(page_of(a), 'f', 4096);
    Response f = run1(rw(BLKIF_OP_FLUSH_DISKCACHE, 40, {{a, 0, 7}}));
    EXPECT_EQ(f.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(f.operation, BLKIF_OP_FLUSH_DISKCACHE);
    EXPECT_EQ(disk_bytes(40 * 512, 4096), pattern('f', 4096));
}

TEST_F(BlkbackTest, barrier_when_writes_before_it_then_all_complete_in_order) {
    start();
    std::vector<Request> reqs;
    for (std::uint64_t i = 0; i < 8; ++i) {
        GrantRef g = grant_page();
        std::memset(page_of(g), static_cast<int>('0' + i), 4096);
        reqs.push_back(rw(BLKIF_OP_WRITE, 0, {{g, 0, 7}}, i));
    }
    GrantRef b = grant_page();
    std::memset(page_of(b), 'B', 4096);
    reqs.push_back(rw(BLKIF_OP_WRITE_BARRIER, 0, {{b, 0, 7}}, 8));
    reqs.push_back(rw(BLKIF_OP_WRITE_BARRIER, 0, {}, 9));
    GrantRef after = grant_page();
    std::memset(page_of(after), 'Z', 4096);
    reqs.push_back(rw(BLKIF_OP_WRITE, 8, {{after, 0, 7}}, 10));
    auto rsp = run(reqs);
    ASSERT_EQ(rsp.size(), reqs.size());
    for (const Response& r : rsp) EXPECT_EQ(r.status, BLKIF_RSP_OKAY) << r.id;
    // The barrier's write lands after every earlier write to the same sectors.
    EXPECT_EQ(disk_bytes(0, 4096), pattern('B', 4096));
    // Responses to the barrier come after those of the writes before it.
    std::size_t pos_barrier = 0;
    for (std::size_t i = 0; i < rsp.size(); ++i)
        if (rsp[i].id == 8) pos_barrier = i;
    EXPECT_EQ(pos_barrier, 8u);
}

TEST_F(BlkbackTest, discard_when_in_range_then_hole_reads_zero) {
    start();
    put_disk_bytes(0, pattern('d', 64 * 1024));
    Request d;
    d.operation = BLKIF_OP_DISCARD;
    d.id = 3;
    d.sector_number = 8;
    d.nr_sectors = 16;
    Response rsp = run1(d);
    EXPECT_EQ(rsp.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(rsp.operation, BLKIF_OP_DISCARD);
    EXPECT_EQ(disk_bytes(8 * 512, 8192), std::string(8192, '\0'));
    EXPECT_EQ(disk_bytes(0, 4096), pattern('d', 4096));
    // Secure is ignored where discard-secure is not offered (a file).
    d.discard_flag = BLKIF_DISCARD_SECURE;
    d.sector_number = 64;
    EXPECT_EQ(run1(d).status, BLKIF_RSP_OKAY);
    d.nr_sectors = 0;
    EXPECT_EQ(run1(d).status, BLKIF_RSP_OKAY);
}

TEST_F(BlkbackTest, discard_when_out_of_range_or_off_then_error_or_eopnotsupp) {
    start();
    Request d;
    d.operation = BLKIF_OP_DISCARD;
    d.sector_number = kDiskSectors - 1;
    d.nr_sectors = 2;
    EXPECT_EQ(run1(d).status, BLKIF_RSP_ERROR);
    d.sector_number = 1;
    d.nr_sectors = ~0ull;  // wraps
    EXPECT_EQ(run1(d).status, BLKIF_RSP_ERROR);
    back_.reset();
    Config off;
    off.discard = false;
    start(off);
    d.nr_sectors = 1;
    EXPECT_EQ(run1(d).status, BLKIF_RSP_EOPNOTSUPP);
}

TEST_F(BlkbackTest, readonly_device_when_written_flushed_or_discarded_then_error_and_disk_unchanged) {
    put_disk_bytes(0, pattern('o', 8192));
    Config cfg;
    cfg.readonly = true;
    start(cfg, 1, false);  // the disk fd could write: the device must not
    GrantRef a = grant_page();
    std::memset(page_of(a), 'w', 4096);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 0, {{a, 0, 7}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE_BARRIER, 0, {{a, 0, 7}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, {{a, 0, 7}})).status, BLKIF_RSP_ERROR);
    Request ind;
    ind.operation = BLKIF_OP_INDIRECT;
    ind.indirect_op = BLKIF_OP_WRITE;
    ind.nr_segments = 1;
    GrantRef ip = grant_page();
    encode_indirect_segment(std::span<std::byte>(page_of(ip), 4096), 0, Segment{a, 0, 7});
    ind.indirect_grefs[0] = ip;
    EXPECT_EQ(run1(ind).status, BLKIF_RSP_ERROR);
    Request d;
    d.operation = BLKIF_OP_DISCARD;
    d.nr_sectors = 8;
    EXPECT_EQ(run1(d).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(disk_bytes(0, 8192), pattern('o', 8192));
    GrantRef b = grant_page();
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{b, 0, 7}})).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(page_of(b)), 4096), pattern('o', 4096));
}

TEST_F(BlkbackTest, writable_device_when_disk_opened_readonly_then_refused_at_create) {
    disk_ = UringDisk::open(DiskOpen{path_, -1, true, true, 16}).value();
    gt_.grant(0, 0, false);
    Config cfg;
    cfg.frontend = kBlkFront;
    cfg.ring_refs = {0};
    EXPECT_FALSE(Blkback::create(cfg, gt_, be_, *disk_));
}

TEST_F(BlkbackTest, segment_counts_when_zero_or_above_eleven_then_error) {
    start();
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 0, {})).status, BLKIF_RSP_ERROR);
    Request r = rw(BLKIF_OP_READ, 0, {{grant_page(), 0, 0}});
    r.nr_segments = 12;
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
    r.nr_segments = 255;
    EXPECT_EQ(run1(r).status, BLKIF_RSP_ERROR);
}

TEST_F(BlkbackTest, sector_bounds_when_out_of_page_or_reversed_then_error) {
    start();
    GrantRef g = grant_page();
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{g, 0, 8}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{g, 5, 4}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{g, 0, 7}, {g, 255, 255}})).status, BLKIF_RSP_ERROR);
}

TEST_F(BlkbackTest, sector_range_when_past_end_or_overflowing_then_error_and_nothing_written) {
    start();
    GrantRef g = grant_page();
    std::memset(page_of(g), 'p', 4096);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, kDiskSectors - 7, {{g, 0, 7}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, kDiskSectors, {{g, 0, 0}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, ~0ull - 3, {{g, 0, 7}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, ~0ull >> 9, {{g, 0, 7}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, kDiskSectors - 8, {{g, 0, 7}})).status, BLKIF_RSP_OKAY);
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), kDiskSectors * 512);
}

TEST_F(BlkbackTest, grant_refs_when_not_granted_foreign_or_readonly_for_read_then_error) {
    start();
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{4000, 0, 7}})).status, BLKIF_RSP_ERROR);   // unset entry
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{1u << 30, 0, 7}})).status, BLKIF_RSP_ERROR);  // past the table
    gt_.grant_to(4001, 30, 9, GTF_permit_access);  // granted to another domain
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 0, {{4001, 0, 7}})).status, BLKIF_RSP_ERROR);
    // A read writes into the buffer: a read-only grant cannot take it...
    GrantRef ro = grant_page(true);
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{ro, 0, 7}})).status, BLKIF_RSP_ERROR);
    // ...but can be the source of a write.
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 0, {{ro, 0, 7}})).status, BLKIF_RSP_OKAY);
    // One bad ref among good ones fails the request and leaks no mapping.
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{grant_page(), 0, 7}, {4000, 0, 7}})).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(gt_.mapped_pages(), 1u);
}

TEST_F(BlkbackTest, unknown_operations_when_received_then_eopnotsupp_with_id_echoed) {
    start();
    for (std::uint8_t op : {std::uint8_t{BLKIF_OP_RESERVED_1}, std::uint8_t{7}, std::uint8_t{200}}) {
        Request r;
        r.operation = op;
        r.id = 0xdead0000u + op;
        Response rsp = run1(r);
        EXPECT_EQ(rsp.status, BLKIF_RSP_EOPNOTSUPP);
        EXPECT_EQ(rsp.operation, op);
        EXPECT_EQ(rsp.id, 0xdead0000u + op);
    }
    EXPECT_EQ(back_->stats().unsupported, 3u);
}

TEST_F(BlkbackTest, lying_req_prod_when_published_then_ring_halted_without_answers) {
    start();
    *reinterpret_cast<std::uint32_t*>(gt_.page(0)) = 1000;
    fe_.notify(1);
    back_->poll_once(100);
    EXPECT_TRUE(back_->broken());
    EXPECT_EQ(back_->stats().requests, 0u);
    EXPECT_FALSE(front_->next_response());
}

TEST_F(BlkbackTest, req_prod_when_a_ring_past_answered_requests_then_halted_not_reused) {
    start();
    // The front end publishes a ring's worth more than the back end has
    // answered: taking them would read slots that hold responses.
    std::vector<Request> reqs;
    for (std::uint64_t i = 0; i < 32; ++i) reqs.push_back(rw(BLKIF_OP_READ, 0, {{grant_page(), 0, 0}}, i));
    auto rsp = run(reqs);
    EXPECT_EQ(rsp.size(), 32u);
    auto* prod = reinterpret_cast<std::uint32_t*>(gt_.page(0));
    *prod += 33;  // one more than the ring holds past the responses
    fe_.notify(1);
    back_->poll_once(100);
    EXPECT_TRUE(back_->broken());
    EXPECT_EQ(back_->stats().requests, 32u);
}

TEST_F(BlkbackTest, persistent_grants_when_reused_then_mapped_once_and_data_still_right) {
    Config cfg;
    cfg.persistent = true;
    start(cfg);
    GrantRef a = grant_page();
    std::memset(page_of(a), '1', 4096);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 0, {{a, 0, 7}})).status, BLKIF_RSP_OKAY);
    std::memset(page_of(a), '2', 4096);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 8, {{a, 0, 7}})).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(disk_bytes(0, 8192), pattern('1', 4096) + pattern('2', 4096));
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{a, 0, 7}})).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(page_of(a)), 4096), pattern('1', 4096));
    EXPECT_EQ(back_->persistent_grants(), 1u);
    EXPECT_EQ(gt_.mapped_pages(), 2u);  // the ring and the kept grant
    back_.reset();
    EXPECT_EQ(gt_.mapped_pages(), 0u);
}

TEST_F(BlkbackTest, persistent_grants_when_readonly_or_over_limit_then_per_request_mapping) {
    Config cfg;
    cfg.persistent = true;
    cfg.max_persistent_grants = 2;
    start(cfg);
    GrantRef ro = grant_page(true);
    std::memset(page_of(ro), 'r', 4096);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 0, {{ro, 0, 7}})).status, BLKIF_RSP_OKAY);  // falls back
    EXPECT_EQ(run1(rw(BLKIF_OP_READ, 0, {{ro, 0, 7}})).status, BLKIF_RSP_ERROR);  // still no writes into it
    EXPECT_EQ(back_->persistent_grants(), 0u);
    std::vector<Request> reqs;
    for (std::uint64_t i = 0; i < 6; ++i) reqs.push_back(rw(BLKIF_OP_READ, i, {{grant_page(), 0, 0}}, i));
    auto rsp = run(reqs);
    ASSERT_EQ(rsp.size(), 6u);
    for (const Response& r : rsp) EXPECT_EQ(r.status, BLKIF_RSP_OKAY);
    EXPECT_EQ(back_->persistent_grants(), 2u);
    EXPECT_EQ(gt_.mapped_pages(), 3u);
}

TEST_F(BlkbackTest, persistent_indirect_when_1_MiB_read_then_indirect_page_kept_too) {
    Config cfg;
    cfg.persistent = true;
    start(cfg);
    put_disk_bytes(0, pattern('m', 1 << 20));
    GrantRef ind = grant_page();
    std::vector<GrantRef> data;
    for (unsigned i = 0; i < 256; ++i) {
        data.push_back(grant_page());
        encode_indirect_segment(std::span<std::byte>(page_of(ind), 4096), i, Segment{data.back(), 0, 7});
    }
    Request r;
    r.operation = BLKIF_OP_INDIRECT;
    r.indirect_op = BLKIF_OP_READ;
    r.nr_segments = 256;
    r.indirect_grefs[0] = ind;
    EXPECT_EQ(run1(r).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(run1(r).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(page_of(data[255])), 4096), pattern('m', 4096));
    EXPECT_EQ(back_->persistent_grants(), 257u);
}

// A block device: a loop device over the test's file when the host lets us
// make one (root, /dev/loop-control), else skipped.
TEST_F(BlkbackTest, block_device_when_loop_device_then_sized_by_ioctl_and_served) {
    int ctl = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) GTEST_SKIP() << "no /dev/loop-control";
    int n = ::ioctl(ctl, LOOP_CTL_GET_FREE);
    ::close(ctl);
    std::string dev = "/dev/loop" + std::to_string(n);
    int backing = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    int loop = n < 0 ? -1 : ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
    if (loop < 0 || ::ioctl(loop, LOOP_SET_FD, backing) != 0) {
        if (loop >= 0) ::close(loop);
        ::close(backing);
        GTEST_SKIP() << "cannot set up " << dev;
    }
    ::close(backing);
    std::string file = path_;
    path_ = dev;
    start();
    path_ = file;
    EXPECT_TRUE(disk_->block_device());
    EXPECT_EQ(back_->sectors(), kDiskSectors);
    GrantRef a = grant_page();
    std::memset(page_of(a), 'L', 4096);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, 32, {{a, 0, 7}})).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(run1(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, {})).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(run1(rw(BLKIF_OP_WRITE, kDiskSectors - 4, {{a, 0, 7}})).status, BLKIF_RSP_ERROR);
    back_.reset();
    disk_.reset();
    ::ioctl(loop, LOOP_CLR_FD, 0);
    ::close(loop);
    EXPECT_EQ(disk_bytes(32 * 512, 4096), pattern('L', 4096));
}
