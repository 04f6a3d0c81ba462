#include "migration/kvm_hvm_state.hpp"

#include <algorithm>
#include <cstring>
#include <gtest/gtest.h>
#include <string>

namespace xenolith::migration {
namespace kvm_hvm_state_test {  // named: the tests compile as unity batches

kvm_segment make_seg(std::uint64_t base, std::uint32_t limit, std::uint16_t sel, std::uint8_t type, std::uint8_t s,
                     std::uint8_t dpl, std::uint8_t present, std::uint8_t db, std::uint8_t l, std::uint8_t g,
                     std::uint8_t unusable = 0, std::uint8_t avl = 0) {
    kvm_segment seg{};
    seg.base = base;
    seg.limit = limit;
    seg.selector = sel;
    seg.type = type;
    seg.s = s;
    seg.dpl = dpl;
    seg.present = present;
    seg.db = db;
    seg.l = l;
    seg.g = g;
    seg.unusable = unusable;
    seg.avl = avl;
    return seg;
}

std::uint8_t* area_bytes(VcpuArchState& s) { return reinterpret_cast<std::uint8_t*>(s.xsave.region); }
void put32(void* at, std::uint32_t v) { std::memcpy(at, &v, sizeof v); }
void put64(void* at, std::uint64_t v) { std::memcpy(at, &v, sizeof v); }
std::uint64_t get64(const void* at) {
    std::uint64_t v;
    std::memcpy(&v, at, sizeof v);
    return v;
}
void set_apic(VcpuArchState& s, std::size_t reg, std::uint32_t v) { put32(s.lapic.regs + reg, v); }
std::uint32_t get_apic(const VcpuArchState& s, std::size_t reg) {
    std::uint32_t v;
    std::memcpy(&v, s.lapic.regs + reg, sizeof v);
    return v;
}

template <class T>
bool same_bytes(const T& a, const T& b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// A Linux guest's vCPU in 64-bit kernel mode, as the KVM accessors would
// report it on an Intel host.
VcpuArchState long_mode_state() {
    VcpuArchState s;
    kvm_regs& r = s.regs;
    r.rax = 0x1111, r.rbx = 0x2222, r.rcx = 0x3333, r.rdx = 0x4444, r.rsi = 0x5555, r.rdi = 0x6666;
    r.rsp = 0xffffc90000123f58, r.rbp = 0xffffc90000123f80;
    r.r8 = 8, r.r9 = 9, r.r10 = 10, r.r11 = 11, r.r12 = 12, r.r13 = 13, r.r14 = 14, r.r15 = 15;
    r.rip = 0xffffffff81e0a2b4;
    r.rflags = 0x246;
    kvm_sregs& sr = s.sregs;
    sr.cs = make_seg(0, 0xffffffff, 0x10, 0xb, 1, 0, 1, 0, 1, 1);
    sr.ds = make_seg(0, 0xffffffff, 0x18, 0x3, 1, 0, 1, 1, 0, 1);
    sr.es = sr.ds;
    sr.ss = sr.ds;
    // Null selectors in 64-bit mode: unusable, VMX keeps D/B and G.
    sr.fs = make_seg(0x7f12345e6740, 0xffffffff, 0, 0, 0, 0, 0, 1, 0, 1, 1);
    sr.gs = make_seg(0xffff888237c00000, 0xffffffff, 0, 0, 0, 0, 0, 1, 0, 1, 1);
    sr.tr = make_seg(0xfffffe0000003000, 0x4087, 0x40, 0xb, 0, 0, 1, 0, 0, 0);
    sr.ldt = make_seg(0, 0xffff, 0, 0x2, 0, 0, 0, 0, 0, 0, 1);
    sr.gdt.base = 0xfffffe0000001000, sr.gdt.limit = 0x7f;
    sr.idt.base = 0xfffffe0000000000, sr.idt.limit = 0xfff;
    sr.cr0 = 0x80050033, sr.cr2 = 0x7f00deadb000, sr.cr3 = 0x10a000, sr.cr4 = 0x3706f0;
    sr.cr8 = 2;
    sr.efer = 0xd01;
    sr.apic_base = 0xfee00900;
    s.debugregs.db[0] = 0x401000, s.debugregs.db[1] = 0x402000;
    s.debugregs.dr6 = 0xffff0ff0, s.debugregs.dr7 = 0x405;
    // FPU and SSE state, and AVX upper halves.
    std::uint8_t* a = area_bytes(s);
    put32(a + 24, 0x1fa0);   // MXCSR
    put32(a + 28, 0xffff);   // MXCSR_MASK
    for (std::size_t i = 160; i < 416; ++i) a[i] = static_cast<std::uint8_t>(i * 7);  // XMM0-15
    put64(a + 512, 0x7);  // XSTATE_BV: x87, SSE, AVX
    for (std::size_t i = 576; i < 832; ++i) a[i] = static_cast<std::uint8_t>(i * 3 + 1);
    s.xcrs.xcrs[0].value = 0x7;
    set_apic(s, 0x30, 0x50014);   // version
    set_apic(s, 0x80, 0x20);      // TPR (CR8 2)
    set_apic(s, 0xd0, 0x1000000); // LDR
    set_apic(s, 0xf0, 0x1ff);     // SVR: enabled, vector 0xff
    set_apic(s, 0x200, 0x10);     // IRR bit 4
    set_apic(s, 0x320, 0x400ec);  // LVTT: TSC-deadline, vector 0xec
    set_apic(s, 0x350, 0x700);    // LINT0: ExtINT
    set_apic(s, 0x3e0, 0xb);      // TDCR: divide by 1
    s.events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    s.msrs = {
        {msr::kTsc, 0x2a5b3c4d5e},        {msr::kTscAdjust, 0},
        {msr::kSysenterCs, 0x10},         {msr::kSysenterEsp, 0xfffffe0000003000},
        {msr::kSysenterEip, 0xffffffff81e01a30}, {msr::kStar, 0x23001000000000},
        {msr::kLstar, 0xffffffff81e00080}, {msr::kCstar, 0xffffffff81e001c0},
        {msr::kSfmask, 0x257fd5},          {msr::kKernelGsBase, 0x7f12345e6000},
        {msr::kTscAux, 3},                 {msr::kTscDeadline, 0x2a5b400000},
        {msr::kPat, 0x0407050600070106},   {msr::kMtrrCap, kKvmMtrrCap},
        {msr::kMtrrDefType, 0xc06},        {msr::kSpecCtrl, 1},
    };
    for (std::uint32_t i = 0; i < 11; ++i) {
        const std::uint32_t index = i == 0 ? msr::kMtrrFix64k00000 : i == 1 ? msr::kMtrrFix16k80000
                                  : i == 2 ? msr::kMtrrFix16kA0000 : msr::kMtrrFix4kC0000 + (i - 3);
        s.msrs[index] = i == 2 ? 0 : 0x0606060606060606;  // the VGA hole UC
    }
    for (std::uint32_t n = 0; n < 16; ++n) s.msrs[msr::kMtrrPhysBase0 + n] = 0;
    s.msrs[msr::kMtrrPhysBase0] = 0x80000000;      // PHYSBASE0: 2 GiB, UC
    s.msrs[msr::kMtrrPhysBase0 + 1] = 0xff80000800;  // PHYSMASK0: 2 GiB, valid
    return s;
}

void expect_same_state(const VcpuArchState& a, const VcpuArchState& b) {
    EXPECT_EQ(a.online, b.online);
    EXPECT_EQ(a.mp_state, b.mp_state);
    EXPECT_TRUE(same_bytes(a.regs, b.regs));
    EXPECT_EQ(a.regs.rip, b.regs.rip);
    const std::pair<const char*, kvm_segment kvm_sregs::*> segs[] = {
        {"cs", &kvm_sregs::cs}, {"ds", &kvm_sregs::ds}, {"es", &kvm_sregs::es}, {"fs", &kvm_sregs::fs},
        {"gs", &kvm_sregs::gs}, {"ss", &kvm_sregs::ss}, {"tr", &kvm_sregs::tr}, {"ldt", &kvm_sregs::ldt},
    };
    for (const auto& [name, m] : segs) {
        EXPECT_TRUE(same_bytes(a.sregs.*m, b.sregs.*m)) << name << ": " << pack_xen_arbytes(a.sregs.*m) << " vs "
                                                       << pack_xen_arbytes(b.sregs.*m);
    }
    EXPECT_EQ(a.sregs.cr8, b.sregs.cr8);
    EXPECT_EQ(a.sregs.apic_base, b.sregs.apic_base);
    EXPECT_TRUE(same_bytes(a.sregs, b.sregs));
    EXPECT_TRUE(same_bytes(a.debugregs, b.debugregs));
    EXPECT_TRUE(same_bytes(a.xsave, b.xsave));
    EXPECT_TRUE(same_bytes(a.xcrs, b.xcrs));
    EXPECT_TRUE(same_bytes(a.lapic, b.lapic));
    EXPECT_TRUE(same_bytes(a.events, b.events));
    EXPECT_EQ(a.msrs, b.msrs);
}

// Every per-vCPU record out and back, one function at a time.
VcpuArchState through_records(const VcpuArchState& s) {
    VcpuArchState back;
    auto cpu = to_xen_cpu(s, 0);
    EXPECT_TRUE(cpu) << cpu.error().what;
    auto st = from_xen_cpu(*cpu, 0, back);
    EXPECT_TRUE(st) << st.error().what;
    st = from_xen_lapic(to_xen_lapic(s), to_xen_lapic_regs(s), 0, HostVcpuCaps{}, back);
    EXPECT_TRUE(st) << st.error().what;
    st = from_xen_mtrr(to_xen_mtrr(s), 0, back);
    EXPECT_TRUE(st) << st.error().what;
    auto xs = to_xen_xsave(s, 0);
    EXPECT_TRUE(xs) << xs.error().what;
    st = from_xen_xsave(*xs, 0, HostVcpuCaps{0x7, false}, back);
    EXPECT_TRUE(st) << st.error().what;
    st = from_xen_cpu_msrs(to_xen_cpu_msrs(s), 0, back);
    EXPECT_TRUE(st) << st.error().what;
    back.msrs[msr::kTscAdjust] = s.msrs.at(msr::kTscAdjust);
    return back;
}

TEST(KvmHvmState, LongModeStateRoundTripsThroughEveryRecord) {
    const VcpuArchState s = long_mode_state();
    expect_same_state(through_records(s), s);
}

TEST(KvmHvmState, LongModeCpuRecordHasXensValues) {
    const VcpuArchState s = long_mode_state();
    auto cpu = to_xen_cpu(s, 0);
    ASSERT_TRUE(cpu) << cpu.error().what;
    EXPECT_EQ(cpu->cs_arbytes, 0xa9bu);
    EXPECT_EQ(cpu->ds_arbytes, 0xc93u);
    EXPECT_EQ(cpu->ss_arbytes, 0xc93u);
    EXPECT_EQ(cpu->fs_arbytes, 0xc00u);  // unusable: P clear
    EXPECT_EQ(cpu->fs_base, 0x7f12345e6740u);
    EXPECT_EQ(cpu->tr_arbytes, 0x8bu);
    EXPECT_EQ(cpu->ldtr_arbytes, 0x02u);
    EXPECT_EQ(cpu->cs_sel, 0x10u);
    EXPECT_EQ(cpu->tr_limit, 0x4087u);
    EXPECT_EQ(cpu->gdtr_limit, 0x7fu);
    EXPECT_EQ(cpu->idtr_base, 0xfffffe0000000000u);
    EXPECT_EQ(cpu->msr_efer, 0xd01u);
    EXPECT_EQ(cpu->shadow_gs, 0x7f12345e6000u);
    EXPECT_EQ(cpu->msr_star, 0x23001000000000u);
    EXPECT_EQ(cpu->msr_syscall_mask, 0x257fd5u);
    EXPECT_EQ(cpu->msr_tsc_aux, 3u);
    EXPECT_EQ(cpu->tsc, 0x2a5b3c4d5eu);
    EXPECT_EQ(cpu->sysenter_eip, 0xffffffff81e01a30u);
    EXPECT_EQ(cpu->dr7, 0x405u);
    EXPECT_EQ(cpu->pending_event, 0u);
    EXPECT_EQ(cpu->flags, kHvmCpuFpuInitialised);
    EXPECT_EQ(std::memcmp(cpu->fpu_regs.data(), s.xsave.region, 512), 0);
}

TEST(KvmHvmState, WholeContextPassesThroughTheBlobWriterAndReader) {
    std::vector<VcpuArchState> vcpus{long_mode_state(), long_mode_state(), long_mode_state()};
    vcpus[1].regs.rip = 0xffffffff81000000;
    vcpus[1].sregs.apic_base = 0xfee00800;  // an AP: no BSP bit
    vcpus[2].online = false;                 // down: no CPU record
    const std::vector<HvmEntry> other{
        {hvm_code::kIoapic, 0, std::vector<std::uint8_t>(8, 4)},
        {hvm_code::kPic, 0, {1, 2, 3}},
        {hvm_code::kPic, 1, {4, 5, 6}},
        {hvm_code::kVmceVcpu, 1, {7}},
    };
    HvmSaveHeader header;
    header.cpuid = 0x806ec;
    header.gtsc_khz = 2'000'000;
    auto ctx = build_hvm_context(header, vcpus, other);
    ASSERT_TRUE(ctx) << ctx.error().what;
    // Typecode order, each over the vCPUs, as Xen's saver writes them.
    std::vector<std::pair<std::uint16_t, std::uint16_t>> order;
    for (const HvmEntry& e : ctx->entries) order.emplace_back(e.typecode, e.instance);
    using P = std::pair<std::uint16_t, std::uint16_t>;
    const std::vector<P> expected{
        {1, 0},  {2, 0},  {2, 1},  {3, 0},  {3, 1},  {4, 0},  {5, 0},  {5, 1},  {5, 2},  {6, 0},  {6, 1},
        {6, 2},  {14, 0}, {14, 1}, {14, 2}, {16, 0}, {16, 1}, {16, 2}, {18, 1}, {19, 0}, {19, 1}, {19, 2},
        {20, 0}, {20, 1}, {20, 2}, {0, 0},
    };
    EXPECT_EQ(order, expected);

    const std::vector<std::uint8_t> blob = emit_hvm_context(*ctx);
    auto parsed = parse_hvm_context(blob);
    ASSERT_TRUE(parsed) << parsed.error().what;
    EXPECT_EQ(parsed->entries, ctx->entries);
    EXPECT_EQ(emit_hvm_context(*parsed), blob);

    auto applied = apply_hvm_context(blob, 3, HostVcpuCaps{0x7, false});
    ASSERT_TRUE(applied) << applied.error().what;
    EXPECT_EQ(applied->header.gtsc_khz, 2'000'000u);
    ASSERT_EQ(applied->vcpus.size(), 3u);
    expect_same_state(applied->vcpus[0], vcpus[0]);
    expect_same_state(applied->vcpus[1], vcpus[1]);
    EXPECT_FALSE(applied->vcpus[2].online);
    EXPECT_EQ(applied->vcpus[2].sregs.apic_base, 0xfee00900u);  // LAPIC still restored
    std::vector<HvmEntry> other_sorted = other;
    std::stable_sort(other_sorted.begin(), other_sorted.end(),
                     [](const HvmEntry& a, const HvmEntry& b) { return a.typecode < b.typecode; });
    EXPECT_EQ(applied->other, other_sorted);

    // And the applied state saves to the same blob.
    auto again = build_hvm_context(applied->header, applied->vcpus, applied->other);
    ASSERT_TRUE(again) << again.error().what;
    EXPECT_EQ(emit_hvm_context(*again), blob);
}

struct ArbytesCase {
    const char* what;
    kvm_segment seg;
    std::uint32_t arbytes;
};

TEST(KvmHvmState, SegmentAttributesMatchHandComputedBytes) {
    // attr = type | S<<4 | DPL<<5 | P<<7 | AVL<<8 | L<<9 | D/B<<10 | G<<11
    const ArbytesCase cases[] = {
        {"64-bit kernel code", make_seg(0, 0xffffffff, 0x10, 0xb, 1, 0, 1, 0, 1, 1), 0xa9b},
        {"64-bit user code", make_seg(0, 0xffffffff, 0x33, 0xb, 1, 3, 1, 0, 1, 1), 0xafb},
        {"flat kernel data", make_seg(0, 0xffffffff, 0x18, 0x3, 1, 0, 1, 1, 0, 1), 0xc93},
        {"flat user data", make_seg(0, 0xffffffff, 0x2b, 0x3, 1, 3, 1, 1, 0, 1), 0xcf3},
        {"64-bit busy TSS", make_seg(0xfffffe0000003000, 0x4087, 0x40, 0xb, 0, 0, 1, 0, 0, 0), 0x8b},
        {"available 32-bit TSS", make_seg(0x1000, 0x67, 0x28, 0x9, 0, 0, 1, 0, 0, 0), 0x89},
        {"LDT", make_seg(0x2000, 0xff, 0x30, 0x2, 0, 0, 1, 0, 0, 0), 0x82},
        {"unusable LDT", make_seg(0, 0xffff, 0, 0x2, 0, 0, 0, 0, 0, 0, 1), 0x02},
        {"unusable null data", make_seg(0, 0xffffffff, 0, 0, 0, 0, 0, 1, 0, 1, 1), 0xc00},
        {"unusable but present set", make_seg(0, 0, 0, 0x3, 1, 0, 1, 0, 0, 0, 1), 0x13},
        {"32-bit code", make_seg(0, 0xffffffff, 0x08, 0xb, 1, 0, 1, 1, 0, 1), 0xc9b},
        {"32-bit data", make_seg(0, 0xffffffff, 0x10, 0x3, 1, 0, 1, 1, 0, 1), 0xc93},
        {"32-bit conforming code, AVL", make_seg(0, 0xfffff, 0x08, 0xf, 1, 0, 1, 1, 0, 0, 0, 1), 0x59f},
        {"16-bit protected code", make_seg(0x10000, 0xffff, 0x08, 0xb, 1, 0, 1, 0, 0, 0), 0x9b},
        {"real-mode code", make_seg(0xf0000, 0xffff, 0xf000, 0xb, 1, 0, 1, 0, 0, 0), 0x9b},
        {"real-mode data", make_seg(0, 0xffff, 0, 0x3, 1, 0, 1, 0, 0, 0), 0x93},
        {"virtual-8086 data", make_seg(0xb8000, 0xffff, 0xb800, 0x3, 1, 3, 1, 0, 0, 0), 0xf3},
    };
    for (const ArbytesCase& c : cases) EXPECT_EQ(pack_xen_arbytes(c.seg), c.arbytes) << c.what;
}

TEST(KvmHvmState, XenSegmentAttributesUnpackAndOldVmcsFormUnfolds) {
    VcpuArchState s = long_mode_state();
    auto cpu = to_xen_cpu(s, 0);
    ASSERT_TRUE(cpu);
    cpu->cs_arbytes = 0xa09b;  // VMCS form of 0xa9b
    cpu->ds_arbytes = 0xc093;
    cpu->ldtr_arbytes = 0x1c000;  // VMCS unusable: unfolds to 0xc00
    VcpuArchState back;
    ASSERT_TRUE(from_xen_cpu(*cpu, 0, back));
    EXPECT_TRUE(same_bytes(back.sregs.cs, s.sregs.cs));
    EXPECT_TRUE(same_bytes(back.sregs.ds, s.sregs.ds));
    EXPECT_TRUE(back.sregs.ldt.unusable);
    EXPECT_FALSE(back.sregs.ldt.present);
    EXPECT_EQ(pack_xen_arbytes(back.sregs.ldt), 0xc00u);

    for (const std::uint32_t bad : {0x10000u, 0x1a9bu, 0x100a9bu}) {
        cpu->cs_arbytes = bad;
        auto st = from_xen_cpu(*cpu, 3, back);
        ASSERT_FALSE(st) << bad;
        EXPECT_NE(st.error().what.find("HVM CPU record of vCPU 3: cs_arbytes"), std::string::npos)
            << st.error().what;
    }
}

TEST(KvmHvmState, RealModeAndProtectedModeStatesRoundTrip) {
    VcpuArchState real;  // the reset state
    real.regs.rip = 0xfff0;
    real.regs.rflags = 0x2;
    real.regs.rdx = 0x806ec;
    real.sregs.cs = make_seg(0xffff0000, 0xffff, 0xf000, 0xb, 1, 0, 1, 0, 0, 0);
    real.sregs.ds = real.sregs.es = real.sregs.fs = real.sregs.gs = real.sregs.ss =
        make_seg(0, 0xffff, 0, 0x3, 1, 0, 1, 0, 0, 0);
    real.sregs.tr = make_seg(0, 0xffff, 0, 0xb, 0, 0, 1, 0, 0, 0);
    real.sregs.ldt = make_seg(0, 0xffff, 0, 0x2, 0, 0, 1, 0, 0, 0);
    real.sregs.gdt.limit = real.sregs.idt.limit = 0xffff;
    real.sregs.cr0 = 0x60000010;
    real.sregs.apic_base = 0xfee00900;
    set_apic(real, 0xf0, 0xff);  // SW-disabled at reset
    real.events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    put64(area_bytes(real) + 512, 0x3);  // from_xen_cpu marks x87|SSE live
    real.msrs = long_mode_state().msrs;
    auto cpu = to_xen_cpu(real, 0);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->cs_arbytes, 0x9bu);
    EXPECT_EQ(cpu->ds_arbytes, 0x93u);
    EXPECT_EQ(cpu->cs_base, 0xffff0000u);
    expect_same_state(through_records(real), real);

    VcpuArchState prot = real;
    prot.sregs.cr0 = 0x11;
    prot.sregs.cs = make_seg(0, 0xffffffff, 0x08, 0xb, 1, 0, 1, 1, 0, 1);
    prot.sregs.ds = prot.sregs.es = prot.sregs.ss = make_seg(0, 0xffffffff, 0x10, 0x3, 1, 0, 1, 1, 0, 1);
    prot.sregs.fs = prot.sregs.gs = make_seg(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    prot.sregs.tr = make_seg(0x1000, 0x67, 0x18, 0xb, 0, 0, 1, 0, 0, 0);
    prot.regs.rip = 0x100000;
    cpu = to_xen_cpu(prot, 0);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->cs_arbytes, 0xc9bu);
    EXPECT_EQ(cpu->ss_arbytes, 0xc93u);
    EXPECT_EQ(cpu->fs_arbytes, 0x0u);
    expect_same_state(through_records(prot), prot);
}

// ---- LAPIC ----

TEST(KvmHvmState, LapicDisabledBitsFollowBaseMsrAndSvr) {
    struct Case {
        std::uint64_t base;
        std::uint32_t svr;
        std::uint32_t disabled;
    };
    const Case cases[] = {
        {0xfee00900, 0x1ff, 0x0},  // enabled
        {0xfee00100, 0x1ff, 0x1},  // HW-disabled: base MSR EN clear
        {0xfee00900, 0x0ff, 0x2},  // SW-disabled: SVR bit 8 clear
        {0xfee00100, 0x0ff, 0x3},
    };
    for (const Case& c : cases) {
        VcpuArchState s = long_mode_state();
        s.sregs.apic_base = c.base;
        set_apic(s, 0xf0, c.svr);
        const HvmLapic l = to_xen_lapic(s);
        EXPECT_EQ(l.disabled, c.disabled) << std::hex << c.base << " " << c.svr;
        EXPECT_EQ(l.apic_base_msr, c.base);
        VcpuArchState back;
        ASSERT_TRUE(from_xen_lapic(l, to_xen_lapic_regs(s), 0, {}, back));
        EXPECT_EQ(back.sregs.apic_base, c.base);

        HvmLapic wrong = l;
        wrong.disabled ^= 0x2;
        auto st = from_xen_lapic(wrong, to_xen_lapic_regs(s), 1, {}, back);
        ASSERT_FALSE(st);
        EXPECT_NE(st.error().what.find("HVM LAPIC record of vCPU 1: disabled"), std::string::npos) << st.error().what;
    }
}

TEST(KvmHvmState, LapicHiddenStateCarriesDivisorDeadlineAndTpr) {
    VcpuArchState s = long_mode_state();
    const HvmLapic l = to_xen_lapic(s);
    EXPECT_EQ(l.tdt_msr, 0x2a5b400000u);
    EXPECT_EQ(l.timer_divisor, 1u);  // TDCR 0xb
    EXPECT_EQ(l.pending_esr, 0u);
    const std::pair<std::uint32_t, std::uint32_t> divisors[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16},
                                                                {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};
    for (const auto& [tdcr, divisor] : divisors) {
        set_apic(s, 0x3e0, tdcr);
        EXPECT_EQ(to_xen_lapic(s).timer_divisor, divisor) << tdcr;
    }
    HvmLapic bad = to_xen_lapic(s);
    bad.timer_divisor = 2;
    VcpuArchState back;
    auto st = from_xen_lapic(bad, to_xen_lapic_regs(s), 0, {}, back);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("timer_divisor 2"), std::string::npos) << st.error().what;

