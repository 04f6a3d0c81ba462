// XENMEM_{increase,decrease}_reservation and populate_physmap over a real
// memfd-backed GuestMemory: Xen 4.17's counts and limits, and the host
// memory really released and zeroed.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

extern "C" {
#include <xen/memory.h>
}

#include "memory/guest_memory.hpp"
#include "memory/reservation.hpp"

namespace xenolith {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;
// The headroom above its memory a toolstack gives a domain's max_pages
// (libxl's 1 MiB, as xenolith's toolstack sets it).
constexpr std::uint64_t kMaxmemSlackPages = 256;

struct Fixture {
    std::unique_ptr<GuestMemory> mem;
    std::vector<std::uint64_t> list;  // the guest's extent list

    explicit Fixture(std::uint64_t ram = 8 * kMiB, std::uint64_t physmap = 0) {
        auto m = GuestMemory::create(ram, "reservation-test", physmap);
        EXPECT_TRUE(m);
        mem = std::move(*m);
        mem->set_max_pages(ram / kPageSize + kMaxmemSlackPages);
    }
    std::uint64_t run(ReservationOp op, std::vector<std::uint64_t> gfns, unsigned order = 0,
                      std::uint64_t start = 0, unsigned flags = 0) {
        list = std::move(gfns);
        ReservationArgs a;
        a.nr_extents = list.size();
        a.extent_order = order;
        a.mem_flags = flags;
        a.start_extent = start;
        return run_reservation(*mem, op, a, [&](std::uint64_t i, std::uint64_t* gfn) {
            if (i >= list.size() || list[i] == kFault) return false;
            *gfn = list[i];
            return true;
        });
    }
    void touch(std::uint64_t gfn, std::uint8_t value = 0xa5) {
        std::memset(mem->host_ptr(gfn << kPageShift, kPageSize), value, kPageSize);
    }
    bool reads_zero(std::uint64_t gfn) {
        const std::uint8_t* p = mem->host_ptr(gfn << kPageShift, kPageSize);
        for (std::uint64_t i = 0; i < kPageSize; ++i)
            if (p[i]) return false;
        return true;
    }
    static constexpr std::uint64_t kFault = ~std::uint64_t{0} - 1;  // an unreadable entry
};

TEST(Reservation, decrease_releases_host_memory_and_populate_gives_zeroed_pages) {
    Fixture f;
    for (std::uint64_t g = 0x400; g < 0x500; ++g) f.touch(g);
    const std::uint64_t host = f.mem->host_bytes();
    const std::uint64_t tot = f.mem->tot_pages();
    std::vector<std::uint64_t> gfns;
    for (std::uint64_t g = 0x400; g < 0x500; ++g) gfns.push_back(g);
    EXPECT_EQ(f.run(ReservationOp::decrease, gfns), 256u);
    EXPECT_EQ(f.mem->tot_pages(), tot - 256);
    EXPECT_EQ(host - f.mem->host_bytes(), 256 * kPageSize);
    EXPECT_FALSE(f.mem->is_populated(0x400));
    EXPECT_EQ(f.run(ReservationOp::populate, gfns), 256u);
    EXPECT_EQ(f.mem->tot_pages(), tot);
    for (std::uint64_t g = 0x400; g < 0x500; ++g) ASSERT_TRUE(f.reads_zero(g)) << g;
}

TEST(Reservation, an_order_9_extent_goes_and_comes_back_whole) {
    Fixture f;
    const std::uint64_t tot = f.mem->tot_pages();
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x600}, 9), 1u);
    EXPECT_EQ(f.mem->tot_pages(), tot - 512);
    EXPECT_EQ(f.run(ReservationOp::populate, {0x600}, 9), 1u);
    EXPECT_EQ(f.mem->tot_pages(), tot);
}

