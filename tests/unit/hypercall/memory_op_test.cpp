#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/memory.h>
}

#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

struct MemoryOp : HypercallTest {
    long memop(std::uint64_t cmd, std::uint64_t arg, bool is64 = true) {
        return call(__HYPERVISOR_memory_op, cmd, arg, 0, 0, is64);
    }
    long add_to_physmap(domid_t dom_id, unsigned space, std::uint64_t idx, std::uint64_t gpfn) {
        xen_add_to_physmap_t x{};
        x.domid = dom_id;
        x.space = space;
        x.idx = idx;
        x.gpfn = gpfn;
        put(kArg, x);
        return memop(XENMEM_add_to_physmap, kArg);
    }
    long reservation_of(std::uint64_t cmd, domid_t d) {
        put(kArg, d);
        return memop(cmd, kArg);
    }
};

constexpr unsigned kExtentShift = 6;  // MEMOP_EXTENT_SHIFT

TEST_F(MemoryOp, memory_map_when_buffer_small_then_truncated) {
    xen_memory_map_t m{};
    m.nr_entries = 1;
    set_xen_guest_handle(m.buffer, reinterpret_cast<void*>(kBuf));
    put(kArg, m);
    ASSERT_EQ(memop(XENMEM_memory_map, kArg), 0);
    EXPECT_EQ(get<xen_memory_map_t>(kArg).nr_entries, 1u);
    EXPECT_EQ(get<std::uint64_t>(kBuf + 8), FakeGuest::kRamBytes);  // entry 0's size
    EXPECT_EQ(get<std::uint32_t>(kBuf + 16), 1u);
    EXPECT_EQ(get<std::uint64_t>(kBuf + 20), 0u);  // nothing past the caller's one entry

    m.nr_entries = 100;
    put(kArg, m);
    ASSERT_EQ(memop(XENMEM_memory_map, kArg), 0);
    EXPECT_EQ(get<xen_memory_map_t>(kArg).nr_entries, 2u);
    EXPECT_EQ(get<std::uint64_t>(kBuf + 20), 0xfc000000u);
}

TEST_F(MemoryOp, memory_map_when_bad_pointers_then_efault) {
    EXPECT_EQ(memop(XENMEM_memory_map, kBad), -XEN_EFAULT);
    xen_memory_map_t m{};
    m.nr_entries = 2;
    set_xen_guest_handle(m.buffer, reinterpret_cast<void*>(kBad));
    put(kArg, m);
    EXPECT_EQ(memop(XENMEM_memory_map, kArg), -XEN_EFAULT);
}

TEST_F(MemoryOp, reservation_queries_when_domids_then_xen_errnos) {
    dom.others = {9};
    EXPECT_EQ(reservation_of(XENMEM_current_reservation, DOMID_SELF),
              static_cast<long>(dom.memory().tot_pages()));
    EXPECT_EQ(reservation_of(XENMEM_maximum_reservation, dom.domid()),
              static_cast<long>(dom.memory().max_pages()));
    EXPECT_EQ(reservation_of(XENMEM_current_reservation, 9), -XEN_EPERM);
    EXPECT_EQ(reservation_of(XENMEM_current_reservation, 10), -XEN_ESRCH);
    EXPECT_EQ(reservation_of(XENMEM_maximum_gpfn, DOMID_SELF),
              static_cast<long>(dom.memory().max_backed_gfn()));
    EXPECT_EQ(reservation_of(XENMEM_maximum_gpfn, 10), -XEN_ESRCH);
    EXPECT_EQ(memop(XENMEM_current_reservation, kBad), -XEN_EFAULT);
    EXPECT_EQ(memop(XENMEM_maximum_gpfn, kBad), -XEN_EFAULT);
}

