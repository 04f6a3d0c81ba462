#include <gtest/gtest.h>

#include "hypercall/transport.hpp"

namespace xenolith::hypercall {
namespace {

TEST(Transport, kvm_xen_only_when_the_host_can_intercept_hypercalls) {
    EXPECT_EQ(choose_transport(0), Transport::port_io);
    EXPECT_EQ(choose_transport(-1), Transport::port_io);
    EXPECT_EQ(choose_transport(KVM_XEN_HVM_CONFIG_HYPERCALL_MSR), Transport::port_io);
    EXPECT_EQ(choose_transport(KVM_XEN_HVM_CONFIG_HYPERCALL_MSR | KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL),
              Transport::kvm_xen);
}

TEST(Transport, kvm_xen_exit_decodes_64_bit_calls) {
    decltype(kvm_run::xen) x{};
    x.type = KVM_EXIT_XEN_HCALL;
    x.u.hcall.longmode = 1;
    x.u.hcall.cpl = 0;
    x.u.hcall.input = 32;  // event_channel_op
    for (unsigned i = 0; i < 6; ++i) x.u.hcall.params[i] = 0x1111111100000000ull + i;
    auto c = decode_kvm_xen_exit(x);
    ASSERT_TRUE(c.has_value());
    EXPECT_TRUE(c->is64);
    EXPECT_EQ(c->nr, 32u);
    EXPECT_EQ(c->arg[4], 0x1111111100000004ull);
}

TEST(Transport, kvm_xen_exit_truncates_32_bit_calls_and_keeps_cpl) {
    decltype(kvm_run::xen) x{};
    x.type = KVM_EXIT_XEN_HCALL;
    x.u.hcall.longmode = 0;
    x.u.hcall.cpl = 3;
    x.u.hcall.input = 0xffffffff00000011ull;
    x.u.hcall.params[0] = 0xdeadbeefcafef00dull;
    auto c = decode_kvm_xen_exit(x);
    ASSERT_TRUE(c.has_value());
    EXPECT_FALSE(c->is64);
    EXPECT_EQ(c->nr, 0x11u);
    EXPECT_EQ(c->arg[0], 0xcafef00dull);
    EXPECT_EQ(c->cpl, 3u);
}

TEST(Transport, other_kvm_xen_exit_types_are_not_hypercalls) {
    decltype(kvm_run::xen) x{};
    x.type = 99;
    EXPECT_FALSE(decode_kvm_xen_exit(x).has_value());
}

TEST(Transport, port_io_call_reads_the_abi_of_the_current_mode) {
    kvm_regs r{};
    r.rdi = 1; r.rsi = 2; r.rdx = 3; r.r10 = 4; r.r8 = 5;
    r.rbx = 0x100000011ull; r.rcx = 12; r.rdi = 1;
    kvm_sregs s{};
    s.efer = 1ull << 10;  // LMA
    s.cs.l = 1;
    auto c64 = decode_port_io_call(17, r, s);
    EXPECT_TRUE(c64.is64);
    EXPECT_EQ(c64.arg[3], 4u);
    s.cs.l = 0;  // compatibility mode: the 32-bit ABI
    auto c32 = decode_port_io_call(17, r, s);
    EXPECT_FALSE(c32.is64);
    EXPECT_EQ(c32.arg[0], 0x11u);
    EXPECT_EQ(c32.arg[1], 12u);
    s.cs.selector = 0x1b;
    EXPECT_EQ(decode_port_io_call(17, r, s).cpl, 3u);
}

TEST(Transport, result_register_when_32bit_then_low_half_with_int_sign) {
    EXPECT_EQ(result_register(-38, true), 0xffffffffffffffdaull);  // -ENOSYS
    EXPECT_EQ(result_register(-38, false), 0xffffffdaull);         // eax = -ENOSYS
    EXPECT_EQ(static_cast<std::int32_t>(result_register(-38, false)), -38);
    EXPECT_EQ(result_register(0x123456789, true), 0x123456789ull);
    EXPECT_EQ(result_register(0x123456789, false), 0x23456789ull);  // eax only
    EXPECT_EQ(result_register(0x80000000, false), 0x80000000ull);   // int: reads negative
}

}  // namespace
}  // namespace xenolith::hypercall
