#include "migration/xl_savefile.hpp"

#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

#include "test_streams.hpp"

namespace xenolith::migration {
namespace {

using test::Bytes;

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// What xl writes for a domain whose config JSON is "{}", from xl.h's
// struct save_file_header and save_domain_core_writeconfig().
Bytes golden_with_config() {
    Bytes b = bytes_of(std::string_view("Xen saved domain, xl format\n \0 \r", 32));
    const Bytes rest = {
        0x04, 0x03, 0x02, 0x01,  // byte-order marker 0x01020304, little-endian
        0x03, 0x00, 0x00, 0x00,  // mandatory: JSON | STREAMv2
        0x00, 0x00, 0x00, 0x00,  // optional flags
        0x07, 0x00, 0x00, 0x00,  // optional data length: 4 + 3
        0x03, 0x00, 0x00, 0x00,  // config length, NUL included
        '{',  '}',  0x00};
    test::append(b, rest);
    return b;
}

Result<XlSaveHeader> read_all(const Bytes& b, const XlSaveLimits& limits = {}) {
    MemorySource src(b);
    InputStream in(src);
    return read_xl_save_header(in, limits);
}

TEST(XlSaveFile, EncodesExactlyWhatXlWrites) {
    XlSaveHeader h;
    h.config_json = "{}";
    EXPECT_EQ(encode_xl_save_header(h), golden_with_config());
}

TEST(XlSaveFile, ReadsGoldenHeaderAndStopsAtTheLibxlStream) {
    Bytes b = golden_with_config();
    b.push_back(0x4c);  // first byte of "LibxlFmt"
    MemorySource src(b);
    InputStream in(src);
    auto h = read_xl_save_header(in);
    ASSERT_TRUE(h) << h.error().what;
    EXPECT_EQ(h->config_json, "{}");
    EXPECT_EQ(h->mandatory_flags, kXlMandatoryJson | kXlMandatoryStreamV2);
    EXPECT_EQ(in.offset(), golden_with_config().size());
}

TEST(XlSaveFile, WithoutConfigXlStillWritesAZeroLength) {
    XlSaveHeader h;
    const Bytes b = encode_xl_save_header(h);
    ASSERT_EQ(b.size(), 52u);
    EXPECT_EQ(b[36], 0x02);  // STREAMv2 only
    EXPECT_EQ(b[44], 4);     // optional data: just the length
    auto back = read_all(b);
    ASSERT_TRUE(back) << back.error().what;
    EXPECT_FALSE(back->config_json);
}

TEST(XlSaveFile, RoundTripsConfigAndUnknownTail) {
    XlSaveHeader h;
    h.config_json = R"({"c_info":{"type":"pvh","name":"g"}})";
    h.optional_flags = 0;
    h.optional_tail = {9, 8, 7};
    const Bytes b = encode_xl_save_header(h);
    auto back = read_all(b);
    ASSERT_TRUE(back) << back.error().what;
    EXPECT_EQ(back->config_json, h.config_json);
    EXPECT_EQ(back->optional_tail, h.optional_tail);
    EXPECT_EQ(encode_xl_save_header(*back), b);
}

TEST(XlSaveFile, ReadsFromAFileDescriptor) {
    const Bytes b = golden_with_config();
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(write(fds[1], b.data(), b.size()), static_cast<ssize_t>(b.size()));
    close(fds[1]);
    FdSource src(fds[0]);
    InputStream in(src);
    auto h = read_xl_save_header(in);
    close(fds[0]);
    ASSERT_TRUE(h) << h.error().what;
    EXPECT_EQ(h->config_json, "{}");
}

void expect_refused(const Bytes& b, const std::string& why, const XlSaveLimits& limits = {}) {
    auto h = read_all(b, limits);
    ASSERT_FALSE(h) << "accepted; expected: " << why;
    EXPECT_NE(h.error().what.find("xl save header at offset"), std::string::npos) << h.error().what;
    EXPECT_NE(h.error().what.find(why), std::string::npos) << h.error().what;
}

TEST(XlSaveFile, RefusesHostileHeaders) {
    Bytes b = golden_with_config();
    b[0] = 'x';
    expect_refused(b, "wrong magic");

    b = golden_with_config();
    b[32] = 1, b[33] = 2, b[34] = 3, b[35] = 4;
    expect_refused(b, "big-endian");

    b = golden_with_config();
    b[36] |= 0x04;
    expect_refused(b, "unsupported mandatory flag(s) 0x4");

    b = golden_with_config();
    b[36] = 0x01;
    expect_refused(b, "STREAMv2 missing");

    b = golden_with_config();
    expect_refused(b, "exceeds the limit", XlSaveLimits{6});

    b = golden_with_config();
    b[48] = 0x10;  // config longer than the optional data
    expect_refused(b, "overruns");

    b = golden_with_config();
    b.back() = '!';
    expect_refused(b, "not NUL-terminated");

    b = golden_with_config();
    b[52] = '[';
    b[53] = ']';
    expect_refused(b, "not an object");

    b = golden_with_config();
    b[52] = '{';
    b[53] = '{';
    expect_refused(b, "not valid JSON");

    b = golden_with_config();
    b[36] = 0x02;  // config present, JSON flag clear
    expect_refused(b, "without the JSON flag");
}

TEST(XlSaveFile, RefusesTruncationAtEveryByte) {
    const Bytes full = golden_with_config();
    for (std::size_t n = 0; n < full.size(); ++n) {
        const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        auto h = read_all(cut);
        EXPECT_FALSE(h) << "prefix of " << n << " bytes accepted";
    }
}

}  // namespace
}  // namespace xenolith::migration