    set_apic(s, 0x80, 0xa0);
    ASSERT_TRUE(from_xen_lapic(to_xen_lapic(s), to_xen_lapic_regs(s), 0, {}, back));
    EXPECT_EQ(back.sregs.cr8, 0xau);
    EXPECT_EQ(back.msrs.at(msr::kTscDeadline), 0x2a5b400000u);
}

TEST(KvmHvmState, LapicOneShotTimerRearmsFromInitialCountAsXenDoes) {
    VcpuArchState s = long_mode_state();
    set_apic(s, 0x320, 0xec);       // one-shot
    set_apic(s, 0x380, 0x100000);   // TMICT
    set_apic(s, 0x390, 0);          // Xen's page has no current count
    VcpuArchState back;
    ASSERT_TRUE(from_xen_lapic(to_xen_lapic(s), to_xen_lapic_regs(s), 0, {}, back));
    EXPECT_EQ(get_apic(back, 0x390), 0x100000u);
    set_apic(s, 0x390, 0x1234);  // a count xenolith saved is kept
    ASSERT_TRUE(from_xen_lapic(to_xen_lapic(s), to_xen_lapic_regs(s), 0, {}, back));
    EXPECT_EQ(get_apic(back, 0x390), 0x1234u);
}

TEST(KvmHvmState, LapicRefusesWhatKvmCannotHold) {
    VcpuArchState s = long_mode_state();
    VcpuArchState back;
    HvmLapic l = to_xen_lapic(s);
    l.apic_base_msr = 0xfee00400;  // EXTD without EN
    l.disabled = 0x1;
    auto st = from_xen_lapic(l, to_xen_lapic_regs(s), 0, {}, back);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("x2APIC mode with the APIC disabled"), std::string::npos) << st.error().what;

