// The typed HVM records against Xen's own public header (Debian's
// libxen-dev), field by field. Built with GNU extensions: save.h uses
// anonymous unions.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <gtest/gtest.h>

#include <xen/xen.h>
#include <xen/hvm/save.h>
#include <xen/domctl.h>

#include "migration/hvm_context.hpp"
#include "migration/libxc_stream.hpp"

namespace xenolith::migration {
namespace {

#define SAME_FIELD(ours, theirs, field) \
    static_assert(offsetof(ours, field) == offsetof(theirs, field), #field); \
    static_assert(sizeof(ours::field) == sizeof(theirs::field), #field)

static_assert(sizeof(hvm_save_descriptor) == kHvmDescriptorSize);
static_assert(HVM_FILE_MAGIC == kHvmFileMagic && HVM_FILE_VERSION == kHvmFileVersion);

static_assert(HVM_SAVE_CODE(END) == hvm_code::kEnd);
static_assert(HVM_SAVE_CODE(HEADER) == hvm_code::kHeader);
static_assert(HVM_SAVE_CODE(CPU) == hvm_code::kCpu);
static_assert(HVM_SAVE_CODE(PIC) == hvm_code::kPic);
static_assert(HVM_SAVE_CODE(IOAPIC) == hvm_code::kIoapic);
static_assert(HVM_SAVE_CODE(LAPIC) == hvm_code::kLapic);
static_assert(HVM_SAVE_CODE(LAPIC_REGS) == hvm_code::kLapicRegs);
static_assert(HVM_SAVE_CODE(MTRR) == hvm_code::kMtrr);
static_assert(CPU_XSAVE_CODE == hvm_code::kCpuXsave);
static_assert(HVM_SAVE_CODE(VIRIDIAN_VCPU) == hvm_code::kViridianVcpu);
static_assert(HVM_SAVE_CODE(VMCE_VCPU) == hvm_code::kVmceVcpu);
static_assert(HVM_SAVE_CODE(TSC_ADJUST) == hvm_code::kTscAdjust);
static_assert(CPU_MSR_CODE == hvm_code::kCpuMsr);

static_assert(sizeof(hvm_save_header) == sizeof(HvmSaveHeader));
SAME_FIELD(HvmSaveHeader, hvm_save_header, magic);
SAME_FIELD(HvmSaveHeader, hvm_save_header, changeset);
SAME_FIELD(HvmSaveHeader, hvm_save_header, cpuid);
SAME_FIELD(HvmSaveHeader, hvm_save_header, gtsc_khz);

static_assert(sizeof(hvm_hw_cpu) == sizeof(HvmCpu));
static_assert(sizeof(hvm_hw_cpu_compat) == kHvmCpuCompatSize);
SAME_FIELD(HvmCpu, hvm_hw_cpu, fpu_regs);
SAME_FIELD(HvmCpu, hvm_hw_cpu, rax);
SAME_FIELD(HvmCpu, hvm_hw_cpu, r15);
SAME_FIELD(HvmCpu, hvm_hw_cpu, rip);
SAME_FIELD(HvmCpu, hvm_hw_cpu, rflags);
SAME_FIELD(HvmCpu, hvm_hw_cpu, cr0);
SAME_FIELD(HvmCpu, hvm_hw_cpu, cr4);
SAME_FIELD(HvmCpu, hvm_hw_cpu, dr0);
SAME_FIELD(HvmCpu, hvm_hw_cpu, dr7);
SAME_FIELD(HvmCpu, hvm_hw_cpu, cs_sel);
SAME_FIELD(HvmCpu, hvm_hw_cpu, ldtr_sel);
SAME_FIELD(HvmCpu, hvm_hw_cpu, cs_limit);
SAME_FIELD(HvmCpu, hvm_hw_cpu, gdtr_limit);
SAME_FIELD(HvmCpu, hvm_hw_cpu, cs_base);
SAME_FIELD(HvmCpu, hvm_hw_cpu, gdtr_base);
SAME_FIELD(HvmCpu, hvm_hw_cpu, cs_arbytes);
SAME_FIELD(HvmCpu, hvm_hw_cpu, ldtr_arbytes);
SAME_FIELD(HvmCpu, hvm_hw_cpu, sysenter_cs);
SAME_FIELD(HvmCpu, hvm_hw_cpu, sysenter_eip);
SAME_FIELD(HvmCpu, hvm_hw_cpu, shadow_gs);
SAME_FIELD(HvmCpu, hvm_hw_cpu, msr_flags);
SAME_FIELD(HvmCpu, hvm_hw_cpu, msr_lstar);
SAME_FIELD(HvmCpu, hvm_hw_cpu, msr_efer);
SAME_FIELD(HvmCpu, hvm_hw_cpu, msr_tsc_aux);
SAME_FIELD(HvmCpu, hvm_hw_cpu, tsc);
SAME_FIELD(HvmCpu, hvm_hw_cpu, pending_event);
SAME_FIELD(HvmCpu, hvm_hw_cpu, error_code);
SAME_FIELD(HvmCpu, hvm_hw_cpu, flags);
SAME_FIELD(HvmCpu, hvm_hw_cpu, pad0);
static_assert(XEN_X86_FPU_INITIALISED == kHvmCpuFpuInitialised);
// Where the compat layout's tail starts: ours reads it from msr_tsc_aux on.
static_assert(offsetof(hvm_hw_cpu_compat, tsc) == offsetof(HvmCpu, msr_tsc_aux));
static_assert(offsetof(hvm_hw_cpu_compat, error_code) == offsetof(HvmCpu, msr_tsc_aux) + 12);

// Xen 4.17's LAPIC is the 24-byte prefix of ours (pending_esr came later).
static_assert(sizeof(hvm_hw_lapic) == kHvmLapicShortSize);
SAME_FIELD(HvmLapic, hvm_hw_lapic, apic_base_msr);
SAME_FIELD(HvmLapic, hvm_hw_lapic, disabled);
SAME_FIELD(HvmLapic, hvm_hw_lapic, timer_divisor);
SAME_FIELD(HvmLapic, hvm_hw_lapic, tdt_msr);

static_assert(sizeof(hvm_hw_lapic_regs) == sizeof(HvmLapicRegs));

static_assert(sizeof(hvm_hw_mtrr) == sizeof(HvmMtrr));
SAME_FIELD(HvmMtrr, hvm_hw_mtrr, msr_pat_cr);
SAME_FIELD(HvmMtrr, hvm_hw_mtrr, msr_mtrr_var);
SAME_FIELD(HvmMtrr, hvm_hw_mtrr, msr_mtrr_fixed);
SAME_FIELD(HvmMtrr, hvm_hw_mtrr, msr_mtrr_cap);
SAME_FIELD(HvmMtrr, hvm_hw_mtrr, msr_mtrr_def_type);

static_assert(offsetof(hvm_hw_cpu_xsave, save_area) == kHvmXsaveFixedSize);
static_assert(sizeof(hvm_hw_cpu_xsave) - offsetof(hvm_hw_cpu_xsave, save_area) == kXsaveAreaMinSize);
static_assert(offsetof(hvm_hw_cpu_xsave, xcr0) == 8 && offsetof(hvm_hw_cpu_xsave, xcr0_accum) == 16);

static_assert(sizeof(hvm_tsc_adjust) == sizeof(HvmTscAdjust));
static_assert(offsetof(hvm_msr, msr) == 8 && sizeof(hvm_msr::hvm_one_msr) == 16);
static_assert(offsetof(hvm_msr::hvm_one_msr, val) == 8);

// The policy records carry these arrays.
static_assert(sizeof(xen_cpuid_leaf_t) == kCpuidLeafSize);
static_assert(sizeof(xen_msr_entry_t) == kMsrPolicyEntrySize);
static_assert(offsetof(xen_msr_entry_t, val) == 8);

// PAGE_DATA types are XEN_DOMCTL_PFINFO_* shifted up by 32.
static_assert((XEN_DOMCTL_PFINFO_XTAB >> 28) == pfinfo::kXtab);
static_assert((XEN_DOMCTL_PFINFO_XALLOC >> 28) == pfinfo::kXalloc);
static_assert((XEN_DOMCTL_PFINFO_BROKEN >> 28) == pfinfo::kBroken);
static_assert(((XEN_DOMCTL_PFINFO_L1TAB | XEN_DOMCTL_PFINFO_LPINTAB) >> 28) == pfinfo::kL1tabPinned);
static_assert((XEN_DOMCTL_PFINFO_L4TAB >> 28) == pfinfo::kL4tab);

TEST(HvmAbi, TypedRecordsMatchXensPublicHeader) {
    // The checks are the static_asserts above; this runs the ABI the other way:
    // a record built through Xen's struct decodes through ours.
    hvm_hw_cpu xen{};
    xen.rip = 0xfff0;
    xen.msr_tsc_aux = 3;
    xen.flags = XEN_X86_FPU_INITIALISED;
    HvmEntry e{hvm_code::kCpu, 0, std::vector<std::uint8_t>(sizeof xen)};
    std::memcpy(e.body.data(), &xen, sizeof xen);
    auto ours = decode_hvm_cpu(e);
    ASSERT_TRUE(ours);
    EXPECT_EQ(ours->rip, 0xfff0u);
    EXPECT_EQ(ours->msr_tsc_aux, 3u);
}

}  // namespace
}  // namespace xenolith::migration
