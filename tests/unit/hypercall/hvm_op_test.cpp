#include <cstring>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
}

#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

struct HvmOp : HypercallTest {
    long param(std::uint64_t op, domid_t d, std::uint32_t index, std::uint64_t value = 0) {
        xen_hvm_param_t p{};
        p.domid = d;
        p.index = index;
        p.value = value;
        put(kArg, p);
        return call(__HYPERVISOR_hvm_op, op, kArg);
    }
};

TEST_F(HvmOp, allowed_param_when_set_then_get_reads_it_back) {
    EXPECT_EQ(param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_CALLBACK_IRQ, 0x0200000000000f3ull), 0);
    EXPECT_EQ(dom.params[HVM_PARAM_CALLBACK_IRQ], 0x0200000000000f3ull);
    EXPECT_EQ(param(HVMOP_get_param, dom.domid(), HVM_PARAM_CALLBACK_IRQ), 0);
    EXPECT_EQ(get<xen_hvm_param_t>(kArg).value, 0x0200000000000f3ull);
}

TEST_F(HvmOp, ring_pfns_when_set_then_eperm_get_allowed) {
    dom.params[HVM_PARAM_STORE_PFN] = 0xfeffc;
    EXPECT_EQ(param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_STORE_PFN, 1), -XEN_EPERM);
    EXPECT_EQ(dom.params[HVM_PARAM_STORE_PFN], 0xfeffcu);
    EXPECT_EQ(param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_STORE_PFN), 0);
    EXPECT_EQ(get<xen_hvm_param_t>(kArg).value, 0xfeffcu);
}

TEST_F(HvmOp, toolstack_only_param_when_accessed_then_eperm) {
    EXPECT_EQ(param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_IDENT_PT, 1), -XEN_EPERM);
    EXPECT_EQ(param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_IDENT_PT), -XEN_EPERM);
}

TEST_F(HvmOp, index_out_of_range_or_deprecated_when_accessed_then_einval) {
    EXPECT_EQ(param(HVMOP_set_param, DOMID_SELF, HVM_NR_PARAMS, 1), -XEN_EINVAL);
    EXPECT_EQ(param(HVMOP_get_param, DOMID_SELF, 0xffffffff), -XEN_EINVAL);
    EXPECT_EQ(param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_PAE_ENABLED), -XEN_EINVAL);
    // Range is checked before the domain: no lookup for a bad index.
    EXPECT_EQ(param(HVMOP_get_param, 77, HVM_NR_PARAMS), -XEN_EINVAL);
}

TEST_F(HvmOp, other_domain_when_named_then_eperm_or_esrch) {
    dom.others = {9};
    EXPECT_EQ(param(HVMOP_get_param, 9, HVM_PARAM_CALLBACK_IRQ), -XEN_EPERM);
    EXPECT_EQ(param(HVMOP_set_param, 10, HVM_PARAM_CALLBACK_IRQ, 1), -XEN_ESRCH);
    EXPECT_EQ(param(HVMOP_set_param, DOMID_IO, HVM_PARAM_CALLBACK_IRQ, 1), -XEN_ESRCH);
    EXPECT_EQ(dom.params[HVM_PARAM_CALLBACK_IRQ], 0u);
}

TEST_F(HvmOp, bad_pointer_when_any_subop_then_efault) {
    for (std::uint64_t op : {HVMOP_set_param, HVMOP_get_param, HVMOP_set_evtchn_upcall_vector,
                             HVMOP_get_time, HVMOP_pagetable_dying})
        EXPECT_EQ(call(__HYPERVISOR_hvm_op, op, kBad), -XEN_EFAULT) << op;
}

TEST_F(HvmOp, upcall_vector_when_low_vector_or_bad_vcpu_then_einval_enoent) {
    xen_hvm_evtchn_upcall_vector_t v{};
    v.vcpu = 1;
    v.vector = 0xf3;
    put(kArg, v);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, kArg), 0);
    EXPECT_EQ(dom.upcall_vectors[1], 0xf3);
    v.vector = 0x0f;
    put(kArg, v);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, kArg), -XEN_EINVAL);
    v.vector = 0xf3;
    v.vcpu = 2;
    put(kArg, v);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, kArg), -XEN_ENOENT);
    v.vcpu = 0xffffffff;
    put(kArg, v);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, kArg), -XEN_ENOENT);
}

TEST_F(HvmOp, get_time_when_asked_then_monotonic_nanoseconds) {
    ASSERT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_get_time, kArg), 0);
    const std::uint64_t t0 = get<xen_hvm_get_time_t>(kArg).now;
    ASSERT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_get_time, kArg), 0);
    EXPECT_GE(get<xen_hvm_get_time_t>(kArg).now, t0);
    EXPECT_GT(t0, 0u);
}

TEST_F(HvmOp, pagetable_dying_when_other_domain_then_eopnotsupp) {
    xen_hvm_pagetable_dying_t a{};
    a.domid = DOMID_SELF;
    put(kArg, a);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_pagetable_dying, kArg), 0);
    a.domid = 3;
    put(kArg, a);
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_pagetable_dying, kArg), -XEN_EOPNOTSUPP);
}

