#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/memory.h>
}

#include "grant/grant_table.hpp"

namespace xenolith::grant {
namespace {

struct alignas(kFrameSize) Page {
    std::uint8_t bytes[kFrameSize]{};
};

// The guest's physical memory as the placer sees it: RAM pages exist from
// the start (filled with a pattern), other gfns get a fresh page when a
// frame is placed there, refused gfns fail like a toolstack page.
class FakeGuest {
public:
    static constexpr std::uint8_t kRamFill = 0xa5;

    void add_ram(std::uint64_t gfn) {
        auto p = std::make_unique<Page>();
        std::memset(p->bytes, kRamFill, kFrameSize);
        pages[gfn] = std::move(p);
    }
    std::uint8_t* page(std::uint64_t gfn) {
        auto it = pages.find(gfn);
        return it == pages.end() ? nullptr : it->second->bytes;
    }
    FramePlacer placer() {
        return [this](std::uint64_t gfn, std::span<const std::uint8_t> initial,
                      std::uint8_t** host) -> long {
            ++calls;
            if (refused.count(gfn)) return -XEN_EINVAL;
            if (!pages.count(gfn)) pages[gfn] = std::make_unique<Page>();
            std::uint8_t* p = pages[gfn]->bytes;
            if (p != initial.data()) std::memmove(p, initial.data(), initial.size());
            *host = p;
            return 0;
        };
    }

    std::map<std::uint64_t, std::unique_ptr<Page>> pages;
    std::set<std::uint64_t> refused;
    unsigned calls = 0;
};

grant_entry_v1_t* v1_at(std::uint8_t* page, grant_ref_t ref) {
    return reinterpret_cast<grant_entry_v1_t*>(page) + ref % kEntriesPerFrameV1;
}

grant_entry_v2_t* v2_at(std::uint8_t* page, grant_ref_t ref) {
    return reinterpret_cast<grant_entry_v2_t*>(page) + ref % kEntriesPerFrameV2;
}

constexpr std::uint64_t kHoleA = 0x4000;  // unpopulated space
constexpr std::uint64_t kHoleB = 0x4001;
constexpr std::uint64_t kRam = 0x100;
constexpr std::uint64_t kStatusIdx = XENMAPIDX_grant_table_status;

class GrantTableTest : public ::testing::Test {
protected:
    GrantTableTest() { guest.add_ram(kRam); }

    // Maps frame `idx` at gfn and returns the guest's page for it.
    std::uint8_t* map(GrantTable& table, std::uint64_t idx, std::uint64_t gfn) {
        EXPECT_EQ(table.map_frame(idx, gfn, guest.placer()), 0);
        return guest.page(gfn);
    }

