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

}  // namespace
}  // namespace xenolith::test
