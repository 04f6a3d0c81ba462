#include "migration/libxc_stream.hpp"

#include <gtest/gtest.h>

#include "test_streams.hpp"

namespace xenolith::migration {
namespace libxc_stream_test {  // named: the tests compile as unity batches

using test::append;
using test::Bytes;
using test::record;
namespace rt = libxc_rec;

// libxc-migration-stream.pandoc, "Image Header": big-endian marker, id,
// version, options, reserved.
const Bytes kGoldenImageV3 = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // marker
                              0x58, 0x45, 0x4e, 0x46,                          // "XENF"
                              0x00, 0x00, 0x00, 0x03,                          // version 3
                              0x00, 0x00,                                      // options: little-endian
                              0x00, 0x00, 0x00, 0x00, 0x00, 0x00};             // reserved
// "Domain Header": x86 HVM, 4 KiB pages, Xen 4.20, little-endian.
const Bytes kGoldenDomain = {0x02, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
                             0x04, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00};

Bytes headers(std::uint32_t version = 3) {
    Bytes b = kGoldenImageV3;
    b[15] = static_cast<std::uint8_t>(version);
    append(b, kGoldenDomain);
    return b;
}

TEST(LibxcStream, HeadersMatchTheSpecification) {
    EXPECT_EQ(encode_libxc_image_header({}), kGoldenImageV3);
    EXPECT_EQ(encode_libxc_domain_header({}), kGoldenDomain);
}

TEST(LibxcStream, PageDataRecordMatchesTheSpecification) {
    const std::vector<PageDataPfn> pfns = {{5, pfinfo::kNotab}, {6, pfinfo::kXtab}};
    const Bytes page = test::page_of(0x5a);
    const Bytes rec = record(rt::kPageData, encode_page_data(pfns, page));
    Bytes golden = {0x01, 0, 0, 0, 0x18, 0x10, 0, 0,                // PAGE_DATA, length 8 + 16 + 4096
                    0x02, 0, 0, 0, 0, 0, 0, 0,                      // count 2, reserved
                    0x05, 0, 0, 0, 0, 0, 0, 0x00,                   // pfn 5, NOTAB
                    0x06, 0, 0, 0, 0, 0, 0, 0xf0};                  // pfn 6, XTAB (type in bits 63-60)
    append(golden, page);  // only the NOTAB page has contents; 4120 is a multiple of 8
    EXPECT_EQ(rec, golden);
}

TEST(LibxcStream, TscInfoAndParamsLayouts) {
    const Bytes tsc = encode_tsc_info({1, 0x1e8480, 0x0102030405060708, 3});
    EXPECT_EQ(tsc, (Bytes{1, 0, 0, 0, 0x80, 0x84, 0x1e, 0, 8, 7, 6, 5, 4, 3, 2, 1, 3, 0, 0, 0, 0, 0, 0, 0}));
    const std::vector<HvmParam> p = {{5, 0x10}};
    EXPECT_EQ(encode_hvm_params(p), (Bytes{1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0}));
}

struct Read {
    std::vector<LibxcRecord> records;
    std::string error;
};

Read read_stream(const Bytes& b, const LibxcLimits& limits = test::sample_limits()) {
    Read out;
    MemorySource src(b);
    InputStream in(src);
    LibxcStreamReader r(in, limits);
    if (auto st = r.read_headers(); !st) {
        out.error = st.error().what;
        return out;
    }
    while (!r.finished()) {
        auto rec = r.next();
        if (!rec) {
            out.error = rec.error().what;
            return out;
        }
        out.records.push_back(std::move(*rec));
    }
    return out;
}

Bytes stream(std::initializer_list<Bytes> records, std::uint32_t version = 3) {
    Bytes b = headers(version);
    for (const Bytes& r : records) append(b, r);
    return b;
}

const Bytes kStaticEnd = record(rt::kStaticDataEnd, {});
const Bytes kEnd = record(rt::kEnd, {});

Bytes page_data(std::vector<PageDataPfn> pfns, std::size_t pages_of_data) {
    return record(rt::kPageData, encode_page_data(pfns, Bytes(pages_of_data * kX86PageSize, 0)));
}

void expect_error(const Read& r, const std::string& part) {
    EXPECT_NE(r.error, "") << "accepted; expected: " << part;
    EXPECT_NE(r.error.find(part), std::string::npos) << r.error;
}

TEST(LibxcStream, ReadsAndRewritesATypicalHvmStream) {
    const Bytes b = test::sample_libxc_stream();
    auto r = read_stream(b);
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.records.size(), 8u);
    EXPECT_EQ(r.records[0].type, rt::kX86CpuidPolicy);
    EXPECT_EQ(r.records[0].offset, 40u);
    EXPECT_EQ(r.records[7].type, rt::kEnd);