    l = to_xen_lapic(s);
    l.apic_base_msr = 0xfee00d00;  // x2APIC
    st = from_xen_lapic(l, to_xen_lapic_regs(s), 0, {}, back);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("KVM_X2APIC_API_USE_32BIT_IDS"), std::string::npos) << st.error().what;
    EXPECT_TRUE(from_xen_lapic(l, to_xen_lapic_regs(s), 0, HostVcpuCaps{0x3, true}, back));

    l = to_xen_lapic(s);
    l.pending_esr = 0x40;
    st = from_xen_lapic(l, to_xen_lapic_regs(s), 0, {}, back);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("pending_esr"), std::string::npos);

    l = to_xen_lapic(s);
    l.apic_base_msr |= 0x1;
    st = from_xen_lapic(l, to_xen_lapic_regs(s), 0, {}, back);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("reserved bits"), std::string::npos);
}

// ---- pending events ----

Result<HvmCpu> cpu_with_events(const kvm_vcpu_events& ev) {
    VcpuArchState s = long_mode_state();
    s.events = ev;
    return to_xen_cpu(s, 0);
}

TEST(KvmHvmState, HardwareExceptionWithErrorCodeIsReinjected) {
    kvm_vcpu_events ev{};
    ev.exception.injected = 1;
    ev.exception.nr = 14;  // #PF
    ev.exception.has_error_code = 1;
    ev.exception.error_code = 0x6;
    auto cpu = cpu_with_events(ev);
    ASSERT_TRUE(cpu) << cpu.error().what;
    EXPECT_EQ(cpu->pending_event, 0x80000b0eu);  // valid, error code valid, type 3, vector 14
    EXPECT_EQ(cpu->error_code, 0x6u);
    VcpuArchState back;
    ASSERT_TRUE(from_xen_cpu(*cpu, 0, back));
    EXPECT_EQ(back.events.exception.injected, 1);
    EXPECT_EQ(back.events.exception.nr, 14);
    EXPECT_EQ(back.events.exception.has_error_code, 1);
    EXPECT_EQ(back.events.exception.error_code, 0x6u);
    EXPECT_EQ(back.events.flags, KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW);

    // A queued (not yet injected) #GP without payload is the same event.
    ev = {};
    ev.exception.pending = 1;
    ev.exception.nr = 13;
    ev.exception.has_error_code = 1;
    cpu = cpu_with_events(ev);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->pending_event, 0x80000b0du);
    EXPECT_EQ(cpu->error_code, 0u);
}

