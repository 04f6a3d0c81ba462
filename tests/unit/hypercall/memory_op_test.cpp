#include <gtest/gtest.h>

#include <map>

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

// ---- Both ABIs: hand-computed layouts. ------------------------------------
// xen_memory_map:        nr_entries @0; buffer @4 (32) / @8 (64); size 8 / 16.
// xen_add_to_physmap:    domid @0, size @2, space @4, idx @8, gpfn @12 / @16
//                        (idx, gpfn 4 / 8 bytes).
// xen_memory_reservation: extent_start @0 (4 / 8), nr_extents @4 / @8 (4 / 8),
//                        extent_order @8 / @16, mem_flags @12 / @20,
//                        domid @16 / @24; list entries 4 / 8 bytes.
struct MemoryOpAbi : BothAbis {
    long memop(std::uint64_t cmd, std::uint64_t arg) {
        return abi_call(__HYPERVISOR_memory_op, cmd, arg);
    }
    long add_to_physmap(domid_t d, unsigned space, std::uint64_t idx, std::uint64_t gpfn) {
        poison(kArg, 32);
        put_uint(kArg + 0, d, 2);
        put_uint(kArg + 2, 0, 2);
        put_uint(kArg + 4, space, 4);
        put_uint(kArg + 8, idx, word());
        put_uint(kArg + at(12, 16), gpfn, word());
        return memop(XENMEM_add_to_physmap, kArg);
    }
    void reservation(std::uint64_t list, std::uint64_t nr, domid_t d) {
        poison(kArg, 32);
        put_uint(kArg + 0, list, word());
        put_uint(kArg + at(4, 8), nr, word());
        put_uint(kArg + at(8, 16), 0, 4);   // extent_order
        put_uint(kArg + at(12, 20), 0, 4);  // mem_flags
        put_uint(kArg + at(16, 24), d, 2);
    }
};

TEST_P(MemoryOpAbi, memory_map_when_called_then_entries_and_count_in_callers_layout) {
    poison(kArg, 32);
    put_uint(kArg, 1, 4);
    put_uint(kArg + at(4, 8), kBuf, word());
    ASSERT_EQ(memop(XENMEM_memory_map, kArg), 0);
    EXPECT_EQ(get_uint(kArg, 4), 1u);
    EXPECT_EQ(get_uint(kArg + at(4, 8), word()), kBuf);    // the handle left as it was
    EXPECT_EQ(get_uint(kArg + at(8, 16), 4), 0xa5a5a5a5u);  // nothing past the struct
    EXPECT_EQ(get_uint(kBuf + 8, 8), FakeGuest::kRamBytes);  // 20-byte e820 entries
    EXPECT_EQ(get_uint(kBuf + 16, 4), 1u);

    put_uint(kArg, 100, 4);
    ASSERT_EQ(memop(XENMEM_memory_map, kArg), 0);
    EXPECT_EQ(get_uint(kArg, 4), 2u);
    EXPECT_EQ(get_uint(kBuf + 20, 8), 0xfc000000u);

    put_uint(kArg + at(4, 8), kBad, word());
    EXPECT_EQ(memop(XENMEM_memory_map, kArg), -XEN_EFAULT);
}

TEST_P(MemoryOpAbi, add_to_physmap_when_shared_info_or_grant_frame_then_mapped_at_gpfn) {
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, 0x200), 0);
    EXPECT_EQ(dom.shared_info_gfn, 0x200u);
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 1, 0x201), -XEN_EINVAL);
    EXPECT_EQ(add_to_physmap(DOMID_SELF, XENMAPSPACE_grant_table, 0, 0x380), 0);
    EXPECT_EQ(dom.grants().frame_gfn(0), 0x380u);
    EXPECT_EQ(add_to_physmap(10, XENMAPSPACE_shared_info, 0, 0x201), -XEN_ESRCH);
    EXPECT_EQ(dom.shared_info_gfn, 0x200u);
}

TEST_P(MemoryOpAbi, decrease_then_populate_when_two_extents_then_both_done) {
    const std::uint64_t before = dom.memory().tot_pages();
    reservation(kBuf, 2, DOMID_SELF);
    put_uint(kBuf, 0x300, word());
    put_uint(kBuf + word(), 0x301, word());
    EXPECT_EQ(memop(XENMEM_decrease_reservation, kArg), 2);
    EXPECT_EQ(dom.memory().tot_pages(), before - 2);
    EXPECT_EQ(memop(XENMEM_populate_physmap, kArg), 2);
    EXPECT_EQ(dom.memory().tot_pages(), before);
}

TEST_P(MemoryOpAbi, reservation_queries_when_domid_pointer_then_same_in_both) {
    put_uint(kArg, DOMID_SELF, 2);
    EXPECT_EQ(memop(XENMEM_current_reservation, kArg),
              static_cast<long>(dom.memory().tot_pages()));
    EXPECT_EQ(memop(XENMEM_maximum_reservation, kArg),
              static_cast<long>(dom.memory().max_pages()));
    EXPECT_EQ(memop(XENMEM_maximum_gpfn, kArg),
              static_cast<long>(dom.memory().max_backed_gfn()));
    EXPECT_GT(memop(XENMEM_maximum_ram_page, 0), 0);
}

INSTANTIATE_TEST_SUITE_P(Abi, MemoryOpAbi, ::testing::Bool(), abi_name);