    FakeGuest guest;
    GrantTable gt{Limits{8, 1024, 2}};
};

TEST_F(GrantTableTest, new_table_is_version_1_with_one_frame_and_the_configured_limit) {
    EXPECT_EQ(gt.version(), 1u);
    EXPECT_EQ(gt.nr_frames(), 1u);
    EXPECT_EQ(gt.nr_status_frames(), 0u);
    EXPECT_EQ(gt.nr_entries(), kEntriesPerFrameV1);
    EXPECT_EQ(gt.limits().max_grant_frames, 8u);
    EXPECT_EQ(gt.frame_gfn(0), kNoGfn);
    EXPECT_EQ(gt.entry_v1(0)->flags, 0);
}

TEST(GrantTableLimits, out_of_range_limits_are_clamped_to_xens_bounds) {
    GrantTable none{Limits{0, 5000, 7}};
    EXPECT_EQ(none.limits().max_grant_frames, kInitialFrames);
    EXPECT_EQ(none.limits().max_maptrack_frames, kMaxMaptrackFramesLimit);
    EXPECT_EQ(none.limits().max_version, 2u);
    GrantTable huge{Limits{1000, 0, 0}};
    EXPECT_EQ(huge.limits().max_grant_frames, kMaxFramesLimit);
    EXPECT_EQ(huge.limits().max_version, 1u);
}

TEST_F(GrantTableTest, setup_grows_the_table_and_lists_unmapped_frames_as_invalid_gfn) {
    auto gfns = gt.setup(3);
    ASSERT_TRUE(gfns);
    EXPECT_EQ(*gfns, (std::vector<std::uint64_t>{kNoGfn, kNoGfn, kNoGfn}));
    EXPECT_EQ(gt.nr_frames(), 3u);
    map(gt, 1, kHoleA);
    EXPECT_EQ(*gt.setup(2), (std::vector<std::uint64_t>{kNoGfn, kHoleA}));
    EXPECT_EQ(gt.nr_frames(), 3u) << "the table never shrinks";
    EXPECT_TRUE(gt.setup(0)->empty());
}

TEST_F(GrantTableTest, setup_beyond_max_grant_frames_fails_and_leaves_the_table_alone) {
    EXPECT_FALSE(gt.setup(9));
    EXPECT_FALSE(gt.setup(0xffffffffu));
    EXPECT_EQ(gt.nr_frames(), 1u);
    EXPECT_TRUE(gt.setup(8));
    EXPECT_EQ(gt.nr_frames(), 8u);
}

TEST_F(GrantTableTest, mapping_a_frame_grows_the_table_up_to_it_and_no_further_than_max) {
    map(gt, 5, kHoleA);
    EXPECT_EQ(gt.nr_frames(), 6u);
    EXPECT_EQ(gt.frame_gfn(5), kHoleA);
    EXPECT_EQ(gt.map_frame(8, kHoleB, guest.placer()), -XEN_EINVAL);
    EXPECT_EQ(gt.map_frame(0xffffffffu, kHoleB, guest.placer()), -XEN_EINVAL);
    EXPECT_EQ(gt.map_frame(~std::uint64_t{0}, kHoleB, guest.placer()), -XEN_EINVAL);
    EXPECT_EQ(gt.nr_frames(), 6u);
    map(gt, 7, kHoleB);
    EXPECT_EQ(gt.nr_frames(), 8u);
}

TEST_F(GrantTableTest, index_is_truncated_to_32_bits_as_xen_passes_it_on) {
    map(gt, std::uint64_t{1} << 32, kHoleA);
    EXPECT_EQ(gt.frame_gfn(0), kHoleA);
}

TEST_F(GrantTableTest, entries_written_by_the_guest_are_read_through_the_mapped_frame) {
    std::uint8_t* page = map(gt, 0, kHoleA);
    *v1_at(page, 9) = {GTF_permit_access | GTF_readonly, 3, 0x1234};
    auto e = gt.entry_v1(9);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->flags, GTF_permit_access | GTF_readonly);
    EXPECT_EQ(e->domid, 3);
    EXPECT_EQ(e->frame, 0x1234u);
    EXPECT_FALSE(gt.entry_v2(9)) << "v2 readers refuse a v1 table";
    EXPECT_FALSE(gt.status_v2(9));
}

TEST_F(GrantTableTest, moving_a_frame_to_ram_carries_its_contents_and_leaves_the_old_page) {
    std::uint8_t* hole = map(gt, 0, kHoleA);
    *v1_at(hole, 10) = {GTF_permit_access, 0, 0x77};
    std::uint8_t* ram = map(gt, 0, kRam);
    EXPECT_EQ(gt.frame_gfn(0), kRam);
    EXPECT_EQ(v1_at(ram, 10)->frame, 0x77u) << "RAM page now shows the frame";
    EXPECT_NE(ram[kFrameSize - 1], FakeGuest::kRamFill);
    v1_at(hole, 10)->frame = 0x99;  // the old page is ordinary memory now
    EXPECT_EQ(gt.entry_v1(10)->frame, 0x77u);
    v1_at(ram, 10)->frame = 0x55;
    EXPECT_EQ(gt.entry_v1(10)->frame, 0x55u);
}

TEST_F(GrantTableTest, mapping_the_same_frame_at_the_same_gfn_again_changes_nothing) {
    std::uint8_t* page = map(gt, 0, kHoleA);
    v1_at(page, 3)->frame = 42;
    const unsigned calls = guest.calls;
    EXPECT_EQ(gt.map_frame(0, kHoleA, guest.placer()), 0);
    EXPECT_EQ(guest.calls, calls);
    EXPECT_EQ(gt.entry_v1(3)->frame, 42u);
}

TEST_F(GrantTableTest, a_frame_mapped_over_another_unhooks_it_and_keeps_its_contents) {
    std::uint8_t* page = map(gt, 0, kHoleA);
    *v1_at(page, 1) = {GTF_permit_access, 0, 0xabc};
    map(gt, 1, kHoleA);
    EXPECT_EQ(gt.frame_gfn(1), kHoleA);
    EXPECT_EQ(gt.frame_gfn(0), kNoGfn);
    EXPECT_EQ(gt.entry_v1(1)->frame, 0xabcu) << "frame 0 kept its entries";
    EXPECT_EQ(v1_at(page, kEntriesPerFrameV1 + 1)->frame, 0u) << "the gfn shows frame 1";
    v1_at(page, 5)->frame = 0xdef;  // writes there go to frame 1 now
    EXPECT_EQ(gt.entry_v1(kEntriesPerFrameV1 + 5)->frame, 0xdefu);
    EXPECT_EQ(gt.entry_v1(5)->frame, 0u);
}

TEST_F(GrantTableTest, a_refused_placement_returns_its_errno_and_changes_nothing) {
    guest.refused.insert(kHoleB);
    EXPECT_EQ(gt.map_frame(0, kHoleB, guest.placer()), -XEN_EINVAL);
    EXPECT_EQ(gt.frame_gfn(0), kNoGfn);
    map(gt, 0, kHoleA);
    guest.refused.insert(kHoleA);
    EXPECT_EQ(gt.map_frame(1, kHoleA, guest.placer()), -XEN_EINVAL);
    EXPECT_EQ(gt.frame_gfn(0), kHoleA) << "the displaced frame is put back";
    EXPECT_EQ(gt.frame_gfn(1), kNoGfn);
}

TEST_F(GrantTableTest, set_version_accepts_only_1_and_2_within_max_version) {
    EXPECT_EQ(gt.set_version(0), -XEN_EINVAL);
    EXPECT_EQ(gt.set_version(3), -XEN_EINVAL);
    EXPECT_EQ(gt.set_version(1), 0);
    EXPECT_EQ(gt.version(), 1u);
    GrantTable v1_only{Limits{4, 0, 1}};
    EXPECT_EQ(v1_only.set_version(2), -XEN_ENOSYS);
    EXPECT_EQ(v1_only.set_version(1), 0);
}

TEST_F(GrantTableTest, switching_to_v2_adds_status_frames_clears_entries_and_keeps_reserved_ones) {
    gt.setup(3);
    std::uint8_t* page = map(gt, 0, kHoleA);
    *v1_at(page, 2) = {GTF_permit_access | GTF_reading, 7, 0x5678};
    *v1_at(page, 8) = {GTF_permit_access, 7, 0x9999};
    ASSERT_EQ(gt.set_version(2), 0);
    EXPECT_EQ(gt.version(), 2u);
    EXPECT_EQ(gt.nr_status_frames(), status_frames_for(3));
    EXPECT_EQ(gt.nr_entries(), 3 * kEntriesPerFrameV2);
    EXPECT_FALSE(gt.entry_v1(2));
    auto e = gt.entry_v2(2);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->hdr.flags, GTF_permit_access) << "the status bit moved to the status frame";
    EXPECT_EQ(e->hdr.domid, 7);
    EXPECT_EQ(e->full_page.frame, 0x5678u);
    EXPECT_EQ(*gt.status_v2(2), GTF_reading);
    EXPECT_EQ(gt.entry_v2(8)->hdr.flags, 0);
    EXPECT_EQ(v1_at(page, 8)->frame, 0u) << "old entries are cleared";
    EXPECT_EQ(v2_at(page, 2)->full_page.frame, 0x5678u) << "seen by the guest";
}

