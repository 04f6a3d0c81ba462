// Foreign grant mappings for back-ends: Xen 4.17's map_grant_ref and
// unmap_grant_ref against a guest that writes (and races on) its entries,
// in versions 1 and 2; maptrack limits; teardown with mappings held.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "grant/grant_mapper.hpp"
#include "grant_fixture.hpp"
#include "memory/reservation.hpp"

namespace xenolith::grant::test {
namespace {

constexpr domid_t kGuest = 5;
constexpr domid_t kBackend = 0;
constexpr std::uint32_t kRw = GNTMAP_host_map;
constexpr std::uint32_t kRo = GNTMAP_host_map | GNTMAP_readonly;

class GrantMapperTest : public ::testing::Test {
protected:
    Domains domains;
    TestDomain& guest = domains.add(kGuest);
    GrantMapper backend{kBackend, 4, domains.lookup()};

    std::int16_t map(grant_ref_t ref, std::uint32_t flags, Mapping* m) {
        return backend.map(kGuest, ref, flags, m);
    }
};

TEST_F(GrantMapperTest, writable_map_sets_reading_and_writing_until_unmap) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    std::memset(guest.page(kDataGfn), 0x5a, kPageSize);
    Mapping m;
    ASSERT_EQ(map(10, kRw, &m), GNTST_okay);
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_reading | GTF_writing);
    EXPECT_FALSE(m.readonly);
    EXPECT_EQ(m.host, guest.page(kDataGfn)) << "the guest's own page, not a copy";
    EXPECT_EQ(m.memfd, guest.mem->memfd());
    EXPECT_EQ(m.offset, kDataGfn * kPageSize);
    EXPECT_EQ(guest.table.pins(10).writers, 1u);

    ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(guest.flags(10), GTF_permit_access);
    EXPECT_EQ(guest.table.pins(10).writers, 0u);
    EXPECT_FALSE(guest.table.any_pinned());
    EXPECT_EQ(guest.mem->frame_holds(kDataGfn), 0u);
}

TEST_F(GrantMapperTest, a_writable_mapping_marks_its_frame_dirty_when_it_goes) {
    DirtyBitmap log(guest.mem->max_ram_gfn() + 1);
    guest.mem->set_dirty_log(&log);
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    guest.grant(11, kBackend, kDataGfn + 1, GTF_permit_access);
    Mapping rw, ro;
    ASSERT_EQ(map(10, kRw, &rw), GNTST_okay);
    ASSERT_EQ(map(11, kRo, &ro), GNTST_okay);
    EXPECT_TRUE(log.take().empty());  // nothing known written yet
    ASSERT_EQ(backend.unmap(rw.handle), GNTST_okay);
    ASSERT_EQ(backend.unmap(ro.handle), GNTST_okay);
    EXPECT_EQ(log.take(), std::vector<std::uint64_t>{kDataGfn});
    guest.mem->set_dirty_log(nullptr);
}

TEST_F(GrantMapperTest, frames_mapped_writable_are_known_while_they_are_held) {
    guest.grant(10, kBackend, kDataGfn + 2, GTF_permit_access);
    guest.grant(11, kBackend, kDataGfn, GTF_permit_access);
    guest.grant(12, kBackend, kDataGfn + 1, GTF_permit_access);
    guest.grant(13, kBackend, kDataGfn + 2, GTF_permit_access);  // the same frame again
    Mapping a, b, c, d;
    ASSERT_EQ(map(10, kRw, &a), GNTST_okay);
    ASSERT_EQ(map(11, kRw, &b), GNTST_okay);
    ASSERT_EQ(map(12, kRo, &c), GNTST_okay);
    ASSERT_EQ(map(13, kRw, &d), GNTST_okay);
    EXPECT_EQ(guest.table.writably_pinned_frames(), (std::vector<std::uint64_t>{kDataGfn, kDataGfn + 2}));
    for (const Mapping* m : {&a, &b, &c, &d}) ASSERT_EQ(backend.unmap(m->handle), GNTST_okay);
    EXPECT_TRUE(guest.table.writably_pinned_frames().empty());
}

TEST_F(GrantMapperTest, readonly_map_sets_only_reading) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access | GTF_readonly);
    Mapping m;
    ASSERT_EQ(map(10, kRo, &m), GNTST_okay);
    EXPECT_TRUE(m.readonly);
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_readonly | GTF_reading);
    ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_readonly);
}