TEST(KvmHvmState, SoftwareEventsAreDroppedAsXenDropsThem) {
    for (const std::uint8_t nr : {3, 4}) {  // #BP, #OF: the INT3/INTO re-executes
        kvm_vcpu_events ev{};
        ev.exception.injected = 1;
        ev.exception.nr = nr;
        auto cpu = cpu_with_events(ev);
        ASSERT_TRUE(cpu);
        EXPECT_EQ(cpu->pending_event, 0u) << int{nr};
    }
    kvm_vcpu_events ev{};
    ev.interrupt.injected = 1;
    ev.interrupt.soft = 1;
    ev.interrupt.nr = 0x80;
    auto cpu = cpu_with_events(ev);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->pending_event, 0u);

    // From Xen: software interrupts and exceptions (types 4-6) and a
    // type-3 #BP/#OF are accepted and not re-injected.
    for (const std::uint32_t info : {0x80000480u, 0x80000501u, 0x80000603u, 0x80000303u, 0x80000304u}) {
        HvmCpu c = *cpu;
        c.pending_event = info;
        VcpuArchState back;
        ASSERT_TRUE(from_xen_cpu(c, 0, back)) << std::hex << info;
        EXPECT_FALSE(back.events.exception.injected || back.events.interrupt.injected || back.events.nmi.injected)
            << std::hex << info;
    }
}