TEST_F(GrantTableTest, switching_back_to_v1_folds_status_into_flags_and_drops_status_frames) {
    ASSERT_EQ(gt.set_version(2), 0);
    std::uint8_t* page = map(gt, 0, kHoleA);
    std::uint8_t* status = map(gt, kStatusIdx | 0, kHoleB);
    *v2_at(page, 1) = {};
    v2_at(page, 1)->full_page = {{GTF_permit_access, 4}, 0, 0xfeed};
    reinterpret_cast<grant_status_t*>(status)[1] = GTF_writing;
    v2_at(page, 3)->hdr.flags = GTF_accept_transfer;  // not a full-page grant: dropped
    v2_at(page, 20)->hdr.flags = GTF_permit_access;
    ASSERT_EQ(gt.set_version(1), 0);
    EXPECT_EQ(gt.nr_status_frames(), 0u);
    EXPECT_EQ(gt.status_frame_gfn(0), kNoGfn);
    auto e = gt.entry_v1(1);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->flags, GTF_permit_access | GTF_writing);
    EXPECT_EQ(e->domid, 4);
    EXPECT_EQ(e->frame, 0xfeedu);
    EXPECT_EQ(gt.entry_v1(3)->flags, 0);
    EXPECT_EQ(gt.entry_v1(40)->flags, 0);
}

TEST_F(GrantTableTest, reserved_v2_entries_without_a_v1_form_refuse_the_switch) {
    ASSERT_EQ(gt.set_version(2), 0);
    std::uint8_t* page = map(gt, 0, kHoleA);
    v2_at(page, 4)->full_page.frame = std::uint64_t{1} << 32;
    v2_at(page, 4)->hdr.flags = GTF_permit_access;
    EXPECT_EQ(gt.set_version(1), -XEN_ERANGE);
    EXPECT_EQ(gt.version(), 2u);
    EXPECT_EQ(gt.entry_v2(4)->full_page.frame, std::uint64_t{1} << 32) << "nothing cleared";
    *v2_at(page, 4) = {};
    v2_at(page, 5)->hdr.flags = GTF_transitive;
    EXPECT_EQ(gt.set_version(1), -XEN_ERANGE);
    v2_at(page, 5)->hdr.flags = 0;
    v2_at(page, 8)->hdr.flags = GTF_transitive;  // beyond the reserved ones: cleared
    EXPECT_EQ(gt.set_version(1), 0);
}

