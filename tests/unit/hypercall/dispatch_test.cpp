// dispatch: numbers to families, unknown numbers and sub-ops (-ENOSYS,
// logged once each), and how domid arguments resolve.
#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/memory.h>
#include <xen/version.h>
}

#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

using Dispatch = HypercallTest;

TEST_F(Dispatch, known_number_when_called_then_reaches_its_family) {
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_version), (4 << 16) | 17);
}

TEST_F(Dispatch, unknown_number_when_called_then_enosys_logged_once) {
    EXPECT_EQ(call(60), -XEN_ENOSYS);
    EXPECT_EQ(call(60), -XEN_ENOSYS);
    ASSERT_EQ(dom.log.size(), 1u);
    EXPECT_EQ(dom.log[0], "unknown hypercall 60");
}

TEST_F(Dispatch, number_beyond_table_when_called_then_enosys) {
    EXPECT_EQ(call(64), -XEN_ENOSYS);
    EXPECT_EQ(call(~std::uint64_t{0}), -XEN_ENOSYS);
    EXPECT_EQ(call(std::uint64_t{1} << 40 | __HYPERVISOR_xen_version), -XEN_ENOSYS);
    EXPECT_EQ(dom.log.size(), 3u);
}

// Different warnings never silence each other: a guest that triggers one
// still gets the next logged.
TEST_F(Dispatch, two_different_warnings_when_triggered_then_both_logged) {
    EXPECT_EQ(call(__HYPERVISOR_xen_version, 99), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, 99), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, 99), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, 98), -XEN_ENOSYS);
    EXPECT_EQ(call(0), -XEN_ENOSYS);
    EXPECT_EQ(dom.log, (std::vector<std::string>{
                           "unknown xen_version sub-op 99", "unknown vcpu_op sub-op 99",
                           "unknown sched_op sub-op 99", "unknown xen_version sub-op 98",
                           "unknown hypercall 0"}));
}

TEST_F(Dispatch, check_self_domid_when_each_kind_of_id_then_xen_errnos) {
    hypercall::GuestAccess access(dom.memory(), x86::PagingState{});
    hypercall::Context ctx{dom, *dom.vcpu(0), {}, access, true};
    dom.others = {7};
    EXPECT_EQ(hypercall::check_self_domid(ctx, DOMID_SELF), 0);
    EXPECT_EQ(hypercall::check_self_domid(ctx, dom.domid()), 0);
    EXPECT_EQ(hypercall::check_self_domid(ctx, 7), -XEN_EPERM);
    EXPECT_EQ(hypercall::check_self_domid(ctx, 0), -XEN_EPERM);
    EXPECT_EQ(hypercall::check_self_domid(ctx, 8), -XEN_ESRCH);  // absent or half-built
    EXPECT_EQ(hypercall::check_self_domid(ctx, DOMID_IO), -XEN_ESRCH);
    EXPECT_EQ(hypercall::check_self_domid(ctx, DOMID_INVALID), -XEN_ESRCH);
}

// The table is the same for both ABIs (Xen's hvm32 and hvm64 columns,
// restricted to what xenolith offers): multicall and physdev_op are not
// offered to either.
struct DispatchAbi : BothAbis {};

TEST_P(DispatchAbi, table_when_called_from_either_abi_then_same_families) {
    EXPECT_EQ(abi_call(__HYPERVISOR_xen_version, XENVER_version), (4 << 16) | 17);
    EXPECT_EQ(abi_call(__HYPERVISOR_multicall, kArg, 1), -XEN_ENOSYS);
    EXPECT_EQ(abi_call(__HYPERVISOR_physdev_op, 0, kArg), -XEN_ENOSYS);
    EXPECT_EQ(abi_call(__HYPERVISOR_vm_assist, VMASST_CMD_enable,
                       VMASST_TYPE_runstate_update_flag),
              0);
    EXPECT_EQ(abi_call(__HYPERVISOR_set_timer_op, 0), 0);
}

INSTANTIATE_TEST_SUITE_P(Abi, DispatchAbi, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
