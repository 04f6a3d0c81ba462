#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

using VmAssist = HypercallTest;

TEST_F(VmAssist, runstate_update_flag_when_enabled_then_disabled_then_bit_follows) {
    constexpr unsigned kBit = 1u << VMASST_TYPE_runstate_update_flag;
    EXPECT_EQ(call(__HYPERVISOR_vm_assist, VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag),
              0);
    EXPECT_EQ(dom.vm_assist_bits, kBit);
    EXPECT_EQ(call(__HYPERVISOR_vm_assist, VMASST_CMD_disable, VMASST_TYPE_runstate_update_flag),
              0);
    EXPECT_EQ(dom.vm_assist_bits, 0u);
}

TEST_F(VmAssist, pv_only_or_out_of_range_type_when_enabled_then_einval) {
    for (std::uint64_t type : {std::uint64_t{0}, std::uint64_t{VMASST_TYPE_pae_extended_cr3},
                               std::uint64_t{31}, std::uint64_t{32}, std::uint64_t{1} << 40,
                               ~std::uint64_t{0}})
        EXPECT_EQ(call(__HYPERVISOR_vm_assist, VMASST_CMD_enable, type), -XEN_EINVAL) << type;
    EXPECT_EQ(dom.vm_assist_bits, 0u);
}

TEST_F(VmAssist, unknown_command_when_valid_type_then_enosys) {
    EXPECT_EQ(call(__HYPERVISOR_vm_assist, 2, VMASST_TYPE_runstate_update_flag), -XEN_ENOSYS);
    EXPECT_EQ(dom.vm_assist_bits, 0u);
}

}  // namespace
}  // namespace xenolith::test
