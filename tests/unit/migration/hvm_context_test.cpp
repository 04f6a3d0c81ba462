#include "migration/hvm_context.hpp"

#include <cstring>
#include <gtest/gtest.h>

#include "test_streams.hpp"

namespace xenolith::migration {
namespace hvm_context_test {  // named: the tests compile as unity batches

using test::append;
using test::Bytes;

// A HEADER entry and END, written out by hand from save.h:
// descriptor {u16 typecode, u16 instance, u32 length}, then the struct.
const Bytes kGoldenMinimal = {
    0x01, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,  // HEADER, instance 0, 24 bytes
    0x86, 0x12, 0x38, 0x54,                          // magic 0x54381286
    0x01, 0x00, 0x00, 0x00,                          // version 1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // changeset
    0xec, 0x06, 0x08, 0x00,                          // cpuid
    0x80, 0x84, 0x1e, 0x00,                          // gtsc_khz 2000000
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // END
};

TEST(HvmContext, MinimalContextMatchesXensLayout) {
    HvmContext ctx;
    ctx.entries.push_back(encode_hvm_header(HvmSaveHeader{kHvmFileMagic, 1, 0, 0x806ec, 2'000'000}));
    ctx.entries.push_back(hvm_end_entry());
    EXPECT_EQ(emit_hvm_context(ctx), kGoldenMinimal);
    auto back = parse_hvm_context(kGoldenMinimal);
    ASSERT_TRUE(back) << back.error().what;
    EXPECT_EQ(back->entries.size(), 2u);
}

TEST(HvmContext, RoundTripsTypedAndOpaqueEntries) {
    const HvmContext ctx = test::sample_hvm_context();
    const Bytes blob = emit_hvm_context(ctx);
    auto back = parse_hvm_context(blob);
    ASSERT_TRUE(back) << back.error().what;
    EXPECT_EQ(back->entries, ctx.entries);
    EXPECT_EQ(emit_hvm_context(*back), blob);

    auto cpu = decode_hvm_cpu(*back->find(hvm_code::kCpu, 0));
    ASSERT_TRUE(cpu);
    EXPECT_EQ(cpu->rip, 0x100000u);
    EXPECT_EQ(cpu->fpu_regs[0], 0x7f);
    auto msrs = decode_hvm_msrs(*back->find(hvm_code::kCpuMsr, 0));
    ASSERT_TRUE(msrs);
    EXPECT_EQ((*msrs)[0], (HvmMsr{0xc0000103, 9}));
    auto xs = decode_hvm_xsave(*back->find(hvm_code::kCpuXsave, 0));
    ASSERT_TRUE(xs);
    EXPECT_EQ(xs->save_area.size(), kXsaveAreaMinSize + 256);
    EXPECT_EQ(back->find(hvm_code::kPic, 0)->body, (Bytes{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(HvmContext, OldCpuLayoutIsConvertedAsXenDoes) {
    HvmCpu cpu;
    cpu.msr_efer = 0x500;
    cpu.tsc = 0x1111;
    cpu.pending_event = 0x80000020;
    cpu.error_code = 0xe;
    // The compat layout: everything up to msr_tsc_aux, then tsc,
    // pending_event, error_code.
    Bytes body(kHvmCpuCompatSize);
    std::memcpy(body.data(), &cpu, offsetof(HvmCpu, msr_tsc_aux));
    std::memcpy(body.data() + offsetof(HvmCpu, msr_tsc_aux), &cpu.tsc, 16);
    auto back = decode_hvm_cpu(HvmEntry{hvm_code::kCpu, 0, body});
    ASSERT_TRUE(back) << back.error().what;
    EXPECT_EQ(back->msr_efer, 0x500u);
    EXPECT_EQ(back->tsc, 0x1111u);
    EXPECT_EQ(back->pending_event, 0x80000020u);
    EXPECT_EQ(back->error_code, 0xeu);
    EXPECT_EQ(back->msr_tsc_aux, 0u);
    EXPECT_EQ(back->flags, kHvmCpuFpuInitialised);
}

TEST(HvmContext, LapicKeepsTheLengthItCameWith) {
    HvmLapic l;
    l.tdt_msr = 5;
    EXPECT_EQ(encode_hvm_lapic(0, l).body.size(), kHvmLapicShortSize);
    l.pending_esr = 0x40;
    const HvmEntry e = encode_hvm_lapic(1, l);
    EXPECT_EQ(e.body.size(), sizeof(HvmLapic));
    auto back = decode_hvm_lapic(e);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->pending_esr, 0x40u);
    EXPECT_FALSE(decode_hvm_lapic(HvmEntry{hvm_code::kLapic, 0, Bytes(28, 0)}));
}

HvmContext with(HvmEntry extra) {
    HvmContext ctx = test::sample_hvm_context();
    ctx.entries.insert(ctx.entries.end() - 1, std::move(extra));
    return ctx;
}

void expect_refused(const Bytes& blob, const std::string& part) {
    auto r = parse_hvm_context(blob);
    ASSERT_FALSE(r) << "accepted; expected: " << part;
    EXPECT_NE(r.error().what.find(part), std::string::npos) << r.error().what;
}

TEST(HvmContext, RefusesHostileBlobs) {
    Bytes b = kGoldenMinimal;
    b[0] = 2;
    expect_refused(b, "entry 0 at blob offset 0: first entry has typecode 2, expected HEADER");
    expect_refused(Bytes(kGoldenMinimal.begin(), kGoldenMinimal.end() - 8), "entry 1 at blob offset 32: blob ends without an END");
    b = kGoldenMinimal;
    b.push_back(0);
    expect_refused(b, "bytes after the END entry");
    b = kGoldenMinimal;
    b[4] = 0x40;
    expect_refused(b, "length 64 overruns the blob");
    b = kGoldenMinimal;
    b[8] = 0;
    expect_refused(b, "HEADER magic");
    b = kGoldenMinimal;
    b[34] = 1;
    expect_refused(b, "END entry with non-zero instance or length");

    expect_refused(emit_hvm_context(with(encode_hvm_tsc_adjust(0, {}))), "duplicate typecode 19 instance 0");
    expect_refused(emit_hvm_context(with(encode_hvm_cpu(128, {}))), "CPU instance 128 is not a vCPU");
    expect_refused(emit_hvm_context(with(HvmEntry{hvm_code::kCpu, 1, Bytes(1024, 0)})), "CPU length 1024");
    expect_refused(emit_hvm_context(with(HvmEntry{hvm_code::kMtrr, 1, Bytes(232, 0)})), "MTRR length 232, expected 240");
    expect_refused(emit_hvm_context(with(HvmEntry{hvm_code::kLapicRegs, 1, Bytes(1023, 0)})), "LAPIC_REGS length 1023");

    HvmEntry msrs = encode_hvm_msrs(1, {{1, 1}, {2, 2}});
    msrs.body[0] = 3;
    expect_refused(emit_hvm_context(with(msrs)), "does not match count 3");
    msrs = encode_hvm_msrs(1, {{1, 1}});
    msrs.body[12] = 1;
    expect_refused(emit_hvm_context(with(msrs)), "non-zero reserved");
    expect_refused(emit_hvm_context(with(encode_hvm_msrs(1, {}))), "CPU_MSR count is 0");

    HvmCpuXsave xs;
    xs.save_area.assign(100, 0);
    expect_refused(emit_hvm_context(with(encode_hvm_xsave(1, xs))), "CPU_XSAVE length 124 outside");
    xs.save_area.assign(kXsaveAreaMinSize, 0);
    xs.xcr0 = 7;
    xs.xcr0_accum = 3;
    expect_refused(emit_hvm_context(with(encode_hvm_xsave(1, xs))), "bits missing from xcr0_accum");

    // Opaque types are not length-checked, but must stay inside the blob.
    EXPECT_TRUE(parse_hvm_context(emit_hvm_context(with(HvmEntry{34, 0, Bytes(3, 9)}))));
}

TEST(HvmContext, RefusesTruncationAtEveryByte) {
    const Bytes full = emit_hvm_context(test::sample_hvm_context());
    for (std::size_t n = 0; n < full.size(); ++n) {
        EXPECT_FALSE(parse_hvm_context(ByteSpan(full).first(n))) << n;
    }
}

}  // namespace hvm_context_test
}  // namespace xenolith::migration