// A 32-bit guest that builds the 64-bit xen_memory_map gets what Xen's
// compat layer gives it: the padding read as its handle. Here that is an
// address outside guest memory, so -EFAULT, and nothing else happens.
TEST_F(MemoryOp, memory_map_when_32bit_caller_passes_64bit_layout_then_padding_is_handle) {
    put(kArg, std::uint32_t{2});
    put(kArg + 4, static_cast<std::uint32_t>(kBad));  // the native struct's padding
    put(kArg + 8, kBuf);
    EXPECT_EQ(memop(XENMEM_memory_map, kArg, false), -XEN_EFAULT);
    EXPECT_EQ(get<std::uint32_t>(kArg), 2u);
    EXPECT_EQ(get<std::uint64_t>(kBuf), 0u);
}

// The user-reported case (a 32-bit PVH GRUB): an 8-byte compat struct at
// the very end of guest memory, where a 16-byte read would fault.
TEST_F(MemoryOp, memory_map_when_32bit_struct_ends_at_end_of_memory_then_read_whole) {
    const std::uint64_t end = FakeGuest::kRamBytes - 8;
    put(end, std::uint32_t{8});
    put(end + 4, static_cast<std::uint32_t>(kBuf));
    EXPECT_EQ(memop(XENMEM_memory_map, end, false), 0);
    EXPECT_EQ(get<std::uint32_t>(end), 2u);
    EXPECT_EQ(memop(XENMEM_memory_map, end, true), -XEN_EFAULT);
}

// A 32-bit PVH guest's own paging: its handles are linear addresses in
// 2-level or PAE paging, walked by the same GuestAccess. Linear
// 0xc0001000 -> kArg and 0xc0002000 -> kBuf; 0xfffff000 -> 0x50000, the
// last page below 4 GiB, so a buffer running past it faults.
struct MemoryOp32BitPaging : HypercallTest, ::testing::WithParamInterface<bool> {
    static constexpr std::uint64_t kTables = 0x40000;
    bool pae() const { return GetParam(); }
    // The next free page for a table, per directory entry that needs one.
    std::uint64_t table_for(std::uint64_t key) {
        auto [it, fresh] = tables_.try_emplace(key, kTables + 0x1000 * (tables_.size() + 1));
        return it->second;
    }
    void map(std::uint64_t linear, std::uint64_t gpa) {
        if (pae()) {
            // PDPT at kTables (PDPTEs take P only), then a PD and a PT.
            const std::uint64_t gib = (linear >> 30) & 3;
            const std::uint64_t pd = table_for(gib), pt = table_for(0x10000 + (linear >> 21));
            put(kTables + gib * 8, pd | 1);
            put(pd + ((linear >> 21) & 511) * 8, pt | 3);
            put(pt + ((linear >> 12) & 511) * 8, gpa | 3);
        } else {
            // A page directory at kTables, a page table per 4 MiB.
            const std::uint64_t pt = table_for(linear >> 22);
            put(kTables + (linear >> 22) * 4, static_cast<std::uint32_t>(pt | 3));
            put(pt + ((linear >> 12) & 1023) * 4, static_cast<std::uint32_t>(gpa | 3));
        }
    }
    std::map<std::uint64_t, std::uint64_t> tables_;
    void SetUp() override {
        map(0xc0001000, kArg);
        map(0xc0002000, kBuf);
        map(0xfffff000, 0x50000);
        paging.cr0 = 0x80000001;  // PG | PE
        paging.cr3 = kTables;
        paging.cr4 = pae() ? 0x20 : 0;
        paging.efer = 0;
    }
    long memory_map_at(std::uint64_t linear) {
        return call(__HYPERVISOR_memory_op, XENMEM_memory_map, linear, 0, 0, false);
    }
};

TEST_P(MemoryOp32BitPaging, memory_map_when_handles_are_paged_linear_addresses_then_copied) {
    put(kArg, std::uint32_t{8});
    put(kArg + 4, std::uint32_t{0xc0002000});
    ASSERT_EQ(memory_map_at(0xc0001000), 0);
    EXPECT_EQ(get<std::uint32_t>(kArg), 2u);
    EXPECT_EQ(get<std::uint64_t>(kBuf + 8), FakeGuest::kRamBytes);
    EXPECT_EQ(get<std::uint64_t>(kBuf + 20), 0xfc000000u);
    EXPECT_EQ(memory_map_at(0xc0003000), -XEN_EFAULT);  // not mapped
}

TEST_P(MemoryOp32BitPaging, memory_map_when_buffer_runs_past_4gib_then_efault) {
    put(kArg, std::uint32_t{2});  // 40 bytes from 0xfffffff0: 16 fit
    put(kArg + 4, std::uint32_t{0xfffffff0});
    EXPECT_EQ(memory_map_at(0xc0001000), -XEN_EFAULT);
    put(kArg, std::uint32_t{2});
    put(kArg + 4, std::uint32_t{0xffffffd8});  // 40 bytes end exactly at 4 GiB
    EXPECT_EQ(memory_map_at(0xc0001000), 0);
    EXPECT_EQ(get<std::uint64_t>(0x50000 + 0xfd8 + 8), FakeGuest::kRamBytes);
}

INSTANTIATE_TEST_SUITE_P(Paging, MemoryOp32BitPaging, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "pae" : "two_level"; });

}  // namespace
}  // namespace xenolith::test
