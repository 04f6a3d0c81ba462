// GNTTABOP_copy: Xen 4.17's gnttab_copy() per-op statuses, grant and frame
// sides, sub-page grants, and the back-end helpers.
#include <array>
#include <atomic>
#include <chrono>
#include <thread>

#include "grant/grant_copy.hpp"
#include "grant/grant_mapper.hpp"
#include "grant_fixture.hpp"

namespace xenolith::grant::test {
namespace {

constexpr domid_t kFront = 3;  // grants
constexpr domid_t kBack = 4;   // copies

class GrantCopyTest : public ::testing::Test {
protected:
    Domains domains;
    TestDomain& front = domains.add(kFront);
    TestDomain& back = domains.add(kBack);

    static gnttab_copy_t grant_to_grant(domid_t sdom, grant_ref_t sref, std::uint16_t soff,
                                        domid_t ddom, grant_ref_t dref, std::uint16_t doff,
                                        std::uint16_t len) {
        gnttab_copy_t op{};
        op.source.domid = sdom;
        op.source.u.ref = sref;
        op.source.offset = soff;
        op.dest.domid = ddom;
        op.dest.u.ref = dref;
        op.dest.offset = doff;
        op.len = len;
        op.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
        return op;
    }
    std::int16_t copy(const gnttab_copy_t& op, domid_t self = kBack) {
        return copy_one(op, self, domains.lookup());
    }
};

TEST_F(GrantCopyTest, grant_to_own_frame_copies_and_leaves_no_trace) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access | GTF_readonly);
    std::memset(front.page(kDataGfn), 0x11, kPageSize);
    gnttab_copy_t op = grant_to_grant(kFront, 10, 100, DOMID_SELF, 0, 200, 300);
    op.dest.u.gmfn = kDataGfn + 5;
    op.flags = GNTCOPY_source_gref;
    ASSERT_EQ(copy(op), GNTST_okay);
    EXPECT_EQ(back.page(kDataGfn + 5)[199], 0);
    EXPECT_EQ(back.page(kDataGfn + 5)[200], 0x11);
    EXPECT_EQ(back.page(kDataGfn + 5)[499], 0x11);
    EXPECT_EQ(back.page(kDataGfn + 5)[500], 0);
    EXPECT_EQ(front.flags(10), GTF_permit_access | GTF_readonly);
    EXPECT_FALSE(front.table.any_pinned());
    EXPECT_EQ(front.mem->frame_holds(kDataGfn), 0u);
    EXPECT_EQ(back.mem->frame_holds(kDataGfn + 5), 0u);
}

TEST_F(GrantCopyTest, own_frame_to_a_writable_grant) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    std::memset(back.page(kDataGfn), 0x22, kPageSize);
    gnttab_copy_t op = grant_to_grant(DOMID_SELF, 0, 0, kFront, 10, 0, kPageSize);
    op.source.u.gmfn = kDataGfn;
    op.flags = GNTCOPY_dest_gref;
    ASSERT_EQ(copy(op), GNTST_okay);
    EXPECT_EQ(front.page(kDataGfn)[4095], 0x22);
    EXPECT_EQ(front.flags(10), GTF_permit_access);
}

TEST_F(GrantCopyTest, frames_written_for_the_guest_are_marked_for_a_live_migration) {
    // Each domain's memory logs what changes outside KVM's sight.
    DirtyBitmap front_log(front.mem->max_ram_gfn() + 1), back_log(back.mem->max_ram_gfn() + 1);
    front.mem->set_dirty_log(&front_log);
    back.mem->set_dirty_log(&back_log);
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    front.grant(11, kBack, kDataGfn + 1, GTF_permit_access | GTF_readonly);
    // Into the front end's writable grant: its frame is dirty.
    gnttab_copy_t op = grant_to_grant(DOMID_SELF, 0, 0, kFront, 10, 0, 64);
    op.source.u.gmfn = kDataGfn + 7;
    op.flags = GNTCOPY_dest_gref;
    ASSERT_EQ(copy(op), GNTST_okay);
    // Out of a read-only grant into the back end's own frame: only that one.
    gnttab_copy_t in = grant_to_grant(kFront, 11, 0, DOMID_SELF, 0, 0, 64);
    in.dest.u.gmfn = kDataGfn + 9;
    in.flags = GNTCOPY_source_gref;
    ASSERT_EQ(copy(in), GNTST_okay);
    EXPECT_EQ(front_log.take(), std::vector<std::uint64_t>{kDataGfn});
    EXPECT_EQ(back_log.take(), std::vector<std::uint64_t>{kDataGfn + 9});
    front.mem->set_dirty_log(nullptr);
    back.mem->set_dirty_log(nullptr);
}

TEST_F(GrantCopyTest, a_guest_copies_between_two_of_its_own_grants) {
    // Both granted to itself, as guests/tests/gnttab.c does.
    front.grant(10, kFront, kDataGfn, GTF_permit_access | GTF_readonly);
    front.grant(11, kFront, kDataGfn + 1, GTF_permit_access);
    front.page(kDataGfn)[7] = 0x99;
    ASSERT_EQ(copy(grant_to_grant(DOMID_SELF, 10, 0, kFront, 11, 0, 8), kFront), GNTST_okay);
    EXPECT_EQ(front.page(kDataGfn + 1)[7], 0x99);
}