TEST(Reservation, decrease_stops_at_the_first_frame_it_cannot_remove) {
    Fixture f;
    const std::uint64_t tot = f.mem->tot_pages();
    ASSERT_EQ(f.run(ReservationOp::decrease, {0x500}), 1u);
    // [populated, already gone, populated]: one extent done.
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x501, 0x500, 0x502}), 1u);
    EXPECT_TRUE(f.mem->is_populated(0x502));
    // Not RAM: the MMIO hole, the toolstack pages, beyond the address width.
    EXPECT_EQ(f.run(ReservationOp::decrease, {0xF0000}), 0u);
    EXPECT_EQ(f.run(ReservationOp::decrease, {kSpecialPagesBase >> kPageShift}), 0u);
    EXPECT_EQ(f.run(ReservationOp::decrease, {~std::uint64_t{0}}), 0u);
    // An order-1 extent whose second frame is gone: not counted, but its
    // first frame stays removed (guest_remove_page ran on it).
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x4ff}, 1), 0u);
    EXPECT_FALSE(f.mem->is_populated(0x4ff));
    EXPECT_EQ(f.mem->tot_pages(), tot - 3);
    // A fault in the list stops there.
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x510, Fixture::kFault, 0x511}), 1u);
}

TEST(Reservation, refusals_return_the_start_extent) {
    Fixture f;
    const std::uint64_t tot = f.mem->tot_pages();
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x400}, 10), 0u);  // order above 9
    EXPECT_EQ(f.run(ReservationOp::populate, {0x400}, 0, 0, XENMEMF_populate_on_demand), 0u);
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x400}, 0, 0, XENMEMF_address_bits(12)), 0u);
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x400, 0x401}, 0, 5), 5u);  // start >= nr
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x400, 0x401}, 0, 2), 2u);
    EXPECT_EQ(f.mem->tot_pages(), tot);
    // A continuation's start extent skips the extents before it.
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x400, 0x401}, 0, 1), 2u);
    EXPECT_TRUE(f.mem->is_populated(0x400));
    EXPECT_FALSE(f.mem->is_populated(0x401));
    // A wider address restriction is accepted (nothing to restrict here).
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x402}, 0, 0, XENMEMF_address_bits(32)), 1u);
}

TEST(Reservation, nr_extents_beyond_the_continuation_encoding_is_refused) {
    Fixture f;
    ReservationArgs a;
    a.nr_extents = (std::uint64_t{UINT32_MAX} >> 6) + 1;
    bool read = false;
    EXPECT_EQ(run_reservation(*f.mem, ReservationOp::decrease, a,
                              [&](std::uint64_t, std::uint64_t*) { return read = true; }),
              0u);
    EXPECT_FALSE(read);
}

TEST(Reservation, populate_and_increase_stop_at_max_pages) {
    Fixture f;
    const std::uint64_t tot = f.mem->tot_pages();
    ASSERT_EQ(f.mem->max_pages(), tot + kMaxmemSlackPages);
    // increase_reservation: charged, mapped nowhere, no host memory.
    const std::uint64_t host = f.mem->host_bytes();
    EXPECT_EQ(f.run(ReservationOp::increase, {0, 0, 0}), 3u);
    EXPECT_EQ(f.mem->tot_pages(), tot + 3);
    EXPECT_EQ(f.mem->host_bytes(), host);
    // populate over a populated frame: a fresh zero page, the old one stays
    // charged. It stops exactly at max_pages.
    f.touch(0x300);
    std::vector<std::uint64_t> same(kMaxmemSlackPages, 0x300);
    EXPECT_EQ(f.run(ReservationOp::populate, same), kMaxmemSlackPages - 3);
    EXPECT_TRUE(f.reads_zero(0x300));
    EXPECT_EQ(f.mem->tot_pages(), f.mem->max_pages());
    EXPECT_EQ(f.run(ReservationOp::increase, {0}), 0u);
    EXPECT_EQ(f.run(ReservationOp::populate, {0x300}), 0u);
    // An order-9 extent is charged whole (assign_pages): no room, nothing.
    ASSERT_EQ(f.run(ReservationOp::decrease, {0x400}), 1u);
    EXPECT_EQ(f.run(ReservationOp::populate, {0x400}, 9), 0u);
    EXPECT_EQ(f.run(ReservationOp::populate, {0x400}), 1u);
}

TEST(Reservation, lowering_max_pages_below_the_allocation_lets_it_only_shrink) {
    Fixture f;
    const std::uint64_t tot = f.mem->tot_pages();
    f.mem->set_max_pages(tot - 10);
    ASSERT_EQ(f.run(ReservationOp::decrease, {0x400, 0x401}), 2u);
    EXPECT_EQ(f.run(ReservationOp::populate, {0x400}), 0u);  // tot > max: nothing new
    std::vector<std::uint64_t> more;
    for (std::uint64_t g = 0x402; g < 0x40a; ++g) more.push_back(g);
    ASSERT_EQ(f.run(ReservationOp::decrease, more), 8u);
    EXPECT_EQ(f.mem->tot_pages(), tot - 10);
    EXPECT_EQ(f.run(ReservationOp::populate, {0x400}), 0u);  // tot == max
    f.mem->set_max_pages(std::uint64_t{1} << 40);
    EXPECT_EQ(f.mem->max_pages(), std::uint64_t{UINT32_MAX});  // Xen's 32-bit max_pages
}