    auto pages = decode_page_data(r.records[3].body, test::sample_limits());
    ASSERT_TRUE(pages);
    ASSERT_EQ(pages->pfns.size(), 3u);
    EXPECT_EQ(pages->pfns[1], (PageDataPfn{1, pfinfo::kXtab}));
    ASSERT_EQ(pages->data.size(), 2 * kX86PageSize);
    EXPECT_EQ(pages->data[kX86PageSize], 0xbb);
    auto tsc = decode_tsc_info(r.records[4].body);
    ASSERT_TRUE(tsc);
    EXPECT_EQ(tsc->nsec, 123456789u);
    auto leaves = decode_cpuid_policy(r.records[0].body);
    ASSERT_TRUE(leaves);
    EXPECT_EQ((*leaves)[0].b, 0x756e6547u);

    VectorSink sink;
    LibxcStreamWriter w(sink);
    ASSERT_TRUE(w.write_headers(LibxcImageHeader{}, LibxcDomainHeader{}));
    for (const LibxcRecord& rec : r.records) ASSERT_TRUE(w.write_record(rec.type, rec.body));
    EXPECT_EQ(sink.bytes(), b);
}

TEST(LibxcStream, RefusesHostileHeaders) {
    Bytes b = headers();
    b[3] = 0;
    expect_error(read_stream(b), "libxc stream: image header at offset 0: marker");
    b = headers();
    b[8] = 'x';
    expect_error(read_stream(b), "id 0x78454e46");
    expect_error(read_stream(headers(1)), "version 1 (supported: 2 and 3)");
    expect_error(read_stream(headers(4)), "version 4");
    b = headers();
    b[17] = 1;
    expect_error(read_stream(b), "big-endian");
    b = headers();
    b[24] = 1;
    expect_error(read_stream(b), "domain header at offset 24: x86 PV domain");
    b = headers();
    b[28] = 16;
    expect_error(read_stream(b), "page_shift 16");
}

TEST(LibxcStream, RefusesRecordsOutOfPlace) {
    // HVM_CONTEXT where the domain header belongs.
    Bytes b = kGoldenImageV3;
    append(b, record(rt::kHvmContext, emit_hvm_context(test::sample_hvm_context())));
    expect_error(read_stream(b), "domain header at offset 24: domain type 0x9 is not x86 HVM");
    // A second image header among the records.
    expect_error(read_stream(stream({kStaticEnd, kGoldenImageV3, kEnd})), "record 2 (optional 0xffffffff) at offset 48: a second image header");
    // State before STATIC_DATA_END in v3; the same is fine in v2.
    const Bytes pages = page_data({{0, pfinfo::kNotab}}, 1);
    expect_error(read_stream(stream({pages, kEnd})), "record 1 (PAGE_DATA) at offset 40: before STATIC_DATA_END");
    EXPECT_EQ(read_stream(stream({pages, kEnd}, 2)).error, "");
    EXPECT_EQ(read_stream(test::sample_libxc_stream(2)).error, "");
    expect_error(read_stream(stream({kStaticEnd, kStaticEnd, kEnd})), "a second STATIC_DATA_END");
    const Bytes cpuid = record(rt::kX86CpuidPolicy, Bytes(24, 0));
    expect_error(read_stream(stream({kStaticEnd, cpuid, kEnd})), "static data after STATIC_DATA_END");
    const Bytes ctx = record(rt::kHvmContext, emit_hvm_context(test::sample_hvm_context()));
    const Bytes params = record(rt::kHvmParams, encode_hvm_params(std::vector<HvmParam>{{1, 2}}));
    // Xen's saver writes TSC_INFO, HVM_CONTEXT, HVM_PARAMS (the specification
    // lists params first; both orders occur).
    const Bytes tsc = record(rt::kX86TscInfo, encode_tsc_info({}));
    EXPECT_EQ(read_stream(stream({kStaticEnd, tsc, ctx, params, kEnd})).error, "");
    expect_error(read_stream(stream({kStaticEnd, params, ctx, params, kEnd})), "a second HVM_PARAMS");
    expect_error(read_stream(stream({kStaticEnd, ctx, ctx, kEnd})), "a second HVM_CONTEXT");
    // The stream stops without END.
    expect_error(read_stream(stream({kStaticEnd, pages})), "record 3 at offset 4168: stream ended without an END record");
    expect_error(read_stream(stream({kStaticEnd, record(rt::kCheckpoint, {}), kEnd})), "not checkpointed");
}

