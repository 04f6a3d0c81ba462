// grant_table_op's table-level sub-ops (query_size, setup_table, versions)
// and its filter. Map, unmap and copy are grant/'s business and are not
// asserted here.
#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/grant_table.h>
}

#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

struct GrantTableOp : HypercallTest {
    long gnttab(std::uint64_t cmd, std::uint64_t count = 1, std::uint64_t uop = kArg,
                bool is64 = true) {
        return call(__HYPERVISOR_grant_table_op, cmd, uop, count, 0, is64);
    }
};

TEST_F(GrantTableOp, query_size_when_self_then_frames_and_okay) {
    gnttab_query_size_t q{};
    q.dom = DOMID_SELF;
    put(kArg, q);
    ASSERT_EQ(gnttab(GNTTABOP_query_size), 0);
    q = get<gnttab_query_size_t>(kArg);
    EXPECT_EQ(q.status, GNTST_okay);
    EXPECT_EQ(q.nr_frames, 1u);
    EXPECT_EQ(q.max_nr_frames, grant::kMaxFramesLimit);
}

TEST_F(GrantTableOp, query_size_when_other_domain_then_status_not_rc) {
    dom.others = {9};
    gnttab_query_size_t q{};
    q.dom = 9;
    put(kArg, q);
    ASSERT_EQ(gnttab(GNTTABOP_query_size), 0);
    EXPECT_EQ(get<gnttab_query_size_t>(kArg).status, GNTST_permission_denied);
    q.dom = 10;
    put(kArg, q);
    ASSERT_EQ(gnttab(GNTTABOP_query_size), 0);
    EXPECT_EQ(get<gnttab_query_size_t>(kArg).status, GNTST_bad_domain);
}

TEST_F(GrantTableOp, table_subops_when_count_or_pointer_bad_then_einval_efault) {
    EXPECT_EQ(gnttab(GNTTABOP_query_size, 2), -XEN_EINVAL);
    EXPECT_EQ(gnttab(GNTTABOP_setup_table, 0), -XEN_EINVAL);
    EXPECT_EQ(gnttab(GNTTABOP_query_size, 0x80000000), -XEN_EINVAL);  // negative int
    EXPECT_EQ(gnttab(GNTTABOP_query_size, 1, kBad), -XEN_EFAULT);
    EXPECT_EQ(gnttab(GNTTABOP_setup_table, 1, kBad), -XEN_EFAULT);
    EXPECT_EQ(gnttab(GNTTABOP_set_version, 1, kBad), -XEN_EFAULT);
    EXPECT_EQ(gnttab(GNTTABOP_get_version, 1, kBad), -XEN_EFAULT);
}

TEST_F(GrantTableOp, setup_table_when_64bit_then_frame_list_written) {
    gnttab_setup_table_t s{};
    s.dom = DOMID_SELF;
    s.nr_frames = 2;
    set_xen_guest_handle(s.frame_list, reinterpret_cast<xen_pfn_t*>(kBuf));
    put(kArg, s);
    ASSERT_EQ(gnttab(GNTTABOP_setup_table), 0);
    EXPECT_EQ(get<gnttab_setup_table_t>(kArg).status, GNTST_okay);
    EXPECT_EQ(get<std::uint64_t>(kBuf), grant::kNoGfn);  // not placed yet
    EXPECT_EQ(dom.grants().nr_frames(), 2u);
}

TEST_F(GrantTableOp, setup_table_when_list_unwritable_or_too_big_then_status) {
    gnttab_setup_table_t s{};
    s.dom = DOMID_SELF;
    s.nr_frames = 1;
    set_xen_guest_handle(s.frame_list, reinterpret_cast<xen_pfn_t*>(kBad));
    put(kArg, s);
    ASSERT_EQ(gnttab(GNTTABOP_setup_table), 0);
    EXPECT_EQ(get<gnttab_setup_table_t>(kArg).status, GNTST_bad_virt_addr);
    s.nr_frames = grant::kMaxFramesLimit + 1;
    set_xen_guest_handle(s.frame_list, reinterpret_cast<xen_pfn_t*>(kBuf));
    put(kArg, s);
    ASSERT_EQ(gnttab(GNTTABOP_setup_table), 0);
    EXPECT_EQ(get<gnttab_setup_table_t>(kArg).status, GNTST_general_error);
}