TEST(Reservation, a_physmap_above_memory_starts_unpopulated_and_can_be_grown_into) {
    Fixture f(8 * kMiB, 12 * kMiB);
    EXPECT_EQ(f.mem->tot_pages(), 8 * kMiB / kPageSize);
    EXPECT_EQ(f.mem->ram_bytes(), 8 * kMiB);
    EXPECT_EQ(f.mem->physmap_bytes(), 12 * kMiB);
    const std::uint64_t first_new = 8 * kMiB / kPageSize;
    EXPECT_FALSE(f.mem->is_populated(first_new));
    EXPECT_TRUE(f.mem->is_populated(first_new - 1));
    // Boot images may only go where RAM is populated at creation.
    EXPECT_EQ(f.mem->initial_ram_ptr(first_new << kPageShift, 1), nullptr);
    EXPECT_NE(f.mem->initial_ram_ptr((first_new - 1) << kPageShift, kPageSize), nullptr);
    // Growth is bounded by max_pages (memory + 1 MiB here)...
    std::vector<std::uint64_t> grow;
    for (std::uint64_t g = first_new; g < first_new + 300; ++g) grow.push_back(g);
    EXPECT_EQ(f.run(ReservationOp::populate, grow), kMaxmemSlackPages);
    // ... and by the physmap when max_pages is raised (xl mem-set).
    f.mem->set_max_pages(64 * kMiB / kPageSize);
    std::vector<std::uint64_t> rest;
    const std::uint64_t end = 12 * kMiB / kPageSize;
    for (std::uint64_t g = first_new + kMaxmemSlackPages; g < end + 5; ++g) rest.push_back(g);
    EXPECT_EQ(f.run(ReservationOp::populate, rest), end - first_new - kMaxmemSlackPages);
    EXPECT_EQ(f.mem->tot_pages(), end);
}

TEST(Reservation, runs_of_frames_in_either_order_go_back_exactly_once) {
    Fixture f;
    const std::uint64_t tot = f.mem->tot_pages();
    for (std::uint64_t g = 0x300; g < 0x380; ++g) f.touch(g);
    const std::uint64_t host = f.mem->host_bytes();
    // Descending (as balloon drivers give back from the top), then ascending.
    std::vector<std::uint64_t> down, up;
    for (std::uint64_t g = 0x33f; g >= 0x300; --g) down.push_back(g);
    for (std::uint64_t g = 0x340; g < 0x380; ++g) up.push_back(g);
    EXPECT_EQ(f.run(ReservationOp::decrease, down), 64u);
    EXPECT_EQ(f.run(ReservationOp::decrease, up), 64u);
    EXPECT_EQ(f.mem->tot_pages(), tot - 128);
    EXPECT_EQ(host - f.mem->host_bytes(), 128 * kPageSize);
    // A run that repeats a frame stops at the repeat, the run before it done.
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x400, 0x401, 0x402, 0x401, 0x403}), 3u);
    EXPECT_FALSE(f.mem->is_populated(0x402));
    EXPECT_TRUE(f.mem->is_populated(0x403));
    // A run interrupted by a gap and a bad frame: both runs before it done.
    EXPECT_EQ(f.run(ReservationOp::decrease, {0x500, 0x501, 0x600, 0x601, 0x300, 0x602}), 4u);
    EXPECT_FALSE(f.mem->is_populated(0x601));
    EXPECT_TRUE(f.mem->is_populated(0x602));
    EXPECT_EQ(f.mem->tot_pages(), tot - 128 - 3 - 4);
}

TEST(Reservation, host_ptr_access_to_a_released_page_reads_zero) {
    Fixture f;
    f.touch(0x700, 0x11);
    ASSERT_EQ(f.run(ReservationOp::decrease, {0x700}), 1u);
    EXPECT_TRUE(f.reads_zero(0x700));
}

}  // namespace
}  // namespace xenolith