TEST_F(GrantCopyTest, a_readonly_destination_grant_is_refused_untouched) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access | GTF_readonly);
    back.grant(1, kBack, kDataGfn, GTF_permit_access);
    gnttab_copy_t op = grant_to_grant(kBack, 1, 0, kFront, 10, 0, 16);
    EXPECT_EQ(copy(op), GNTST_general_error);
    EXPECT_EQ(front.page(kDataGfn)[0], 0);
    EXPECT_EQ(front.flags(10), GTF_permit_access | GTF_readonly);
    EXPECT_EQ(back.flags(1), GTF_permit_access) << "the source was released too";
    EXPECT_FALSE(back.table.any_pinned());
}

TEST_F(GrantCopyTest, ranges_crossing_the_page_are_bad_copy_args) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    front.grant(11, kBack, kDataGfn + 1, GTF_permit_access);
    EXPECT_EQ(copy(grant_to_grant(kFront, 10, 4000, kFront, 11, 0, 97)), GNTST_bad_copy_arg);
    EXPECT_EQ(copy(grant_to_grant(kFront, 10, 0, kFront, 11, 4095, 2)), GNTST_bad_copy_arg);
    EXPECT_EQ(copy(grant_to_grant(kFront, 10, 0xffff, kFront, 11, 0, 0xffff)),
              GNTST_bad_copy_arg);
    EXPECT_EQ(copy(grant_to_grant(kFront, 10, 4096, kFront, 11, 0, 0)), GNTST_okay)
        << "an empty copy at the end of the page is in bounds, as on Xen";
    EXPECT_EQ(copy(grant_to_grant(kFront, 10, 4000, kFront, 11, 0, 96)), GNTST_okay);
    EXPECT_EQ(front.flags(10), GTF_permit_access);
    EXPECT_EQ(front.flags(11), GTF_permit_access);
}

TEST_F(GrantCopyTest, domain_and_reference_errors) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    EXPECT_EQ(copy(grant_to_grant(9, 10, 0, kFront, 10, 0, 8)), GNTST_bad_domain);
    EXPECT_EQ(copy(grant_to_grant(kFront, 10, 0, DOMID_IO, 10, 0, 8)), GNTST_bad_domain);
    EXPECT_EQ(copy(grant_to_grant(kFront, 5000, 0, kFront, 10, 0, 8)), GNTST_bad_gntref);
    EXPECT_EQ(copy(grant_to_grant(kFront, 10, 0, kFront, 5000, 0, 8)), GNTST_bad_gntref);
    front.grant(11, kBack + 1, kDataGfn, GTF_permit_access);  // someone else's
    EXPECT_EQ(copy(grant_to_grant(kFront, 11, 0, kFront, 10, 0, 8)), GNTST_general_error);
    front.grant(12, kBack, 0x7ffff, GTF_permit_access);  // not its memory
    EXPECT_EQ(copy(grant_to_grant(kFront, 12, 0, kFront, 10, 0, 8)), GNTST_bad_page);
    EXPECT_EQ(front.flags(10), GTF_permit_access);
    EXPECT_EQ(front.flags(12), GTF_permit_access) << "status backed out";
    EXPECT_FALSE(front.table.any_pinned());
}

TEST_F(GrantCopyTest, frame_sides_must_be_domid_self) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    gnttab_copy_t op = grant_to_grant(kFront, 10, 0, kBack, 0, 0, 8);
    op.dest.u.gmfn = kDataGfn;
    op.flags = GNTCOPY_source_gref;
    EXPECT_EQ(copy(op), GNTST_permission_denied) << "even the caller's own id";
    op.dest.domid = kFront;
    EXPECT_EQ(copy(op), GNTST_permission_denied) << "another domain's frame";
    op.dest.domid = DOMID_SELF;
    op.dest.u.gmfn = 0x7ffff;
    EXPECT_EQ(copy(op), GNTST_bad_page);
    op.dest.u.gmfn = kDataGfn;
    EXPECT_EQ(copy(op), GNTST_okay);
    // The source's domain is checked first.
    op.source.domid = 9;
    op.dest.domid = kBack;
    EXPECT_EQ(copy(op), GNTST_bad_domain);
}

TEST_F(GrantCopyTest, v2_sub_page_grants_bound_the_copy) {
    front.use_v2();
    front.grant_sub_page(10, kBack, kDataGfn, 1024, 512, GTF_permit_access);
    std::memset(front.page(kDataGfn), 0x5c, kPageSize);
    gnttab_copy_t op = grant_to_grant(kFront, 10, 1024, DOMID_SELF, 0, 0, 512);
    op.dest.u.gmfn = kDataGfn;
    op.flags = GNTCOPY_source_gref;
    EXPECT_EQ(copy(op), GNTST_okay);
    EXPECT_EQ(back.page(kDataGfn)[511], 0x5c);
    op.source.offset = 1023;
    EXPECT_EQ(copy(op), GNTST_general_error) << "starts before the granted range";
    op.source.offset = 1025;
    EXPECT_EQ(copy(op), GNTST_general_error) << "ends after it";
    EXPECT_EQ(*front.status(10), 0);
    // While a copy holds the sub-page entry, it cannot be mapped.
    GrantMapper mapper{kBack, 1, domains.lookup()};
    Mapping m;
    EXPECT_EQ(mapper.map(kFront, 10, GNTMAP_host_map | GNTMAP_readonly, &m),
              GNTST_general_error);
}