TEST_F(GrantTableOp, setup_table_when_32bit_then_compat_layout_and_zero_count) {
    EXPECT_EQ(gnttab(GNTTABOP_setup_table, 0, kBad, false), 0);  // loops zero times
    struct {
        domid_t dom;
        std::uint32_t nr_frames;
        std::int16_t status;
        std::uint32_t frame_list;
    } c{DOMID_SELF, 1, 99, static_cast<std::uint32_t>(kBuf)};
    put(kArg, c);
    put(kBuf, std::uint64_t{0x1111111111111111});
    ASSERT_EQ(gnttab(GNTTABOP_setup_table, 1, kArg, false), 0);
    EXPECT_EQ(get<decltype(c)>(kArg).status, GNTST_okay);
    EXPECT_EQ(get<std::uint32_t>(kBuf), static_cast<std::uint32_t>(grant::kNoGfn));
    EXPECT_EQ(get<std::uint32_t>(kBuf + 4), 0x11111111u);  // 4-byte entries
}

TEST_F(GrantTableOp, versions_when_switched_then_reported_and_bad_version_refused) {
    gnttab_set_version_t v{};
    v.version = 2;
    put(kArg, v);
    EXPECT_EQ(gnttab(GNTTABOP_set_version), 0);
    EXPECT_EQ(get<gnttab_set_version_t>(kArg).version, 2u);
    v.version = 3;
    put(kArg, v);
    EXPECT_EQ(gnttab(GNTTABOP_set_version), -XEN_EINVAL);
    EXPECT_EQ(get<gnttab_set_version_t>(kArg).version, 2u);  // the one in effect

    gnttab_get_version_t g{};
    g.dom = DOMID_SELF;
    put(kArg, g);
    EXPECT_EQ(gnttab(GNTTABOP_get_version), 0);
    EXPECT_EQ(get<gnttab_get_version_t>(kArg).version, 2u);
    dom.others = {9};
    g.dom = 9;
    put(kArg, g);
    EXPECT_EQ(gnttab(GNTTABOP_get_version), -XEN_EPERM);
    g.dom = 10;
    put(kArg, g);
    EXPECT_EQ(gnttab(GNTTABOP_get_version), -XEN_ESRCH);
}

TEST_F(GrantTableOp, pv_only_subops_when_called_then_enosys_quietly) {
    for (std::uint64_t cmd : {GNTTABOP_transfer, GNTTABOP_dump_table, GNTTABOP_get_status_frames,
                              GNTTABOP_unmap_and_replace, GNTTABOP_cache_flush})
        EXPECT_EQ(gnttab(cmd), -XEN_ENOSYS) << cmd;
    EXPECT_TRUE(dom.log.empty());
}

TEST_F(GrantTableOp, unknown_or_continuation_bits_when_called_then_enosys_logged) {
    EXPECT_EQ(gnttab(GNTTABOP_cache_flush + 1), -XEN_ENOSYS);
    EXPECT_EQ(gnttab(GNTTABOP_query_size | (1u << 12)), -XEN_ENOSYS);
    EXPECT_EQ(dom.log.size(), 2u);
}

// ---- Both ABIs. gnttab_setup_table: dom @0, nr_frames @4, status @8,
// frame_list @12 (4) / @16 (8), entries 4 / 8 bytes. gnttab_copy: source
// and dest {ref/gmfn 4 / 8, domid, offset} of 8 / 16 bytes, len @16 / @32,
// flags @18 / @34, status @20 / @36; 24 / 40 bytes each. query_size,
// set_version and get_version are the same in both.
struct GrantTableOpAbi : BothAbis {
    long gnttab(std::uint64_t cmd, std::uint32_t count, std::uint64_t uop) {
        return abi_call(__HYPERVISOR_grant_table_op, cmd, uop, count);
    }
    std::uint64_t copy_size() const { return at(24, 40); }
};