TEST(KvmHvmState, ExternalInterruptAndNmiAreCarried) {
    kvm_vcpu_events ev{};
    ev.interrupt.injected = 1;
    ev.interrupt.nr = 0xec;
    auto cpu = cpu_with_events(ev);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->pending_event, 0x800000ecu);
    VcpuArchState back;
    ASSERT_TRUE(from_xen_cpu(*cpu, 0, back));
    EXPECT_EQ(back.events.interrupt.injected, 1);
    EXPECT_EQ(back.events.interrupt.nr, 0xec);
    EXPECT_EQ(back.events.interrupt.soft, 0);
    EXPECT_EQ(back.sregs.interrupt_bitmap[3], std::uint64_t{1} << (0xec - 192));

    ev = {};
    ev.nmi.injected = 1;
    cpu = cpu_with_events(ev);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->pending_event, 0x80000202u);
    ASSERT_TRUE(from_xen_cpu(*cpu, 0, back));
    EXPECT_EQ(back.events.nmi.injected, 1);
    EXPECT_EQ(back.events.nmi.pending, 0);

    ev = {};
    ev.nmi.pending = 1;  // not yet injected, slot free: saved as the event
    cpu = cpu_with_events(ev);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->pending_event, 0x80000202u);

    ev.exception.injected = 1;
    ev.exception.nr = 13;
    cpu = cpu_with_events(ev);
    ASSERT_FALSE(cpu);
    EXPECT_NE(cpu.error().what.find("2 events are pending"), std::string::npos) << cpu.error().what;
}

TEST(KvmHvmState, SaveRefusesEventsXenCannotHold) {
    kvm_vcpu_events ev{};
    ev.smi.smm = 1;
    EXPECT_FALSE(cpu_with_events(ev));
    ev = {};
    ev.smi.pending = 1;
    EXPECT_FALSE(cpu_with_events(ev));
    ev = {};
    ev.triple_fault.pending = 1;
    EXPECT_FALSE(cpu_with_events(ev));
    ev = {};
    ev.exception.pending = 1;
    ev.exception.nr = 14;
    ev.exception_has_payload = 1;
    ev.exception_payload = 0x1000;
    auto cpu = cpu_with_events(ev);
    ASSERT_FALSE(cpu);
    EXPECT_NE(cpu.error().what.find("payload"), std::string::npos);
    ev = {};
    ev.exception.injected = 1;
    ev.exception.nr = 32;
    EXPECT_FALSE(cpu_with_events(ev));
    ev.exception.nr = 13;
    ev.exception.has_error_code = 1;
    ev.exception.error_code = 0x10000;
    cpu = cpu_with_events(ev);
    ASSERT_FALSE(cpu);
    EXPECT_NE(cpu.error().what.find("wider than 16 bits"), std::string::npos);
}

TEST(KvmHvmState, RestoreRefusesReservedEventTypesAndBits) {
    auto base = to_xen_cpu(long_mode_state(), 0);
    ASSERT_TRUE(base);
    struct Case {
        std::uint32_t info, error_code;
        const char* message;
    };
    const Case cases[] = {
        {0x80000100, 0, "reserved type 1"},
        {0x80000700, 0, "reserved type 7"},
        {0x80001b0e, 0, "reserved bits"},
        {0x80000b0d, 0x10000, "error_code 0x10000"},
        {0x80000220, 0, "NMI must have vector 2"},
        {0x80000320, 0, "vector 32 is not an exception"},
        {0x80000302, 0, "vector 2 is not an exception"},
        {0x80000830, 0, "interrupt with an error code"},
    };
    for (const Case& c : cases) {
        HvmCpu cpu = *base;
        cpu.pending_event = c.info;
        cpu.error_code = c.error_code;
        VcpuArchState back;
        auto st = from_xen_cpu(cpu, 2, back);
        ASSERT_FALSE(st) << std::hex << c.info;
        EXPECT_NE(st.error().what.find(c.message), std::string::npos) << st.error().what;
        EXPECT_NE(st.error().what.find("HVM CPU record of vCPU 2"), std::string::npos) << st.error().what;
    }
    // Not valid: Xen ignores the rest of the field.
    HvmCpu cpu = *base;
    cpu.pending_event = 0x00000700;
    VcpuArchState back;
    EXPECT_TRUE(from_xen_cpu(cpu, 0, back));
}

// ---- CPU record refusals ----