TEST_F(GrantMapperTest, writable_map_of_a_readonly_grant_fails_and_marks_nothing) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access | GTF_readonly);
    Mapping m;
    EXPECT_EQ(map(10, kRw, &m), GNTST_general_error);
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_readonly);
    EXPECT_EQ(backend.nr_mapped(), 0u);
    EXPECT_FALSE(guest.table.any_pinned());
}

TEST_F(GrantMapperTest, entries_not_granted_to_the_mapper_are_refused) {
    Mapping m;
    guest.grant(1, kBackend + 1, kDataGfn, GTF_permit_access);  // another domain's
    EXPECT_EQ(map(1, kRo, &m), GNTST_general_error);
    guest.grant(2, kBackend, kDataGfn, GTF_invalid);
    EXPECT_EQ(map(2, kRo, &m), GNTST_general_error);
    guest.grant(3, kBackend, kDataGfn, GTF_accept_transfer);
    EXPECT_EQ(map(3, kRo, &m), GNTST_general_error);
    guest.grant(4, kBackend, kDataGfn, GTF_permit_access | GTF_sub_page);  // v1: never a map
    EXPECT_EQ(map(4, kRo, &m), GNTST_general_error);
    guest.grant(5, kBackend, kDataGfn, GTF_transitive);
    EXPECT_EQ(map(5, kRo, &m), GNTST_general_error);
    for (grant_ref_t r = 1; r <= 5; ++r)
        EXPECT_FALSE(guest.status_flags(r) & (GTF_reading | GTF_writing)) << r;
    EXPECT_EQ(backend.nr_mapped(), 0u);
}

TEST_F(GrantMapperTest, bad_arguments_get_xens_status_codes) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    Mapping m;
    EXPECT_EQ(map(10, 0, &m), GNTST_bad_gntref) << "neither host nor device map";
    EXPECT_EQ(map(10, GNTMAP_readonly, &m), GNTST_bad_gntref);
    EXPECT_EQ(map(10, GNTMAP_device_map, &m), GNTST_general_error);
    EXPECT_EQ(map(10, kRw | GNTMAP_application_map, &m), GNTST_general_error);
    EXPECT_EQ(map(10, kRw | GNTMAP_contains_pte, &m), GNTST_general_error);
    EXPECT_EQ(backend.map(kGuest + 1, 10, kRw, &m), GNTST_bad_domain);
    EXPECT_EQ(backend.map(DOMID_SELF, 10, kRw, &m), GNTST_bad_domain);
    EXPECT_EQ(backend.map(DOMID_INVALID, 10, kRw, &m), GNTST_bad_domain);
    EXPECT_EQ(map(guest.table.nr_entries(), kRw, &m), GNTST_bad_gntref);
    EXPECT_EQ(map(~grant_ref_t{0}, kRw, &m), GNTST_bad_gntref);
    EXPECT_EQ(backend.nr_mapped(), 0u);
    EXPECT_EQ(guest.flags(10), GTF_permit_access);
}

TEST_F(GrantMapperTest, a_frame_that_is_not_the_guests_memory_is_a_bad_page) {
    Mapping m;
    guest.grant(10, kBackend, 0x7ffff, GTF_permit_access);  // beyond 8 MiB of RAM
    EXPECT_EQ(map(10, kRw, &m), GNTST_bad_page);
    EXPECT_EQ(guest.flags(10), GTF_permit_access) << "status backed out";
    // A frame the guest ballooned out.
    std::uint64_t gfn = kDataGfn + 1;
    ASSERT_TRUE(guest.mem->remove_page(gfn));
    guest.grant(11, kBackend, gfn, GTF_permit_access);
    EXPECT_EQ(map(11, kRo, &m), GNTST_bad_page);
    // The toolstack's special pages (xenstore, console rings) can be mapped.
    guest.grant(12, kBackend, kSpecialPagesBase >> kPageShift, GTF_permit_access);
    ASSERT_EQ(map(12, kRw, &m), GNTST_okay);
    EXPECT_EQ(m.host, guest.mem->host_ptr(kSpecialPagesBase, kPageSize));
    EXPECT_EQ(backend.unmap(m.handle), GNTST_okay);
}

TEST_F(GrantMapperTest, unmap_of_an_unknown_handle_is_bad_handle) {
    EXPECT_EQ(backend.unmap(0), GNTST_bad_handle);
    EXPECT_EQ(backend.unmap(0xffffffff), GNTST_bad_handle);
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    Mapping m;
    ASSERT_EQ(map(10, kRw, &m), GNTST_okay);
    EXPECT_EQ(backend.unmap(m.handle + 1), GNTST_bad_handle);
    EXPECT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(backend.unmap(m.handle), GNTST_bad_handle) << "twice";
    EXPECT_EQ(guest.flags(10), GTF_permit_access);
}