TEST_F(MemoryOp, non_continuable_subop_when_start_extent_given_then_einval) {
    put(kArg, domid_t{DOMID_SELF});
    for (std::uint64_t op : {XENMEM_current_reservation, XENMEM_maximum_reservation,
                             XENMEM_maximum_gpfn, XENMEM_maximum_ram_page})
        EXPECT_EQ(memop(op | (1u << kExtentShift), kArg), -XEN_EINVAL) << op;
    EXPECT_GT(memop(XENMEM_maximum_ram_page, 0), 0);
}

TEST_F(MemoryOp, reservation_op_when_refused_then_extents_done_not_errno) {
    // Xen answers increase/decrease/populate with the extents done, even
    // for an unreadable argument or another domain.
    EXPECT_EQ(memop(XENMEM_decrease_reservation, kBad), 0);
    EXPECT_EQ(memop(XENMEM_decrease_reservation | (3u << kExtentShift), kBad), 3);
    xen_memory_reservation_t r{};
    r.nr_extents = 1;
    r.domid = 9;  // absent
    set_xen_guest_handle(r.extent_start, reinterpret_cast<xen_pfn_t*>(kBuf));
    put(kArg, r);
    EXPECT_EQ(memop(XENMEM_decrease_reservation, kArg), 0);
}

TEST_F(MemoryOp, decrease_then_populate_when_own_frame_then_done_and_counted) {
    const std::uint64_t before = dom.memory().tot_pages();
    xen_memory_reservation_t r{};
    r.nr_extents = 1;
    r.domid = DOMID_SELF;
    set_xen_guest_handle(r.extent_start, reinterpret_cast<xen_pfn_t*>(kBuf));
    put(kArg, r);
    put(kBuf, xen_pfn_t{0x300});
    EXPECT_EQ(memop(XENMEM_decrease_reservation, kArg), 1);
    EXPECT_EQ(dom.memory().tot_pages(), before - 1);
    EXPECT_EQ(memop(XENMEM_populate_physmap, kArg), 1);
    EXPECT_EQ(dom.memory().tot_pages(), before);
}

TEST_F(MemoryOp, add_to_physmap_shared_info_when_idx_or_domid_bad_then_xen_errnos) {
    dom.others = {9};
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, 0x200), 0);
    EXPECT_EQ(dom.shared_info_gfn, 0x200u);
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 1, 0x201), -XEN_EINVAL);
    EXPECT_EQ(add_to_physmap(9, XENMAPSPACE_shared_info, 0, 0x201), -XEN_EPERM);
    EXPECT_EQ(add_to_physmap(10, XENMAPSPACE_shared_info, 0, 0x201), -XEN_ESRCH);
    EXPECT_EQ(dom.shared_info_gfn, 0x200u);
    EXPECT_EQ(memop(XENMEM_add_to_physmap, kBad), -XEN_EFAULT);
}

TEST_F(MemoryOp, add_to_physmap_grant_frame_when_invalid_gfn_then_einval) {
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_grant_table, 0, ~xen_pfn_t{0}),
              -XEN_EINVAL);
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_grant_table, 0, 0x380), 0);
    EXPECT_EQ(dom.grants().frame_gfn(0), 0x380u);
}

TEST_F(MemoryOp, add_to_physmap_other_spaces_when_asked_then_refused) {
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_gmfn_foreign, 0, 0x200), -XEN_ENOSYS);
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_gmfn, 0, 0x200), -XEN_EINVAL);
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_gmfn, 0, 0x200), -XEN_EINVAL);
    EXPECT_EQ(add_to_physmap(DOMID_SELF, 0xffffffff, 0, 0x200), -XEN_EINVAL);
    EXPECT_EQ(dom.log, (std::vector<std::string>{"unknown add_to_physmap space 2",
                                                  "unknown add_to_physmap space 4294967295"}));
}

TEST_F(MemoryOp, unknown_subop_when_called_then_enosys) {
    EXPECT_EQ(memop(63, kArg), -XEN_ENOSYS);
    EXPECT_EQ(memop(XENMEM_exchange, kArg), -XEN_ENOSYS);
}

}  // namespace
}  // namespace xenolith::test