TEST(KvmHvmState, CpuRecordStateKvmCannotHoldIsRefused) {
    auto base = to_xen_cpu(long_mode_state(), 0);
    ASSERT_TRUE(base);
    struct Case {
        const char* message;
        void (*damage)(HvmCpu&);
    };
    const Case cases[] = {
        {"pad0", [](HvmCpu& c) { c.pad0 = 1; }},
        {"flags 0x3", [](HvmCpu& c) { c.flags = 3; }},
        {"ET clear", [](HvmCpu& c) { c.cr0 &= ~std::uint64_t{0x10}; }},
        {"cr0 0x80000010 enables paging in real mode", [](HvmCpu& c) { c.cr0 = 0x80000010, c.msr_efer = 0; }},
        {"cr0 0x100000011 has reserved", [](HvmCpu& c) { c.cr0 = 0x100000011; }},
        {"cr4", [](HvmCpu& c) { c.cr4 |= 1u << 13; }},  // VMXE
        {"msr_efer 0x1d01", [](HvmCpu& c) { c.msr_efer |= 1u << 12; }},  // SVME
        {"LMA disagrees", [](HvmCpu& c) { c.msr_efer &= ~std::uint64_t{0x400}; }},
        {"cr4.PAE clear", [](HvmCpu& c) { c.cr4 &= ~std::uint64_t{0x20}; }},
        {"rflags 0x8246", [](HvmCpu& c) { c.rflags |= 0x8000; }},
        {"virtual-8086) in real mode", [](HvmCpu& c) { c.cr0 = 0x10, c.msr_efer = 0, c.rflags |= 1u << 17; }},
        {"dr6", [](HvmCpu& c) { c.dr6 |= std::uint64_t{1} << 32; }},
        {"ss_sel 0x10018", [](HvmCpu& c) { c.ss_sel = 0x10018; }},
        {"gdtr_limit", [](HvmCpu& c) { c.gdtr_limit = 0x10000; }},
        {"idtr_limit", [](HvmCpu& c) { c.idtr_limit = 0x10000; }},
        {"both L and D/B", [](HvmCpu& c) { c.cs_arbytes = 0xe9b; }},
        {"MXCSR", [](HvmCpu& c) { c.fpu_regs[27] = 0x80; }},
    };
    for (const Case& c : cases) {
        HvmCpu cpu = *base;
        c.damage(cpu);
        VcpuArchState back;
        auto st = from_xen_cpu(cpu, 0, back);
        ASSERT_FALSE(st) << c.message;
        EXPECT_NE(st.error().what.find(c.message), std::string::npos) << st.error().what;
    }
}

TEST(KvmHvmState, CpuRecordFollowsVcpuRunState) {
    VcpuArchState s = long_mode_state();
    s.mp_state = KVM_MP_STATE_HALTED;  // saved as running, as Xen does
    auto cpu = to_xen_cpu(s, 0);
    ASSERT_TRUE(cpu);
    VcpuArchState back;
    back.online = false;
    ASSERT_TRUE(from_xen_cpu(*cpu, 0, back));
    EXPECT_TRUE(back.online);
    EXPECT_EQ(back.mp_state, std::uint32_t{KVM_MP_STATE_RUNNABLE});
    for (const std::uint32_t transient : {KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_SIPI_RECEIVED,
                                          KVM_MP_STATE_UNINITIALIZED}) {
        s.mp_state = transient;
        auto refused = to_xen_cpu(s, 5);
        ASSERT_FALSE(refused);
        EXPECT_NE(refused.error().what.find("HVM CPU record of vCPU 5: mp_state"), std::string::npos);
    }
    s.mp_state = KVM_MP_STATE_RUNNABLE;
    s.online = false;
    EXPECT_FALSE(to_xen_cpu(s, 0));
}

TEST(KvmHvmState, UninitialisedFpuGetsTheResetFpu) {
    auto cpu = to_xen_cpu(long_mode_state(), 0);
    ASSERT_TRUE(cpu);
    cpu->flags = 0;
    VcpuArchState back = long_mode_state();
    ASSERT_TRUE(from_xen_cpu(*cpu, 0, back));
    const VcpuArchState fresh;
    EXPECT_TRUE(same_bytes(back.xsave, fresh.xsave));
    const std::uint8_t* a = area_bytes(back);
    EXPECT_EQ(a[0] | (a[1] << 8), 0x37f);
    EXPECT_EQ(get64(a + 24) & 0xffffffff, 0x1f80u);
    EXPECT_EQ(get64(a + 512), 0u);
}

// ---- MTRR ----

TEST(KvmHvmState, MtrrRecordMapsTheMsrs) {
    const VcpuArchState s = long_mode_state();
    const HvmMtrr m = to_xen_mtrr(s);
    EXPECT_EQ(m.msr_pat_cr, 0x0407050600070106u);
    EXPECT_EQ(m.msr_mtrr_cap, kKvmMtrrCap);
    EXPECT_EQ(m.msr_mtrr_def_type, 0xc06u);
    EXPECT_EQ(m.msr_mtrr_var[0], 0x80000000u);
    EXPECT_EQ(m.msr_mtrr_var[1], 0xff80000800u);
    EXPECT_EQ(m.msr_mtrr_fixed[0], 0x0606060606060606u);
    EXPECT_EQ(m.msr_mtrr_fixed[2], 0u);  // 0x259: the VGA hole
    EXPECT_EQ(m.msr_mtrr_fixed[10], 0x0606060606060606u);

    VcpuArchState empty;
    const HvmMtrr reset = to_xen_mtrr(empty);
    EXPECT_EQ(reset.msr_pat_cr, kResetPat);
    EXPECT_EQ(reset.msr_mtrr_cap, 0x508u);

    // Xen loads the first VCNT pairs; the rest stay at reset.
    HvmMtrr two = m;
    two.msr_mtrr_cap = 0x502;
    two.msr_mtrr_var[4] = 0x100000006;
    two.msr_mtrr_var[5] = 0xfff0000800;
    VcpuArchState back;
    ASSERT_TRUE(from_xen_mtrr(two, 0, back));
    EXPECT_EQ(back.msrs.at(msr::kMtrrPhysBase0), 0x80000000u);
    EXPECT_EQ(back.msrs.at(msr::kMtrrPhysBase0 + 4), 0u);
    EXPECT_EQ(back.msrs.at(msr::kMtrrCap), 0x502u);
    const auto restorable = restorable_msrs(back);
    EXPECT_TRUE(std::none_of(restorable.begin(), restorable.end(),
                             [](const kvm::MsrValue& v) { return v.index == msr::kMtrrCap; }));
}

TEST(KvmHvmState, MtrrRecordKvmCannotHoldIsRefused) {
    const HvmMtrr good = to_xen_mtrr(long_mode_state());
    struct Case {
        const char* message;
        void (*damage)(HvmMtrr&);
    };
    const Case cases[] = {
        {"9 variable ranges", [](HvmMtrr& m) { m.msr_mtrr_cap = 0x509; }},
        {"msr_pat_cr", [](HvmMtrr& m) { m.msr_pat_cr = 0x0007040600070402; }},
        {"msr_mtrr_def_type", [](HvmMtrr& m) { m.msr_mtrr_def_type = 0xc02; }},
        {"msr_mtrr_def_type", [](HvmMtrr& m) { m.msr_mtrr_def_type = 0x1c06; }},
        {"msr_mtrr_fixed[3]", [](HvmMtrr& m) { m.msr_mtrr_fixed[3] = 0x0606060306060606; }},
        {"PHYSBASE1", [](HvmMtrr& m) { m.msr_mtrr_var[2] = 0x100000007; }},
        {"PHYSMASK0", [](HvmMtrr& m) { m.msr_mtrr_var[1] = 0xff80000801; }},
    };
    for (const Case& c : cases) {
        HvmMtrr m = good;
        c.damage(m);
        VcpuArchState back;
        auto st = from_xen_mtrr(m, 1, back);
        ASSERT_FALSE(st) << c.message;
        EXPECT_NE(st.error().what.find(c.message), std::string::npos) << st.error().what;
        EXPECT_NE(st.error().what.find("HVM MTRR record of vCPU 1"), std::string::npos) << st.error().what;
    }
}

// ---- XSAVE ----