TEST_F(GrantCopyTest, v2_transitive_grants_are_refused_and_leave_the_status_clear) {
    front.use_v2();
    front.v2(11)->transitive.trans_domid = kBack;
    front.v2(11)->transitive.gref = 1;
    front.v2(11)->hdr.domid = kBack;
    __atomic_store_n(&front.v2(11)->hdr.flags, std::uint16_t{GTF_transitive}, __ATOMIC_RELEASE);
    gnttab_copy_t op = grant_to_grant(kFront, 11, 0, DOMID_SELF, 0, 0, 8);
    op.dest.u.gmfn = kDataGfn;
    op.flags = GNTCOPY_source_gref;
    EXPECT_EQ(copy(op), GNTST_general_error);
    EXPECT_EQ(*front.status(11), 0);
    EXPECT_FALSE(front.table.any_pinned());
}

TEST_F(GrantCopyTest, a_copy_shares_an_entry_with_a_mapping_by_the_same_domain) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    GrantMapper mapper{kBack, 1, domains.lookup()};
    Mapping m;
    ASSERT_EQ(mapper.map(kFront, 10, GNTMAP_host_map | GNTMAP_readonly, &m), GNTST_okay);
    std::array<std::uint8_t, 4> data{1, 2, 3, 4};
    EXPECT_EQ(copy_to_grant(kBack, kFront, 10, 0, data, domains.lookup()), GNTST_okay);
    EXPECT_EQ(front.flags(10), GTF_permit_access | GTF_reading) << "the write pin went";
    EXPECT_EQ(m.host[3], 4);
    ASSERT_EQ(mapper.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(front.flags(10), GTF_permit_access);
}

TEST_F(GrantCopyTest, backend_helpers_copy_to_and_from_a_grant) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    front.grant(11, kBack, kDataGfn + 1, GTF_permit_access | GTF_readonly);
    std::array<std::uint8_t, 512> buf;
    buf.fill(0xab);
    EXPECT_EQ(copy_to_grant(kBack, kFront, 10, 512, buf, domains.lookup()), GNTST_okay);
    EXPECT_EQ(front.page(kDataGfn)[512], 0xab);
    EXPECT_EQ(front.page(kDataGfn)[1023], 0xab);
    EXPECT_EQ(front.page(kDataGfn)[1024], 0);
    std::array<std::uint8_t, 512> in{};
    EXPECT_EQ(copy_from_grant(kBack, kFront, 10, 512, in, domains.lookup()), GNTST_okay);
    EXPECT_EQ(in, buf);
    EXPECT_EQ(copy_to_grant(kBack, kFront, 11, 0, buf, domains.lookup()), GNTST_general_error);
    EXPECT_EQ(copy_from_grant(kBack, kFront, 11, 0, in, domains.lookup()), GNTST_okay);
    EXPECT_EQ(copy_from_grant(kBack, kFront, 10, 3800, in, domains.lookup()),
              GNTST_bad_copy_arg);
    std::vector<std::uint8_t> big(kPageSize + 1);
    EXPECT_EQ(copy_from_grant(kBack, kFront, 10, 0, big, domains.lookup()), GNTST_bad_copy_arg);
    EXPECT_EQ(front.flags(10), GTF_permit_access);
    EXPECT_EQ(front.flags(11), GTF_permit_access | GTF_readonly);
}

TEST_F(GrantCopyTest, a_guest_ending_access_during_copies_never_sees_its_entry_in_use_after) {
    front.grant(10, kBack, kDataGfn, GTF_permit_access);
    std::atomic<bool> stop{false};
    std::atomic<unsigned> ends{0};
    std::thread guest([&] {
        while (!stop.load()) {
            if (front.end_access(10)) {
                ++ends;
                front.grant(10, kBack, kDataGfn, GTF_permit_access);
            }
            std::this_thread::yield();
        }
    });
    std::array<std::uint8_t, 64> buf{};
    unsigned ok = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((ok < 200 || ends < 200) && std::chrono::steady_clock::now() < deadline) {
        const std::int16_t rc = copy_to_grant(kBack, kFront, 10, 0, buf, domains.lookup());
        ASSERT_TRUE(rc == GNTST_okay || rc == GNTST_general_error) << rc;
        ok += rc == GNTST_okay;
    }
    stop = true;
    guest.join();
    EXPECT_GT(ok, 0u);
    EXPECT_GT(ends.load(), 0u);
    EXPECT_FALSE(front.flags(10) & (GTF_reading | GTF_writing));
    EXPECT_FALSE(front.table.any_pinned());
}

}  // namespace
}  // namespace xenolith::grant::test
