// Builders for valid streams the tests then damage. Built with the
// library's writers; the golden tests elsewhere check those writers
// against bytes written out by hand from the specifications.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "migration/hvm_context.hpp"
#include "migration/libxc_stream.hpp"
#include "migration/libxl_stream.hpp"
#include "migration/saved_image.hpp"

namespace xenolith::migration::test {

using Bytes = std::vector<std::uint8_t>;

inline Bytes record(std::uint32_t type, const Bytes& body) {
    VectorSink sink;
    (void)write_record(sink, type, body);
    return sink.take();
}

inline void append(Bytes& to, const Bytes& more) { to.insert(to.end(), more.begin(), more.end()); }

inline Bytes page_of(std::uint8_t fill) { return Bytes(kX86PageSize, fill); }

inline HvmContext sample_hvm_context() {
    HvmContext ctx;
    HvmSaveHeader h;
    h.changeset = 0x1234;
    h.cpuid = 0x000806ec;
    h.gtsc_khz = 2'000'000;
    ctx.entries.push_back(encode_hvm_header(h));
    HvmCpu cpu;
    cpu.rip = 0x100000;
    cpu.cr0 = 0x11;
    cpu.flags = kHvmCpuFpuInitialised;
    cpu.fpu_regs[0] = 0x7f;
    ctx.entries.push_back(encode_hvm_cpu(0, cpu));
    // PIC: opaque, carried through unchanged.
    ctx.entries.push_back(HvmEntry{hvm_code::kPic, 0, {1, 2, 3, 4, 5, 6, 7, 8}});
    HvmLapic lapic;
    lapic.apic_base_msr = 0xfee00900;
    ctx.entries.push_back(encode_hvm_lapic(0, lapic));
    HvmLapicRegs regs;
    regs.data[0x20] = 1;
    ctx.entries.push_back(encode_hvm_lapic_regs(0, regs));
    HvmMtrr mtrr;
    mtrr.msr_pat_cr = 0x0007040600070406;
    ctx.entries.push_back(encode_hvm_mtrr(0, mtrr));
    HvmCpuXsave xs;
    xs.xcr0 = 7;
    xs.xcr0_accum = 7;
    xs.save_area.assign(kXsaveAreaMinSize + 256, 0);
    ctx.entries.push_back(encode_hvm_xsave(0, xs));
    ctx.entries.push_back(encode_hvm_tsc_adjust(0, HvmTscAdjust{42}));
    ctx.entries.push_back(encode_hvm_msrs(0, {{0xc0000103, 9}, {0x10a, 0}}));
    ctx.entries.push_back(hvm_end_entry());
    return ctx;
}

// A v3 x86 HVM libxc stream as Xen's saver lays one out.
inline Bytes sample_libxc_stream(std::uint32_t version = 3) {
    VectorSink sink;
    LibxcStreamWriter w(sink);
    (void)w.write_headers(LibxcImageHeader{version, 0}, LibxcDomainHeader{});
    const std::vector<CpuidLeaf> leaves = {{0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69}};
    const std::vector<MsrPolicyEntry> msrs = {{0xce, 0, 0x80000000}};
    (void)w.write_record(libxc_rec::kX86CpuidPolicy, encode_cpuid_policy(leaves));
    (void)w.write_record(libxc_rec::kX86MsrPolicy, encode_msr_policy(msrs));
    if (version >= 3) (void)w.write_record(libxc_rec::kStaticDataEnd, {});
    const std::vector<PageDataPfn> pfns = {{0, pfinfo::kNotab}, {1, pfinfo::kXtab}, {2, pfinfo::kNotab}};
    Bytes data = page_of(0xaa);
    append(data, page_of(0xbb));
    (void)w.write_record(libxc_rec::kPageData, encode_page_data(pfns, data));
    (void)w.write_record(libxc_rec::kX86TscInfo, encode_tsc_info(TscInfo{0, 2'000'000, 123456789, 1}));
    const std::vector<HvmParam> params = {{1, 0xfeffe}, {2, 0xfefff}};
    (void)w.write_record(libxc_rec::kHvmParams, encode_hvm_params(params));
    (void)w.write_record(libxc_rec::kHvmContext, emit_hvm_context(sample_hvm_context()));
    (void)w.write_end();
    return sink.take();
}

inline LibxcLimits sample_limits() {
    LibxcLimits l;
    l.max_pfn = 0xfffff;
    return l;
}

}  // namespace xenolith::migration::test