TEST(KvmHvmState, XsaveWithAvxCarriesTheUpperHalves) {
    const VcpuArchState s = long_mode_state();
    auto x = to_xen_xsave(s, 0);
    ASSERT_TRUE(x) << x.error().what;
    EXPECT_EQ(x->xcr0, 0x7u);
    EXPECT_EQ(x->xcr0_accum, 0x7u);
    ASSERT_EQ(x->save_area.size(), 832u);  // legacy, header, YMM_Hi128 at 576
    EXPECT_EQ(std::memcmp(x->save_area.data(), s.xsave.region, 832), 0);
    // Its legacy part is the CPU record's fpu_regs.
    auto cpu = to_xen_cpu(s, 0);
    ASSERT_TRUE(cpu);
    EXPECT_EQ(std::memcmp(cpu->fpu_regs.data(), x->save_area.data(), 512), 0);

    VcpuArchState back;
    ASSERT_TRUE(from_xen_xsave(*x, 0, HostVcpuCaps{0x7, false}, back));
    EXPECT_TRUE(same_bytes(back.xsave, s.xsave));
    EXPECT_EQ(back.xcrs.nr_xcrs, 1u);
    EXPECT_EQ(back.xcrs.xcrs[0].value, 0x7u);

    auto st = from_xen_xsave(*x, 4, HostVcpuCaps{0x3, false}, back);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("HVM CPU_XSAVE record of vCPU 4: xcr0 0x7 has features this host lacks"),
              std::string::npos)
        << st.error().what;
}

TEST(KvmHvmState, XsaveAccumulatesStateOutsideXcr0) {
    VcpuArchState s = long_mode_state();
    s.xcrs.xcrs[0].value = 0x3;  // the guest dropped AVX from XCR0 after using it
    auto x = to_xen_xsave(s, 0);
    ASSERT_TRUE(x);
    EXPECT_EQ(x->xcr0, 0x3u);
    EXPECT_EQ(x->xcr0_accum, 0x7u);
    EXPECT_EQ(x->save_area.size(), 832u);
}

TEST(KvmHvmState, XsaveAreaSizesFollowTheStandardLayout) {
    EXPECT_EQ(xsave_area_size(0x1), 576u);
    EXPECT_EQ(xsave_area_size(0x3), 576u);
    EXPECT_EQ(xsave_area_size(0x7), 832u);
    EXPECT_EQ(xsave_area_size(0x1f), 1088u);   // MPX
    EXPECT_EQ(xsave_area_size(0xe7), 2688u);   // AVX-512
    EXPECT_EQ(xsave_area_size(0x2e7), 2696u);  // PKRU
    EXPECT_EQ(xsave_area_size(0x60007), 11008u);
    EXPECT_EQ(xsave_area_size(0x107), 0u);     // PT is supervisor state
    EXPECT_EQ(xsave_area_size(std::uint64_t{1} << 40), 0u);
}

TEST(KvmHvmState, XsaveRecordKvmCannotHoldIsRefused) {
    auto good = to_xen_xsave(long_mode_state(), 0);
    ASSERT_TRUE(good);
    struct Case {
        const char* message;
        void (*damage)(HvmCpuXsave&);
    };
    const Case cases[] = {
        {"xcr0 0x5 is invalid: AVX without SSE", [](HvmCpuXsave& x) { x.xcr0 = 0x5; }},
        {"xcr0 0x2 is invalid: x87 is clear", [](HvmCpuXsave& x) { x.xcr0 = 0x2; }},
        {"xcr0_accum 0x27 is invalid", [](HvmCpuXsave& x) { x.xcr0_accum = 0x27; }},
        {"not within xcr0_accum", [](HvmCpuXsave& x) { x.xcr0 = 0x7, x.xcr0_accum = 0x3; }},
        {"XSTATE_BV 0x7 is not within xcr0_accum 0x3", [](HvmCpuXsave& x) { x.xcr0 = 0x3, x.xcr0_accum = 0x3; }},
        {"XCOMP_BV", [](HvmCpuXsave& x) { x.save_area[527] = 0x80; }},
        {"reserved byte 16", [](HvmCpuXsave& x) { x.save_area[528] = 1; }},
        {"too short for XSTATE_BV", [](HvmCpuXsave& x) { x.save_area.resize(700); }},
        {"shorter than the legacy area", [](HvmCpuXsave& x) { x.save_area.resize(512); }},
        {"non-zero past the 832 bytes", [](HvmCpuXsave& x) { x.save_area.resize(900, 0), x.save_area[899] = 1; }},
        {"MXCSR", [](HvmCpuXsave& x) { x.save_area[27] = 1; }},
        {"XSTATE_BV 0x207 holds state", [](HvmCpuXsave& x) {
             x.xcr0_accum = 0x207;
             x.save_area.resize(2696);
             x.save_area[512] = 0x7;
             x.save_area[513] = 0x2;
         }},
    };
    for (const Case& c : cases) {
        HvmCpuXsave x = *good;
        c.damage(x);
        VcpuArchState back;
        auto st = from_xen_xsave(x, 0, HostVcpuCaps{0x7, false}, back);
        ASSERT_FALSE(st) << c.message;
        EXPECT_NE(st.error().what.find(c.message), std::string::npos) << st.error().what;
    }
    // Older Xen's over-long areas pass when the excess is zero.
    HvmCpuXsave longer = *good;
    longer.save_area.resize(1024, 0);
    VcpuArchState back;
    EXPECT_TRUE(from_xen_xsave(longer, 0, HostVcpuCaps{0x7, false}, back));
    EXPECT_EQ(std::memcmp(back.xsave.region, good->save_area.data(), 832), 0);
}

TEST(KvmHvmState, XsaveSaveRefusesWhatXenCannotLayOut) {
    VcpuArchState s = long_mode_state();
    put64(area_bytes(s) + 520, std::uint64_t{1} << 63);
    auto x = to_xen_xsave(s, 0);
    ASSERT_FALSE(x);
    EXPECT_NE(x.error().what.find("compacted"), std::string::npos);
    s = long_mode_state();
    s.xcrs.nr_xcrs = 0;
    EXPECT_FALSE(to_xen_xsave(s, 0));
    s = long_mode_state();
    s.xcrs.xcrs[0].value = 0x60007;  // AMX: past KVM's 4 KiB buffer
    x = to_xen_xsave(s, 0);
    ASSERT_FALSE(x);
    EXPECT_NE(x.error().what.find("4 KiB"), std::string::npos) << x.error().what;
}

TEST(KvmHvmState, ContextXsaveReplacesTheCpuRecordsFpu) {
    const VcpuArchState s = long_mode_state();
    auto ctx = build_hvm_context({}, std::span<const VcpuArchState>(&s, 1));
    ASSERT_TRUE(ctx);
    // Put CPU_XSAVE before CPU: the CPU record still installs its FPU
    // first, as Xen's save order has it, and the XSAVE area wins.
    auto xsave_at = std::find_if(ctx->entries.begin(), ctx->entries.end(),
                                 [](const HvmEntry& e) { return e.typecode == hvm_code::kCpuXsave; });
    HvmEntry xsave = *xsave_at;
    ctx->entries.erase(xsave_at);
    ctx->entries.insert(ctx->entries.begin() + 1, xsave);
    auto applied = apply_hvm_context(*ctx, 1, HostVcpuCaps{0x7, false});
    ASSERT_TRUE(applied) << applied.error().what;
    EXPECT_TRUE(same_bytes(applied->vcpus[0].xsave, s.xsave));
}