TEST_F(GrantMapperTest, several_mappings_share_the_pins_and_the_last_unmap_clears) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    Mapping ro1, ro2, rw;
    ASSERT_EQ(map(10, kRo, &ro1), GNTST_okay);
    ASSERT_EQ(map(10, kRo, &ro2), GNTST_okay);
    EXPECT_NE(ro1.handle, ro2.handle);
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_reading);
    ASSERT_EQ(map(10, kRw, &rw), GNTST_okay) << "a write pin on a read-pinned entry";
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_reading | GTF_writing);
    EXPECT_EQ(guest.mem->frame_holds(kDataGfn), 3u);

    ASSERT_EQ(backend.unmap(rw.handle), GNTST_okay);
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_reading) << "no writer left";
    ASSERT_EQ(backend.unmap(ro1.handle), GNTST_okay);
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_reading);
    EXPECT_FALSE(guest.end_access(10));
    ASSERT_EQ(backend.unmap(ro2.handle), GNTST_okay);
    EXPECT_EQ(guest.flags(10), GTF_permit_access);
    EXPECT_TRUE(guest.end_access(10));
    EXPECT_EQ(guest.flags(10), 0);
}

TEST_F(GrantMapperTest, the_guest_cannot_end_access_to_a_mapped_grant_and_can_after_unmap) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    Mapping m;
    ASSERT_EQ(map(10, kRw, &m), GNTST_okay);
    EXPECT_FALSE(guest.end_access(10));
    EXPECT_EQ(guest.flags(10), GTF_permit_access | GTF_reading | GTF_writing);
    ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_TRUE(guest.end_access(10));
    EXPECT_EQ(map(10, kRw, &m), GNTST_general_error) << "ended: no longer granted";
}

TEST_F(GrantMapperTest, an_entry_pinned_by_one_domain_cannot_be_mapped_by_another) {
    GrantMapper other{kBackend + 1, 1, domains.lookup()};
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    Mapping m, m2;
    ASSERT_EQ(map(10, kRo, &m), GNTST_okay);
    // The guest re-points the entry at the other domain while it is mapped.
    __atomic_store_n(&guest.v1(10)->domid, domid_t{kBackend + 1}, __ATOMIC_RELEASE);
    EXPECT_EQ(other.map(kGuest, 10, kRo, &m2), GNTST_general_error);
    EXPECT_EQ(map(10, kRo, &m2), GNTST_okay) << "pinned: the active entry decides";
    EXPECT_EQ(backend.unmap(m2.handle), GNTST_okay);
    EXPECT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(other.map(kGuest, 10, kRo, &m2), GNTST_okay) << "unpinned: the entry decides";
}

TEST_F(GrantMapperTest, pin_counts_stop_before_they_overflow) {
    GrantMapper big{kBackend, 1, domains.lookup()};
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    std::vector<Mapping> maps(128);
    for (auto& m : maps) ASSERT_EQ(big.map(kGuest, 10, kRo, &m), GNTST_okay);
    Mapping extra;
    EXPECT_EQ(big.map(kGuest, 10, kRo, &extra), GNTST_general_error);
    EXPECT_EQ(big.map(kGuest, 10, kRw, &extra), GNTST_okay) << "writers count apart";
    EXPECT_EQ(big.unmap(extra.handle), GNTST_okay);
    for (auto& m : maps) ASSERT_EQ(big.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(guest.flags(10), GTF_permit_access);
}

TEST_F(GrantMapperTest, the_maptrack_limit_is_max_maptrack_frames_pages_of_handles) {
    GrantMapper one{kBackend, 1, domains.lookup()};
    EXPECT_EQ(one.max_handles(), kMaptrackPerFrame);
    std::vector<Mapping> maps(kMaptrackPerFrame);
    for (grant_ref_t r = 0; r < kMaptrackPerFrame; ++r) {
        guest.grant(r, kBackend, kDataGfn + r, GTF_permit_access);
        ASSERT_EQ(one.map(kGuest, r, kRw, &maps[r]), GNTST_okay) << r;
    }
    guest.grant(300, kBackend, kDataGfn, GTF_permit_access);
    Mapping m;
    EXPECT_EQ(one.map(kGuest, 300, kRw, &m), GNTST_no_space);
    EXPECT_EQ(guest.flags(300), GTF_permit_access) << "nothing marked for a refused map";
    ASSERT_EQ(one.unmap(maps[7].handle), GNTST_okay);
    ASSERT_EQ(one.map(kGuest, 300, kRw, &m), GNTST_okay);
    EXPECT_EQ(m.handle, maps[7].handle) << "the freed handle is reused";

    GrantMapper none{kBackend, 0, domains.lookup()};
    EXPECT_EQ(none.map(kGuest, 301, kRo, &m), GNTST_no_space);
}

TEST_F(GrantMapperTest, destroying_the_mapper_unmaps_everything) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    guest.grant(11, kBackend, kDataGfn + 1, GTF_permit_access);
    {
        GrantMapper doomed{kBackend, 1, domains.lookup()};
        Mapping m;
        ASSERT_EQ(doomed.map(kGuest, 10, kRw, &m), GNTST_okay);
        ASSERT_EQ(doomed.map(kGuest, 11, kRo, &m), GNTST_okay);
    }
    EXPECT_EQ(guest.flags(10), GTF_permit_access);
    EXPECT_EQ(guest.flags(11), GTF_permit_access);
    EXPECT_FALSE(guest.table.any_pinned());
}