TEST_P(GrantTableOpAbi, setup_table_when_callers_layout_then_list_and_status) {
    poison(kArg, 32);
    put_uint(kArg, DOMID_SELF, 2);
    put_uint(kArg + 4, 2, 4);
    put_uint(kArg + at(12, 16), kBuf, word());
    poison(kBuf, 32);
    ASSERT_EQ(gnttab(GNTTABOP_setup_table, 1, kArg), 0);
    EXPECT_EQ(static_cast<std::int16_t>(get_uint(kArg + 8, 2)), GNTST_okay);
    EXPECT_EQ(get_uint(kBuf, word()), grant::kNoGfn & (is64() ? ~0ull : 0xffffffffull));
    EXPECT_EQ(get_uint(kBuf + word(), word()), grant::kNoGfn & (is64() ? ~0ull : 0xffffffffull));
    EXPECT_EQ(get_uint(kBuf + 2 * word(), 4), 0xa5a5a5a5u);
}

TEST_P(GrantTableOpAbi, query_and_versions_when_called_then_same_layout) {
    poison(kArg, 32);
    put_uint(kArg, DOMID_SELF, 2);  // gnttab_query_size
    ASSERT_EQ(gnttab(GNTTABOP_query_size, 1, kArg), 0);
    EXPECT_EQ(get_uint(kArg + 4, 4), dom.grants().nr_frames());
    EXPECT_EQ(get_uint(kArg + 8, 4), dom.grants().limits().max_grant_frames);
    EXPECT_EQ(get_uint(kArg + 12, 2), 0u);  // GNTST_okay
    put_uint(kArg, 2, 4);  // gnttab_set_version
    EXPECT_EQ(gnttab(GNTTABOP_set_version, 1, kArg), 0);
    put_uint(kArg, DOMID_SELF, 2);  // gnttab_get_version: version @4
    EXPECT_EQ(gnttab(GNTTABOP_get_version, 1, kArg), 0);
    EXPECT_EQ(get_uint(kArg + 4, 4), 2u);
}

TEST_P(GrantTableOpAbi, copy_when_batch_then_each_status_at_its_own_offset) {
    // Two copies naming a domain that does not exist: each gets its
    // status, and nothing else in either op changes.
    poison(kArg, 2 * copy_size() + 8);
    for (unsigned i = 0; i < 2; ++i) {
        const std::uint64_t op = kArg + i * copy_size();
        put_uint(op, 1, word());                            // source.u.ref
        put_uint(op + word(), 9, 2);                        // source.domid
        put_uint(op + word() + 2, 0, 2);                    // source.offset
        put_uint(op + at(8, 16), 0x100, word());            // dest.u.gmfn
        put_uint(op + at(8, 16) + word(), DOMID_SELF, 2);   // dest.domid
        put_uint(op + at(8, 16) + word() + 2, 0, 2);        // dest.offset
        put_uint(op + at(16, 32), 8, 2);                    // len
        put_uint(op + at(18, 34), 0, 2);                    // flags
    }
    ASSERT_EQ(gnttab(GNTTABOP_copy, 2, kArg), 0);
    for (unsigned i = 0; i < 2; ++i) {
        const std::uint64_t op = kArg + i * copy_size();
        EXPECT_NE(static_cast<std::int16_t>(get_uint(op + at(20, 36), 2)), GNTST_okay) << i;
        EXPECT_NE(get_uint(op + at(20, 36), 2), 0xa5a5u) << i;
        EXPECT_EQ(get_uint(op + at(16, 32), 2), 8u) << i;
    }
    EXPECT_EQ(get_uint(kArg + 2 * copy_size(), 4), 0xa5a5a5a5u);
}

INSTANTIATE_TEST_SUITE_P(Abi, GrantTableOpAbi, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
