#include "arch/x86/cpuid_xen.hpp"

#include <gtest/gtest.h>

#include <xen/arch-x86/cpuid.h>

#include <cstring>
#include <optional>

namespace xenolith::x86 {
namespace {

std::optional<CpuidEntry> find(const std::vector<CpuidEntry>& v, std::uint32_t fn,
                               std::uint32_t index = 0) {
    for (const auto& e : v)
        if (e.function == fn && (!(e.flags & kCpuidFlagSignificantIndex) || e.index == index))
            return e;
    return std::nullopt;
}

XenCpuidConfig config() {
    XenCpuidConfig c;
    c.domid = 7;
    c.vcpu_id = 3;
    c.guest_tsc_khz = 2'000'000;
    c.host_tsc_khz = 2'000'000;
    c.host_tsc_reliable = true;
    c.rdtscp = true;
    return c;
}

TEST(CpuidXen, leaf0_has_signature_and_last_leaf) {
    const auto l = find(xen_cpuid_leaves(config()), 0x40000000);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->eax, 0x40000005u);
    char sig[13] = {};
    std::memcpy(sig, &l->ebx, 4);
    std::memcpy(sig + 4, &l->ecx, 4);
    std::memcpy(sig + 8, &l->edx, 4);
    EXPECT_STREQ(sig, "XenVMMXenVMM");
}

TEST(CpuidXen, leaf1_is_version_4_17) {
    EXPECT_EQ(find(xen_cpuid_leaves(config()), 0x40000001)->eax, 0x00040011u);
}

TEST(CpuidXen, leaf2_has_one_hypercall_page_at_msr_40000000) {
    const auto l = find(xen_cpuid_leaves(config()), 0x40000002);
    EXPECT_EQ(l->eax, 1u);
    EXPECT_EQ(l->ebx, 0x40000000u);
    EXPECT_EQ(l->ecx, 0u);
    EXPECT_EQ(l->edx, 0u);
}

TEST(CpuidXen, leaf3_reports_native_tsc_in_default_mode) {
    const auto v = xen_cpuid_leaves(config());
    const auto s0 = find(v, 0x40000003, 0);
    ASSERT_TRUE(s0);
    EXPECT_TRUE(s0->flags & kCpuidFlagSignificantIndex);
    EXPECT_EQ(s0->eax, 0b110u);  // not emulated, reliable, rdtscp
    EXPECT_EQ(s0->ebx, 0u);      // tsc_mode default
    EXPECT_EQ(s0->ecx, 2'000'000u);
    EXPECT_EQ(s0->edx, 1u);      // first incarnation
    const auto s1 = find(v, 0x40000003, 1);
    EXPECT_EQ(s1->eax, 0u);
    EXPECT_EQ(s1->ebx, 0u);
    EXPECT_EQ(s1->ecx, 0x80000000u);  // 2 GHz: 0.5 ns per tick
    EXPECT_EQ(s1->edx, 0u);
    EXPECT_EQ(find(v, 0x40000003, 2)->eax, 2'000'000u);
    EXPECT_FALSE(find(v, 0x40000003, 3));
}

TEST(CpuidXen, tsc_scale_converts_ticks_to_ns) {
    for (std::uint64_t khz : {1'000u, 999'999u, 1'000'000u, 2'100'000u, 3'700'123u, 4'000'000u}) {
        const auto s = tsc_to_ns_scale(khz);
        EXPECT_GE(s.mul_frac, 0x80000000u) << khz;
        const std::uint64_t ticks = khz * 1000;  // one second
        // After the shift the tick count is in (1e9, 2e9]: the product fits 64 bits.
        const std::uint64_t shifted = s.shift >= 0 ? ticks << s.shift : ticks >> -s.shift;
        const std::uint64_t ns = (shifted * s.mul_frac) >> 32;
        EXPECT_NEAR(static_cast<double>(ns), 1e9, 1e9 * 1e-6) << khz;
    }
    EXPECT_EQ(tsc_to_ns_scale(0).mul_frac, 0u);
}

TEST(CpuidXen, leaf4_has_vcpu_and_domid_and_only_configured_flags) {
    const auto l = find(xen_cpuid_leaves(config()), 0x40000004, 0);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->eax, XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT |
                          XEN_HVM_CPUID_IOMMU_MAPPINGS | XEN_HVM_CPUID_UPCALL_VECTOR);
    EXPECT_EQ(l->ebx, 3u);
    EXPECT_EQ(l->ecx, 7u);