TEST_F(GrantMapperTest, a_version_switch_is_refused_while_a_grant_is_mapped) {
    guest.grant(GNTTAB_NR_RESERVED_ENTRIES - 1, kBackend, kDataGfn, GTF_permit_access);
    guest.grant(GNTTAB_NR_RESERVED_ENTRIES, kBackend, kDataGfn, GTF_permit_access);
    Mapping reserved, other;
    ASSERT_EQ(map(GNTTAB_NR_RESERVED_ENTRIES - 1, kRw, &reserved), GNTST_okay);
    ASSERT_EQ(map(GNTTAB_NR_RESERVED_ENTRIES, kRw, &other), GNTST_okay);
    EXPECT_EQ(guest.table.set_version(2), -XEN_EBUSY);
    ASSERT_EQ(backend.unmap(other.handle), GNTST_okay);
    EXPECT_EQ(guest.table.set_version(2), 0) << "reserved entries may stay mapped";
    guest.place(XENMAPIDX_grant_table_status | 0, kStatusGfn);
    EXPECT_EQ(guest.status_flags(GNTTAB_NR_RESERVED_ENTRIES - 1), GTF_reading | GTF_writing);
    ASSERT_EQ(backend.unmap(reserved.handle), GNTST_okay);
    EXPECT_EQ(guest.status_flags(GNTTAB_NR_RESERVED_ENTRIES - 1), 0);
}

// --- version 2: the status frame carries GTF_reading / GTF_writing ---------

TEST_F(GrantMapperTest, v2_map_marks_the_status_frame_and_leaves_the_entry_alone) {
    guest.use_v2();
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    Mapping m;
    ASSERT_EQ(map(10, kRw, &m), GNTST_okay);
    EXPECT_EQ(m.host, guest.page(kDataGfn));
    EXPECT_EQ(guest.flags(10), GTF_permit_access);
    EXPECT_EQ(*guest.status(10), GTF_reading | GTF_writing);
    EXPECT_FALSE(guest.end_access(10)) << "Linux's v2 end: clear, then check the status";
    ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(*guest.status(10), 0);
}

TEST_F(GrantMapperTest, v2_sub_page_and_transitive_grants_cannot_be_mapped) {
    guest.use_v2();
    guest.grant_sub_page(10, kBackend, kDataGfn, 0, 512, GTF_permit_access);
    Mapping m;
    EXPECT_EQ(map(10, kRo, &m), GNTST_general_error);
    guest.v2(11)->transitive.trans_domid = kGuest;
    guest.v2(11)->transitive.gref = 10;
    guest.v2(11)->hdr.domid = kBackend;
    __atomic_store_n(&guest.v2(11)->hdr.flags, std::uint16_t{GTF_transitive}, __ATOMIC_RELEASE);
    EXPECT_EQ(map(11, kRo, &m), GNTST_general_error);
    EXPECT_EQ(*guest.status(10), 0);
    EXPECT_EQ(*guest.status(11), 0);
}