// ---- CPU_MSR ----

TEST(KvmHvmState, CpuMsrsCarryXensListWithoutZeros) {
    VcpuArchState s = long_mode_state();
    s.msrs[msr::kXss] = 0;
    s.msrs[msr::kAmdDr1AddrMask + 2] = 0xfff;
    s.msrs[msr::kTscAux] = 7;  // in the CPU record, not CPU_MSR
    const std::vector<HvmMsr> msrs = to_xen_cpu_msrs(s);
    EXPECT_EQ(msrs, (std::vector<HvmMsr>{{msr::kSpecCtrl, 1}, {0xc001101b, 0xfff}}));
    EXPECT_EQ(cpu_msr_indices().size(), 10u);

    VcpuArchState back;
    ASSERT_TRUE(from_xen_cpu_msrs(msrs, 0, back));
    EXPECT_EQ(back.msrs.at(0xc001101b), 0xfffu);
    EXPECT_EQ(back.msrs.count(msr::kXss), 0u);

    auto st = from_xen_cpu_msrs({{0x10a, 0}}, 2, back);  // ARCH_CAPABILITIES: Xen does not carry it
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("HVM CPU_MSR record of vCPU 2: MSR 0x10a is not one Xen carries"),
              std::string::npos)
        << st.error().what;
    st = from_xen_cpu_msrs({{msr::kSpecCtrl, 1}, {msr::kSpecCtrl, 0}}, 0, back);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("twice"), std::string::npos);
}

TEST(KvmHvmState, RestorableMsrsWriteTheTscBeforeItsDeadline) {
    const auto msrs = restorable_msrs(long_mode_state());
    auto at = [&](std::uint32_t index) {
        return std::find_if(msrs.begin(), msrs.end(), [&](const kvm::MsrValue& v) { return v.index == index; });
    };
    ASSERT_NE(at(msr::kTsc), msrs.end());
    ASSERT_NE(at(msr::kTscDeadline), msrs.end());
    EXPECT_LT(at(msr::kTsc), at(msr::kTscDeadline));
    EXPECT_EQ(at(msr::kMtrrCap), msrs.end());
    // Every MSR the records need is one a save reads.
    const auto saved = saved_msr_indices();
    for (const auto& [index, value] : long_mode_state().msrs) {
        const auto carried = cpu_msr_indices();
        const bool listed = std::find(saved.begin(), saved.end(), index) != saved.end() ||
                            std::find(carried.begin(), carried.end(), index) != carried.end();
        EXPECT_TRUE(listed) << std::hex << index;
    }
}

// ---- whole contexts ----

TEST(KvmHvmState, ContextRefusesRecordsForMissingVcpusAndMissingLapics) {
    const std::vector<VcpuArchState> two{long_mode_state(), long_mode_state()};
    auto ctx = build_hvm_context({}, two);
    ASSERT_TRUE(ctx);
    auto applied = apply_hvm_context(*ctx, 1, HostVcpuCaps{0x7, false});
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().what.find("for vCPU 1, but the domain has 1"), std::string::npos)
        << applied.error().what;

    HvmContext no_regs = *ctx;
    std::erase_if(no_regs.entries, [](const HvmEntry& e) { return e.typecode == hvm_code::kLapicRegs && e.instance == 1; });
    applied = apply_hvm_context(no_regs, 2, HostVcpuCaps{0x7, false});
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().what.find("HVM LAPIC_REGS record of vCPU 1: missing"), std::string::npos)
        << applied.error().what;

    // A vCPU the context has no records for at all is refused for its LAPIC.
    applied = apply_hvm_context(*ctx, 3, HostVcpuCaps{0x7, false});
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().what.find("HVM LAPIC record of vCPU 2: missing"), std::string::npos);

    // Errors from a record name it and its vCPU.
    HvmContext bad_cpu = *ctx;
    for (HvmEntry& e : bad_cpu.entries) {
        if (e.typecode == hvm_code::kCpu && e.instance == 1) {
            auto cpu = decode_hvm_cpu(e);
            ASSERT_TRUE(cpu);
            cpu->pending_event = 0x80000700;
            e = encode_hvm_cpu(1, *cpu);
        }
    }
    applied = apply_hvm_context(bad_cpu, 2, HostVcpuCaps{0x7, false});
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().what.find("HVM CPU record of vCPU 1: pending_event 0x80000700 has reserved type 7"),
              std::string::npos)
        << applied.error().what;
}

TEST(KvmHvmState, BuildRefusesOpaqueEntriesThatClashWithTheVcpuState) {
    const std::vector<VcpuArchState> one{long_mode_state()};
    const std::vector<HvmEntry> cpu_clash{{hvm_code::kCpu, 0, std::vector<std::uint8_t>(sizeof(HvmCpu))}};
    auto ctx = build_hvm_context({}, one, cpu_clash);
    ASSERT_FALSE(ctx);
    EXPECT_NE(ctx.error().what.find("typecode 2"), std::string::npos);
    const std::vector<HvmEntry> twice{{hvm_code::kPic, 0, {1}}, {hvm_code::kPic, 0, {2}}};
    EXPECT_FALSE(build_hvm_context({}, one, twice));
    const std::vector<HvmEntry> past{{hvm_code::kViridianVcpu, 1, {1}}};
    EXPECT_FALSE(build_hvm_context({}, one, past));
    const std::vector<VcpuArchState> too_many(129);
    EXPECT_FALSE(build_hvm_context({}, too_many));
    // A save that cannot be translated names the vCPU.
    std::vector<VcpuArchState> smm{long_mode_state(), long_mode_state()};
    smm[1].events.smi.smm = 1;
    ctx = build_hvm_context({}, smm);
    ASSERT_FALSE(ctx);
    EXPECT_NE(ctx.error().what.find("HVM CPU record of vCPU 1: the vCPU is in or entering SMM"), std::string::npos)
        << ctx.error().what;
}

TEST(KvmHvmState, ApplyRefusesDamagedBlobs) {
    const std::vector<VcpuArchState> one{long_mode_state()};
    auto ctx = build_hvm_context({}, one);
    ASSERT_TRUE(ctx);
    std::vector<std::uint8_t> blob = emit_hvm_context(*ctx);
    // Truncated anywhere: refused, never crashes.
    for (std::size_t n = 0; n < blob.size(); n += 7) {
        const std::vector<std::uint8_t> cut(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_FALSE(apply_hvm_context(cut, 1, HostVcpuCaps{0x7, false})) << n;
    }
    // A CPU entry of the wrong length.
    HvmContext wrong = *ctx;
    for (HvmEntry& e : wrong.entries) {
        if (e.typecode == hvm_code::kCpu) e.body.resize(1000);
    }
    auto applied = apply_hvm_context(wrong, 1, HostVcpuCaps{0x7, false});
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().what.find("CPU length 1000"), std::string::npos) << applied.error().what;
    EXPECT_FALSE(apply_hvm_context(emit_hvm_context(wrong), 1, HostVcpuCaps{0x7, false}));
}

}  // namespace kvm_hvm_state_test
}  // namespace xenolith::migration