TEST_F(GrantTableTest, status_frames_map_only_in_v2_and_grow_the_table_to_need_them) {
    // v1: the status bit is just part of an (impossible) frame index.
    EXPECT_EQ(gt.map_frame(kStatusIdx | 0, kHoleA, guest.placer()), -XEN_EINVAL);
    ASSERT_EQ(gt.set_version(2), 0);
    map(gt, kStatusIdx | 0, kHoleA);
    EXPECT_EQ(gt.status_frame_gfn(0), kHoleA);
    EXPECT_EQ(gt.nr_frames(), 1u);
    // Status frame 1 needs 16 grant frames; this table has at most 8.
    EXPECT_EQ(gt.map_frame(kStatusIdx | 1, kHoleB, guest.placer()), -XEN_EINVAL);
    EXPECT_EQ(gt.map_frame(kStatusIdx | 0x7fffffff, kHoleB, guest.placer()), -XEN_EINVAL);
    EXPECT_EQ(gt.nr_frames(), 1u);

    GrantTable big{Limits{16, 0, 2}};
    ASSERT_EQ(big.set_version(2), 0);
    EXPECT_EQ(big.map_frame(kStatusIdx | 1, kHoleB, guest.placer()), 0);
    EXPECT_EQ(big.nr_frames(), 16u);
    EXPECT_EQ(big.nr_status_frames(), 2u);
}

TEST_F(GrantTableTest, status_reads_follow_the_mapped_status_frame) {
    ASSERT_EQ(gt.set_version(2), 0);
    std::uint8_t* status = map(gt, kStatusIdx | 0, kHoleA);
    reinterpret_cast<grant_status_t*>(status)[17] = GTF_reading | GTF_writing;
    EXPECT_EQ(*gt.status_v2(17), GTF_reading | GTF_writing);
}

TEST_F(GrantTableTest, growing_a_v2_table_adds_status_frames_and_a_new_v2_starts_zeroed) {
    ASSERT_EQ(gt.set_version(2), 0);
    std::uint8_t* status = map(gt, kStatusIdx | 0, kHoleA);
    reinterpret_cast<grant_status_t*>(status)[0] = GTF_reading;
    ASSERT_EQ(gt.set_version(1), 0);
    ASSERT_TRUE(gt.setup(8));
    ASSERT_EQ(gt.set_version(2), 0);
    EXPECT_EQ(gt.nr_status_frames(), 1u);
    EXPECT_EQ(gt.status_frame_gfn(0), kNoGfn) << "the guest must map it again";
    EXPECT_EQ(*gt.status_v2(0), 0);
}

TEST_F(GrantTableTest, hostile_references_read_nothing) {
    EXPECT_FALSE(gt.entry_v1(kEntriesPerFrameV1));
    EXPECT_FALSE(gt.entry_v1(0xffffffffu));
    EXPECT_FALSE(gt.entry_v1(kEntriesPerFrameV1 * kMaxFramesLimit));
    EXPECT_TRUE(gt.entry_v1(kEntriesPerFrameV1 - 1));
    ASSERT_EQ(gt.set_version(2), 0);
    EXPECT_FALSE(gt.entry_v2(kEntriesPerFrameV2));
    EXPECT_FALSE(gt.entry_v2(0x80000000u));
    EXPECT_FALSE(gt.status_v2(kEntriesPerFrameV2));
    EXPECT_FALSE(gt.status_v2(0xffffffffu));
    EXPECT_TRUE(gt.entry_v2(kEntriesPerFrameV2 - 1));
    EXPECT_TRUE(gt.status_v2(kEntriesPerFrameV2 - 1));
}

TEST_F(GrantTableTest, a_reader_never_sees_a_torn_or_lost_entry_while_the_frame_moves) {
    std::uint8_t* page = map(gt, 0, kHoleA);
    *v1_at(page, 6) = {GTF_permit_access, 5, 0x12345678};
    std::atomic<bool> stop{false};
    std::atomic<unsigned> bad{0};
    std::thread reader([&] {
        while (!stop.load()) {
            auto e = gt.entry_v1(6);
            if (!e || e->flags != GTF_permit_access || e->domid != 5 || e->frame != 0x12345678)
                ++bad;
        }
    });
    for (std::uint64_t i = 0; i < 200; ++i) map(gt, 0, 0x5000 + i % 50);
    stop = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0u);
}

}  // namespace
}  // namespace xenolith::grant