TEST_F(GrantMapperTest, v2_readonly_grant_refuses_a_write_upgrade_and_clears_writing) {
    guest.use_v2();
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    Mapping ro, rw;
    ASSERT_EQ(map(10, kRo, &ro), GNTST_okay);
    // The guest downgrades the grant to read-only while it is read-mapped
    // (allowed: no GTF_writing).
    __atomic_fetch_or(&guest.v2(10)->hdr.flags, std::uint16_t{GTF_readonly}, __ATOMIC_SEQ_CST);
    EXPECT_EQ(map(10, kRw, &rw), GNTST_general_error);
    EXPECT_EQ(*guest.status(10), GTF_reading);
    ASSERT_EQ(backend.unmap(ro.handle), GNTST_okay);
    EXPECT_EQ(*guest.status(10), 0);
}

// --- the guest races on the shared entry --------------------------------

// Linux's front-end pattern against a back-end mapping and unmapping the
// same grant: the guest must never get the entry back while it is mapped,
// and a map after the guest took it back must fail.
void race_end_access(TestDomain& guest, GrantMapper& backend) {
    constexpr grant_ref_t kRef = 20;
    guest.grant(kRef, kBackend, kDataGfn, GTF_permit_access);
    std::atomic<bool> stop{false};
    std::atomic<bool> mapped{false};
    std::atomic<int> violations{0};
    std::atomic<unsigned> maps{0}, ends{0};

    std::thread front([&] {
        while (!stop.load()) {
            if (guest.end_access(kRef)) {
                if (mapped.load(std::memory_order_seq_cst)) ++violations;
                ++ends;
                guest.grant(kRef, kBackend, kDataGfn, GTF_permit_access);
            }
            // A guest rewriting the entry nonstop makes Xen give up on it
            // (see the test below); leave the back-end room to win too.
            std::this_thread::yield();
        }
    });
    // Until both sides have won often enough (bounded: a starved side
    // fails the progress checks below).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; (maps < 200 || ends < 200) && std::chrono::steady_clock::now() < deadline;
         ++i) {
        Mapping m;
        if (backend.map(kGuest, kRef, i % 2 ? kRo : kRw, &m) != GNTST_okay) continue;
        mapped.store(true, std::memory_order_seq_cst);
        ++maps;
        if (!(guest.status_flags(kRef) & GTF_reading)) ++violations;
        mapped.store(false, std::memory_order_seq_cst);
        ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
    }
    stop = true;
    front.join();
    EXPECT_EQ(violations.load(), 0);
    EXPECT_GT(maps.load(), 0u);
    EXPECT_GT(ends.load(), 0u);
    EXPECT_FALSE(guest.status_flags(kRef) & (GTF_reading | GTF_writing));
    EXPECT_FALSE(guest.table.any_pinned());
}

TEST_F(GrantMapperTest, v1_guest_ending_access_races_with_map_and_never_wins_while_mapped) {
    race_end_access(guest, backend);
}

TEST_F(GrantMapperTest, v2_guest_ending_access_races_with_map_and_never_wins_while_mapped) {
    guest.use_v2();
    race_end_access(guest, backend);
}

TEST_F(GrantMapperTest, v1_guest_rewriting_its_entry_nonstop_gets_a_clean_failure_or_a_map) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    std::atomic<bool> stop{false};
    std::thread front([&] {
        std::uint16_t bit = GTF_PWT;
        while (!stop.load()) __atomic_fetch_xor(&guest.v1(10)->flags, bit, __ATOMIC_SEQ_CST);
    });
    unsigned ok = 0;
    for (int i = 0; i < 5000; ++i) {
        Mapping m;
        const std::int16_t rc = map(10, kRw, &m);
        ASSERT_TRUE(rc == GNTST_okay || rc == GNTST_general_error) << rc;
        if (rc == GNTST_okay) {
            ++ok;
            ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
        }
    }
    stop = true;
    front.join();
    EXPECT_FALSE(guest.flags(10) & (GTF_reading | GTF_writing));
    EXPECT_FALSE(guest.table.any_pinned());
}

// --- the mapping outlives the guest's attempts to take the page away ------

std::uint64_t balloon_out(GuestMemory& mem, std::uint64_t gfn) {
    ReservationArgs a;
    a.nr_extents = 1;
    return run_reservation(mem, ReservationOp::decrease, a,
                           [gfn](std::uint64_t, std::uint64_t* out) {
                               *out = gfn;
                               return true;
                           });
}