TEST_F(HvmOp, unknown_subop_when_called_then_enosys_logged) {
    EXPECT_EQ(call(__HYPERVISOR_hvm_op, 0x1000, kArg), -XEN_ENOSYS);
    EXPECT_EQ(dom.log, std::vector<std::string>{"unknown hvm_op sub-op 4096"});
}

// ---- Both ABIs: xen_hvm_param is domid @0, index @4, value @8 (16 bytes)
// in both; a 32-bit guest reads the whole 64-bit value.
struct HvmOpAbi : BothAbis {
    long param(std::uint64_t op, std::uint32_t index, std::uint64_t value) {
        poison(kArg, 32);
        put_uint(kArg, DOMID_SELF, 2);
        put_uint(kArg + 2, 0, 2);
        put_uint(kArg + 4, index, 4);
        put_uint(kArg + 8, value, 8);
        return abi_call(__HYPERVISOR_hvm_op, op, kArg);
    }
};

TEST_P(HvmOpAbi, param_when_set_and_got_then_full_64bit_value_at_offset_8) {
    EXPECT_EQ(param(HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, 0x02000000000000f3ull), 0);
    EXPECT_EQ(dom.params[HVM_PARAM_CALLBACK_IRQ], 0x02000000000000f3ull);
    EXPECT_EQ(param(HVMOP_get_param, HVM_PARAM_CALLBACK_IRQ, 0), 0);
    EXPECT_EQ(get_uint(kArg + 8, 8), 0x02000000000000f3ull);
    EXPECT_EQ(get_uint(kArg + 16, 4), 0xa5a5a5a5u);
}

TEST_P(HvmOpAbi, upcall_vector_and_time_when_called_then_same_layout) {
    put_uint(kArg, 1, 4);  // xen_hvm_evtchn_upcall_vector: vcpu @0, vector @4
    put_uint(kArg + 4, 0xf3, 1);
    EXPECT_EQ(abi_call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, kArg), 0);
    EXPECT_EQ(dom.upcall_vectors[1], 0xf3);
    put_uint(kArg, 0, 8);
    EXPECT_EQ(abi_call(__HYPERVISOR_hvm_op, HVMOP_get_time, kArg), 0);
    EXPECT_NE(get_uint(kArg, 8), 0u);
}

// Xen's hvm_latch_shinfo_size: setting HVM_PARAM_CALLBACK_IRQ latches the
// shared_info layout from the caller's mode; 2-level events then land at
// that layout's offsets (selector at vcpu_info+4 as a 32-bit word in
// compat, +8 as a 64-bit word natively; pending bitmap at 2048 in both).
TEST_P(HvmOpAbi, callback_irq_when_set_then_layout_latched_from_caller_mode) {
    ASSERT_EQ(param(HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, 0x02000000000000f3ull), 0);
    EXPECT_EQ(dom.latches, std::vector<bool>{is64()});
    EXPECT_EQ(dom.target().layout, is64() ? evtchn::SharedInfoLayout::native64
                                          : evtchn::SharedInfoLayout::compat32);

    // Port 40: word 40 / 64 = 0 natively, 40 / 32 = 1 in compat.
    evtchn::Port p = 0;
    do {
        ASSERT_EQ(dom.events().bind_ipi(0, &p), 0);
    } while (p < 40);
    ASSERT_EQ(dom.events().send(p), 0);
    const std::uint8_t* page = dom.target().page();
    EXPECT_EQ(page[2048 + 40 / 8], 1u << (40 % 8));
    std::uint64_t sel = 0;
    std::memcpy(&sel, page + (is64() ? 8 : 4), is64() ? 8 : 4);
    EXPECT_EQ(sel, is64() ? 1u : 2u);
    EXPECT_EQ(dom.events().max_ports(), 1024u);  // the fake asks for 1024
}

TEST_P(HvmOpAbi, other_params_or_refused_sets_when_called_then_no_latch) {
    EXPECT_EQ(param(HVMOP_set_param, HVM_PARAM_STORE_EVTCHN, 3), 0);
    EXPECT_EQ(param(HVMOP_get_param, HVM_PARAM_CALLBACK_IRQ, 0), 0);
    EXPECT_EQ(param(HVMOP_set_param, HVM_PARAM_STORE_PFN, 1), -XEN_EPERM);
    EXPECT_TRUE(dom.latches.empty());
    EXPECT_EQ(dom.target().layout, evtchn::SharedInfoLayout::native64);
}

TEST_F(HvmOp, callback_irq_when_set_again_from_the_other_mode_then_relatched) {
    xen_hvm_param_t p{};
    p.domid = DOMID_SELF;
    p.index = HVM_PARAM_CALLBACK_IRQ;
    p.value = 0x02000000000000f3ull;
    put(kArg, p);
    ASSERT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_param, kArg, 0, 0, false), 0);
    EXPECT_EQ(dom.target().layout, evtchn::SharedInfoLayout::compat32);
    ASSERT_EQ(call(__HYPERVISOR_hvm_op, HVMOP_set_param, kArg, 0, 0, true), 0);
    EXPECT_EQ(dom.target().layout, evtchn::SharedInfoLayout::native64);
    EXPECT_EQ(dom.latches, (std::vector<bool>{false, true}));
}

INSTANTIATE_TEST_SUITE_P(Abi, HvmOpAbi, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