TEST(LibxcStream, NothingIsReadAfterEnd) {
    const Bytes b = stream({kStaticEnd, kEnd, page_data({{0, pfinfo::kNotab}}, 1)});
    MemorySource src(b);
    InputStream in(src);
    LibxcStreamReader r(in, test::sample_limits());
    ASSERT_TRUE(r.read_headers());
    ASSERT_TRUE(r.next());
    ASSERT_TRUE(r.next());
    ASSERT_TRUE(r.finished());
    auto after = r.next();
    ASSERT_FALSE(after);
    EXPECT_NE(after.error().what.find("record 3 (END) at offset 56: read past the END record"), std::string::npos)
        << after.error().what;
}

TEST(LibxcStream, RefusesHostilePageData) {
    LibxcLimits l = test::sample_limits();
    // Length over the cap for the type: refused before any body is read.
    Bytes big = {0x01, 0, 0, 0, 0, 0, 0, 0};
    const std::uint32_t len = 8 + 1025 * (8 + 4096);
    big[4] = static_cast<std::uint8_t>(len), big[5] = static_cast<std::uint8_t>(len >> 8);
    big[6] = static_cast<std::uint8_t>(len >> 16), big[7] = static_cast<std::uint8_t>(len >> 24);
    expect_error(read_stream(stream({kStaticEnd, big})), "record 2 (PAGE_DATA) at offset 48: length 4206608 exceeds the cap 4202504");

    std::vector<PageDataPfn> many(1025, {0, pfinfo::kXtab});
    expect_error(read_stream(stream({kStaticEnd, page_data(many, 0), kEnd})), "page count 1025 exceeds the limit");
    expect_error(read_stream(stream({kStaticEnd, page_data({}, 0), kEnd})), "page count is 0");
    // Count says two pages of data, the record holds one.
    expect_error(read_stream(stream({kStaticEnd, page_data({{0, 0}, {1, 0}}, 1), kEnd})),
                 "length 4120 does not match 2 pfns with 2 pages of data");
    expect_error(read_stream(stream({kStaticEnd, page_data({{0, 0}}, 2), kEnd})), "does not match");
    // Count larger than the pfn list the length allows.
    Bytes lying = encode_page_data(std::vector<PageDataPfn>{{0, pfinfo::kXtab}}, {});
    lying[0] = 3;
    expect_error(read_stream(stream({kStaticEnd, record(rt::kPageData, lying), kEnd})), "too short for 3 pfn entries");
    expect_error(read_stream(stream({kStaticEnd, page_data({{0x100000, 0}}, 1), kEnd})),
                 "pfn 0x100000 (index 0) is beyond the domain's max_pfn 0xfffff");
    expect_error(read_stream(stream({kStaticEnd, page_data({{1, pfinfo::kL1tab}}, 1), kEnd})), "only x86 PV");
    expect_error(read_stream(stream({kStaticEnd, page_data({{1, pfinfo::kL4tabPinned}}, 1), kEnd})), "only x86 PV");
    expect_error(read_stream(stream({kStaticEnd, page_data({{1, 0x6}}, 1), kEnd})), "reserved page type 0x6");
    l.max_pfn = 0;
    EXPECT_EQ(read_stream(stream({kStaticEnd, page_data({{0, 0}}, 1), kEnd}), l).error, "");
}

