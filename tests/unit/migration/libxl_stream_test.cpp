#include "migration/libxl_stream.hpp"

#include <gtest/gtest.h>

#include "test_streams.hpp"

namespace xenolith::migration {
namespace {

using test::append;
using test::Bytes;
using test::record;

// libxl-migration-stream.pandoc: "LibxlFmt", version 2, options, big-endian.
const Bytes kGoldenHeader = {0x4c, 0x69, 0x62, 0x78, 0x6c, 0x46, 0x6d, 0x74,  // "LibxlFmt"
                             0x00, 0x00, 0x00, 0x02,                          // version 2
                             0x00, 0x00, 0x00, 0x00};                         // little-endian, not legacy

TEST(LibxlStream, HeaderMatchesTheSpecification) { EXPECT_EQ(encode_libxl_header({}), kGoldenHeader); }

TEST(LibxlStream, RecordsArePaddedToEightBytes) {
    VectorSink sink;
    LibxlStreamWriter w(sink);
    ASSERT_TRUE(w.write_libxc_context());
    EmulatorRecord emu{libxl_emulator::kQemuUpstream, 0, {'a', 'b', 'c'}};
    ASSERT_TRUE(w.write_record(libxl_rec::kEmulatorContext, encode_emulator_record(emu)));
    const Bytes golden = {
        0x01, 0, 0, 0, 0x00, 0, 0, 0,        // LIBXC_CONTEXT, length 0
        0x03, 0, 0, 0, 0x0b, 0, 0, 0,        // EMULATOR_CONTEXT, length 11
        0x02, 0, 0, 0, 0x00, 0, 0, 0,        // emulator id 2 (upstream), index 0
        'a',  'b', 'c', 0, 0, 0, 0, 0};      // data, then 5 bytes of padding
    EXPECT_EQ(sink.bytes(), golden);
}

struct Read {
    Bytes bytes;
    std::vector<LibxlRecord> records;
    std::string error;
};

// Reads a libxl stream whose LIBXC_CONTEXT is followed directly by the next
// libxl record (no libxc stream: these tests are about the libxl layer).
Read read_stream(Bytes b, const LibxlLimits& limits = {}) {
    Read out;
    out.bytes = std::move(b);
    MemorySource src(out.bytes);
    InputStream in(src);
    LibxlStreamReader r(in, limits);
    if (auto st = r.read_header(); !st) {
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

Bytes stream(std::initializer_list<Bytes> records) {
    Bytes b = kGoldenHeader;
    for (const Bytes& r : records) append(b, r);
    return b;
}

const Bytes kLibxc = record(libxl_rec::kLibxcContext, {});
const Bytes kEnd = record(libxl_rec::kEnd, {});

TEST(LibxlStream, ReadsAMinimalStream) {
    auto r = read_stream(stream({kLibxc, kEnd}));
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.records.size(), 2u);
    EXPECT_EQ(r.records[0].type, libxl_rec::kLibxcContext);
    EXPECT_EQ(r.records[0].offset, 16u);
    EXPECT_EQ(r.records[1].index, 2u);
}

TEST(LibxlStream, EmulatorRecordsWhenTheGuestHasADeviceModel) {
    const Bytes xs = encode_emulator_record({2, 0, encode_xenstore_pairs({{"physmap/1/start_addr", "f0000000"}})});
    LibxlLimits l;
    l.allow_emulator_records = true;
    auto r = read_stream(stream({kLibxc, record(libxl_rec::kEmulatorXenstoreData, xs), kEnd}), l);
    ASSERT_EQ(r.error, "");
    auto emu = decode_emulator_record(r.records[1].body);
    ASSERT_TRUE(emu);
    auto pairs = decode_xenstore_pairs(emu->data);
    ASSERT_TRUE(pairs);
    ASSERT_EQ(pairs->size(), 1u);
    EXPECT_EQ((*pairs)[0].second, "f0000000");
}

void expect_error(const Read& r, const std::string& part) {
    EXPECT_NE(r.error, "") << "accepted; expected: " << part;
    EXPECT_NE(r.error.find(part), std::string::npos) << r.error;
}

TEST(LibxlStream, RefusesHostileStreams) {
    Bytes b = stream({kLibxc, kEnd});
    b[0] = 'l';
    expect_error(read_stream(b), "libxl stream: header at offset 0: ident");
    b = stream({kLibxc, kEnd});
    b[11] = 3;
    expect_error(read_stream(b), "version 3, expected 2");
    b = stream({kLibxc, kEnd});
    b[15] = 1;
    expect_error(read_stream(b), "big-endian");

    expect_error(read_stream(stream({kEnd})), "record 1 (END) at offset 16: END before any LIBXC_CONTEXT");
    expect_error(read_stream(stream({kLibxc, kLibxc, kEnd})), "record 2 (LIBXC_CONTEXT) at offset 24: a second");
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kEmulatorContext, Bytes(8, 0)), kEnd})),
                 "this guest has none");
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kCheckpointEnd, {}), kEnd})), "not checkpointed");
    expect_error(read_stream(stream({kLibxc, record(6, {}), kEnd})), "record 2 (unknown 0x6) at offset 24: unknown mandatory");
    expect_error(read_stream(stream({kLibxc})), "record 2 at offset 24: stream ended without an END record");
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kOptionalBit | 1, Bytes(2u << 20, 0)), kEnd})),
                 "exceeds the cap");

    LibxlLimits emu;
    emu.allow_emulator_records = true;
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kEmulatorContext, Bytes(4, 0)), kEnd}), emu),
                 "too short for the emulator header");
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kEmulatorContext, Bytes{9, 0, 0, 0, 0, 0, 0, 0}), kEnd}), emu),
                 "unknown emulator id 9");
    const Bytes bad_key = encode_emulator_record({2, 0, {'a', ' ', 'b', 0, 'v', 0}});
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kEmulatorXenstoreData, bad_key), kEnd}), emu),
                 "character outside");
    const Bytes no_nul = encode_emulator_record({2, 0, {'k', 0, 'v'}});
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kEmulatorXenstoreData, no_nul), kEnd}), emu),
                 "not NUL-terminated");
}