    auto c = config();
    c.x2apic_virt = true;
    c.upcall_vector = false;
    const auto l2 = find(xen_cpuid_leaves(c), 0x40000004, 0);
    EXPECT_TRUE(l2->eax & XEN_HVM_CPUID_X2APIC_VIRT);
    EXPECT_FALSE(l2->eax & XEN_HVM_CPUID_UPCALL_VECTOR);
}

TEST(CpuidXen, leaf5_is_zero_for_pvh) {
    const auto l = find(xen_cpuid_leaves(config()), 0x40000005, 0);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->eax | l->ebx | l->ecx | l->edx, 0u);
}

std::vector<CpuidEntry> host() {
    return {
        {0x0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69},
        {0x1, 0, 0, 0x000906ea, 0x00010800, 0x7ffafbff, 0xbfebfbff},
        {0xb, 0, 1, 1, 2, 0x100, 0},
        {0xb, 1, 1, 4, 8, 0x201, 0},
        {0x1f, 0, 1, 1, 2, 0x100, 0},
        {0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d},  // KVMKVMKVM
        {0x40000001, 0, 0, 0x01007afb, 0, 0, 0},
        {0x80000000, 0, 0, 0x80000008, 0, 0, 0},
        {0x8000001e, 0, 0, 0, 0x100, 0, 0},
    };
}

TEST(CpuidXen, guest_cpuid_replaces_kvm_leaves_with_xen) {
    const auto g = guest_cpuid(host(), config());
    const auto l = find(g, 0x40000000);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->ebx, XEN_CPUID_SIGNATURE_EBX);
    EXPECT_EQ(find(g, 0x40000001)->eax, 0x00040011u);
    std::size_t hv = 0;
    for (const auto& e : g)
        if (e.function >= 0x40000000 && e.function <= 0x4fffffff) ++hv;
    EXPECT_EQ(hv, xen_cpuid_leaves(config()).size());
}

TEST(CpuidXen, guest_cpuid_sets_hypervisor_bit_and_apic_ids) {
    const auto g = guest_cpuid(host(), config());
    const auto l1 = find(g, 0x1);
    EXPECT_TRUE(l1->ecx & (1u << 31));
    EXPECT_EQ(l1->ebx >> 24, 3u);
    EXPECT_EQ(l1->ebx & 0xffffff, 0x010800u);  // the rest of EBX kept
    EXPECT_EQ(l1->eax, 0x000906eau);
    EXPECT_EQ(find(g, 0xb, 0)->edx, 3u);
    EXPECT_EQ(find(g, 0xb, 1)->edx, 3u);
    EXPECT_EQ(find(g, 0xb, 1)->ebx, 8u);
    EXPECT_EQ(find(g, 0x1f, 0)->edx, 3u);
    EXPECT_EQ(find(g, 0x8000001e)->eax, 3u);
}

TEST(CpuidXen, guest_cpuid_keeps_other_leaves) {
    const auto g = guest_cpuid(host(), config());
    EXPECT_EQ(find(g, 0x0), host()[0]);
    EXPECT_EQ(find(g, 0x80000000), host()[7]);
}

TEST(CpuidXen, guest_cpuid_without_kvm_leaves_still_adds_xen) {
    const std::vector<CpuidEntry> h{{0x1, 0, 0, 0, 0, 0, 0}};
    const auto g = guest_cpuid(h, config());
    EXPECT_TRUE(find(g, 0x40000000));
    EXPECT_TRUE(find(g, 0x1)->ecx & (1u << 31));
}

}  // namespace
}  // namespace xenolith::x86