TEST(LibxcStream, RefusesPvAndUnknownRecordsByName) {
    expect_error(read_stream(stream({record(rt::kX86PvInfo, Bytes(8, 0)), kEnd})),
                 "record 1 (X86_PV_INFO) at offset 40: x86 PV records are out of scope");
    expect_error(read_stream(stream({kStaticEnd, record(rt::kX86PvVcpuMsrs, Bytes(8, 0)), kEnd})), "X86_PV_VCPU_MSRS");
    expect_error(read_stream(stream({kStaticEnd, record(rt::kSharedInfo, Bytes(4096, 0)), kEnd})),
                 "SHARED_INFO is PV-only");
    expect_error(read_stream(stream({kStaticEnd, record(rt::kToolstack, Bytes(8, 0)), kEnd})), "deprecated TOOLSTACK");
    expect_error(read_stream(stream({kStaticEnd, record(0x13, {}), kEnd})), "(unknown 0x13) at offset 48: unknown mandatory");
    auto ok = read_stream(stream({record(rt::kOptionalBit | 0x13, {7}), kStaticEnd, kEnd}));
    ASSERT_EQ(ok.error, "");
    EXPECT_EQ(ok.records[0].body, Bytes{7});
}

TEST(LibxcStream, RefusesBadRecordBodies) {
    expect_error(read_stream(stream({kStaticEnd, record(rt::kX86TscInfo, Bytes(16, 0)), kEnd})), "length 16, expected 24");
    Bytes params = encode_hvm_params(std::vector<HvmParam>{{1, 2}});
    params[0] = 2;
    expect_error(read_stream(stream({kStaticEnd, record(rt::kHvmParams, params), kEnd})), "does not match 2 params");
    expect_error(read_stream(stream({kStaticEnd, record(rt::kHvmParams, encode_hvm_params(std::vector<HvmParam>{{4096, 0}})), kEnd})),
                 "param index 4096");
    EXPECT_EQ(read_stream(stream({kStaticEnd, record(rt::kHvmParams, Bytes(8, 0)), kEnd})).error, "")
        << "empty HVM_PARAMS are tolerated (specification erratum 1)";
    expect_error(read_stream(stream({record(rt::kX86CpuidPolicy, Bytes(25, 0)), kEnd})), "not a non-zero multiple of 24");
    expect_error(read_stream(stream({record(rt::kX86MsrPolicy, {}), kEnd})), "not a non-zero multiple of 16");
    expect_error(read_stream(stream({kStaticEnd, record(rt::kEnd, Bytes(8, 0))})), "(END) at offset 48: length 8 exceeds the cap 0");
    expect_error(read_stream(stream({kStaticEnd, record(rt::kHvmContext, Bytes(8, 0)), kEnd})), "HVM context entry 0");
}

TEST(LibxcStream, HvmContextVcpusAreBoundedByTheCallersLimit) {
    const Bytes ctx = record(rt::kHvmContext, emit_hvm_context(test::sample_hvm_context()));
    LibxcLimits l = test::sample_limits();
    EXPECT_EQ(read_stream(stream({kStaticEnd, ctx, kEnd}), l).error, "");
    l.max_vcpus = 0;
    expect_error(read_stream(stream({kStaticEnd, ctx, kEnd}), l),
                 "record 2 (HVM_CONTEXT) at offset 48: HVM context entry 1 at blob offset 32: CPU instance 0 is not a vCPU");
}

TEST(LibxcStream, CheckpointedStreamsRepeatTheirState) {
    LibxcLimits l = test::sample_limits();
    l.checkpointed = true;
    const Bytes tsc = record(rt::kX86TscInfo, encode_tsc_info({}));
    const Bytes cp = record(rt::kCheckpoint, {});
    EXPECT_EQ(read_stream(stream({kStaticEnd, tsc, cp, tsc, cp, kEnd}), l).error, "");
    expect_error(read_stream(stream({kStaticEnd, tsc, tsc, kEnd}), l), "a second X86_TSC_INFO");
}

TEST(LibxcStream, RefusesTruncationAtEveryByte) {
    const Bytes full = test::sample_libxc_stream();
    for (std::size_t n = 0; n < full.size(); ++n) {
        auto r = read_stream(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)));
        ASSERT_NE(r.error, "") << n;
        ASSERT_EQ(r.error.rfind("libxc stream: ", 0), 0u) << r.error;
    }
}

TEST(LibxcStream, ShortStreamClaimingALongRecordAllocatesOnlyWhatArrives) {
    Bytes b = stream({kStaticEnd});
    append(b, Bytes{0x09, 0, 0, 0, 0x00, 0x00, 0xf0, 0x00});  // HVM_CONTEXT claiming 15 MiB
    auto r = read_stream(b);
    expect_error(r, "record 2 (HVM_CONTEXT) at offset 48: body truncated: 0 of 15728640 bytes present");
}

}  // namespace libxc_stream_test
}  // namespace xenolith::migration
