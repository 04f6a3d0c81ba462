#include <gtest/gtest.h>

#include <cstring>

extern "C" {
#include <xen/errno.h>
#include <xen/features.h>
#include <xen/version.h>
}

#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

using XenVersion = HypercallTest;


TEST_F(XenVersion, version_when_asked_then_4_17) {
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_version), 0x40011);
}

TEST_F(XenVersion, strings_when_asked_then_nul_terminated_in_fixed_buffers) {
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_extraversion, kArg), 0);
    EXPECT_STREQ(str(kArg), ".0-xenolith");
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_capabilities, kArg), 0);
    EXPECT_NE(std::strstr(str(kArg), "hvm-3.0-x86_64"), nullptr);
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_commandline, kArg), 0);
    EXPECT_STREQ(str(kArg), "<denied>");
}

TEST_F(XenVersion, every_copying_subop_when_bad_pointer_then_efault) {
    for (std::uint64_t cmd : {XENVER_extraversion, XENVER_compile_info, XENVER_capabilities,
                              XENVER_changeset, XENVER_platform_parameters, XENVER_get_features,
                              XENVER_guest_handle, XENVER_commandline})
        EXPECT_EQ(call(__HYPERVISOR_xen_version, cmd, kBad), -XEN_EFAULT) << cmd;
}

TEST_F(XenVersion, platform_parameters_when_32bit_then_no_compat_hole) {
    put(kArg, ~std::uint64_t{0});
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_platform_parameters, kArg, 0, 0, false), 0);
    EXPECT_EQ(get<std::uint32_t>(kArg), 0u);  // Debian's Xen: CONFIG_PV32 off
    EXPECT_EQ(get<std::uint32_t>(kArg + 4), 0xffffffffu);
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_platform_parameters, kArg), 0);
    EXPECT_EQ(get<xen_platform_parameters_t>(kArg).virt_start, 0xffff800000000000u);
}

TEST_F(XenVersion, get_features_when_submap_out_of_range_then_einval) {
    xen_feature_info_t fi{};
    fi.submap_idx = XENFEAT_NR_SUBMAPS;
    put(kArg, fi);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_get_features, kArg), -XEN_EINVAL);
    fi.submap_idx = 0;
    put(kArg, fi);
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_get_features, kArg), 0);
    EXPECT_TRUE(get<xen_feature_info_t>(kArg).submap & (1u << XENFEAT_hvm_callback_vector));
}

TEST_F(XenVersion, pagesize_when_argument_given_then_einval) {
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_pagesize), 4096);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_pagesize, 1), -XEN_EINVAL);
}

TEST_F(XenVersion, guest_handle_when_asked_then_the_domain_uuid) {
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_guest_handle, kArg), 0);
    EXPECT_EQ(0, std::memcmp(str(kArg), dom.handle().data(), 16));
}

TEST_F(XenVersion, build_id_and_unknown_when_asked_then_eperm_and_enosys) {
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_build_id, kArg), -XEN_EPERM);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, 0x1234, kArg), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, ~std::uint64_t{0}, kArg), -XEN_ENOSYS);
    EXPECT_EQ(dom.log.size(), 2u);
}

// ---- Both ABIs. xen_platform_parameters: virt_start is 4 / 8 bytes;
// feature_info, compile_info and the strings are the same in both.
struct XenVersionAbi : BothAbis {};

TEST_P(XenVersionAbi, platform_parameters_when_asked_then_callers_width_only) {
    poison(kArg, 16);
    ASSERT_EQ(abi_call(__HYPERVISOR_xen_version, XENVER_platform_parameters, kArg), 0);
    EXPECT_EQ(get_uint(kArg, word()), is64() ? 0xffff800000000000ull : 0u);
    EXPECT_EQ(get_uint(kArg + word(), 4), 0xa5a5a5a5u);
}

TEST_P(XenVersionAbi, same_layout_subops_when_asked_then_same_answers) {
    EXPECT_EQ(abi_call(__HYPERVISOR_xen_version, XENVER_version), (4 << 16) | 17);
    put_uint(kArg, 0, 4);  // xen_feature_info: submap_idx @0, submap @4
    ASSERT_EQ(abi_call(__HYPERVISOR_xen_version, XENVER_get_features, kArg), 0);
    EXPECT_NE(get_uint(kArg + 4, 4) & (1u << XENFEAT_hvm_callback_vector), 0u);
    ASSERT_EQ(abi_call(__HYPERVISOR_xen_version, XENVER_capabilities, kArg), 0);
    EXPECT_STREQ(str(kArg), "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
    EXPECT_EQ(abi_call(__HYPERVISOR_xen_version, XENVER_pagesize), 4096);
}

INSTANTIATE_TEST_SUITE_P(Abi, XenVersionAbi, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