TEST_F(GrantMapperTest, a_mapped_frame_cannot_be_ballooned_out_or_replaced) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    std::memset(guest.page(kDataGfn), 0x77, kPageSize);
    Mapping m;
    ASSERT_EQ(map(10, kRw, &m), GNTST_okay);
    const std::uint64_t before = guest.mem->tot_pages();
    EXPECT_EQ(balloon_out(*guest.mem, kDataGfn), 0u) << "decrease_reservation stops there";
    EXPECT_TRUE(guest.mem->is_populated(kDataGfn));
    EXPECT_EQ(guest.mem->tot_pages(), before) << "still charged to the guest";
    EXPECT_FALSE(guest.mem->replace_page(kDataGfn)) << "populate_physmap over it";
    EXPECT_FALSE(guest.mem->remove_range(kDataGfn - 1, 3)) << "a run containing it";
    EXPECT_EQ(m.host[100], 0x77) << "the back-end's page still holds the data";
    m.host[100] = 0x78;
    EXPECT_EQ(guest.page(kDataGfn)[100], 0x78);

    ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_EQ(balloon_out(*guest.mem, kDataGfn), 1u);
    EXPECT_FALSE(guest.mem->is_populated(kDataGfn));
}

TEST_F(GrantMapperTest, a_destroyed_guest_keeps_its_memory_until_the_last_unmap) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    std::memset(guest.page(kDataGfn), 0x42, kPageSize);
    Mapping m;
    ASSERT_EQ(map(10, kRw, &m), GNTST_okay);
    std::weak_ptr<TestDomain> gone = domains.forget(kGuest);
    EXPECT_FALSE(gone.expired()) << "the mapping holds the domain";
    EXPECT_EQ(m.host[0], 0x42);
    m.host[0] = 0x43;  // still our page, still writable
    Mapping again;
    EXPECT_EQ(map(10, kRw, &again), GNTST_bad_domain) << "no new mappings of a dead domain";
    ASSERT_EQ(backend.unmap(m.handle), GNTST_okay);
    EXPECT_TRUE(gone.expired()) << "released with the last mapping";
}

// A back-end in another process mmaps the granted page from the guest's
// memory file at the offset the mapping names; what it writes the guest
// reads, and it keeps working after the daemon's side is gone.
TEST_F(GrantMapperTest, another_process_maps_the_page_through_the_memfd_offset) {
    guest.grant(10, kBackend, kDataGfn, GTF_permit_access);
    guest.grant(11, kBackend, kDataGfn + 1, GTF_permit_access | GTF_readonly);
    std::memset(guest.page(kDataGfn + 1), 0x31, kPageSize);
    Mapping rw, ro;
    ASSERT_EQ(map(10, kRw, &rw), GNTST_okay);
    ASSERT_EQ(map(11, kRo, &ro), GNTST_okay);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto* w = static_cast<std::uint8_t*>(mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE,
                                                  MAP_SHARED, rw.memfd,
                                                  static_cast<off_t>(rw.offset)));
        auto* r = static_cast<std::uint8_t*>(
            mmap(nullptr, kPageSize, PROT_READ, MAP_SHARED, ro.memfd,
                 static_cast<off_t>(ro.offset)));
        if (w == MAP_FAILED || r == MAP_FAILED) _exit(1);
        w[0] = static_cast<std::uint8_t>(r[0] + 1);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(guest.page(kDataGfn)[0], 0x32);
    EXPECT_EQ(backend.unmap(rw.handle), GNTST_okay);
    EXPECT_EQ(backend.unmap(ro.handle), GNTST_okay);
}

TEST_F(GrantMapperTest, mapping_from_many_threads_keeps_counts_and_flags_exact) {
    GrantMapper big{kBackend, 16, domains.lookup()};
    for (grant_ref_t r = 0; r < 64; ++r) guest.grant(r, kBackend, kDataGfn + r, GTF_permit_access);
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                Mapping m;
                const auto ref = static_cast<grant_ref_t>((i * 7 + t) % 64);
                if (big.map(kGuest, ref, (i + t) % 3 ? kRo : kRw, &m) == GNTST_okay) {
                    EXPECT_EQ(big.unmap(m.handle), GNTST_okay);
                }
            }
        });
    for (auto& w : workers) w.join();
    EXPECT_EQ(big.nr_mapped(), 0u);
    EXPECT_FALSE(guest.table.any_pinned());
    for (grant_ref_t r = 0; r < 64; ++r) {
        EXPECT_EQ(guest.flags(r), GTF_permit_access) << r;
        EXPECT_EQ(guest.mem->frame_holds(kDataGfn + r), 0u);
    }
}

}  // namespace
}  // namespace xenolith::grant::test