TEST(LibxlStream, OptionalRecordsPassThrough) {
    auto r = read_stream(stream({kLibxc, record(libxl_rec::kOptionalBit | 7, {1, 2, 3}), kEnd}));
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.records[1].body, (Bytes{1, 2, 3}));
}

TEST(LibxlStream, CheckpointedStreams) {
    LibxlLimits l;
    l.checkpointed = true;
    const Bytes cpe = record(libxl_rec::kCheckpointEnd, {});
    auto r = read_stream(stream({kLibxc, cpe, kLibxc, cpe, kLibxc, kEnd}), l);
    EXPECT_EQ(r.error, "");
    expect_error(read_stream(stream({kLibxc, cpe, cpe, kEnd}), l), "before the checkpoint's LIBXC_CONTEXT");
    expect_error(read_stream(stream({kLibxc, record(libxl_rec::kCheckpointState, {9, 0, 0, 0}), kEnd}), l),
                 "unknown control id 9");
}

TEST(LibxlStream, RefusesTruncationAtEveryByteAndReadsPastEnd) {
    const Bytes full = stream({kLibxc, kEnd});
    for (std::size_t n = 0; n < full.size(); ++n) {
        auto r = read_stream(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)));
        EXPECT_NE(r.error, "") << n;
    }
    Bytes b = stream({kLibxc, kEnd});
    MemorySource src(b);
    InputStream in(src);
    LibxlStreamReader reader(in, {});
    ASSERT_TRUE(reader.read_header());
    ASSERT_TRUE(reader.next());
    ASSERT_TRUE(reader.next());
    auto after = reader.next();
    ASSERT_FALSE(after);
    EXPECT_NE(after.error().what.find("read past the END record"), std::string::npos);
}

}  // namespace
}  // namespace xenolith::migration
