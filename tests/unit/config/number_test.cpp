#include "toolstack/config/number.hpp"

#include <gtest/gtest.h>

namespace xenolith::config {
namespace {

using S = ParsedNumber::Status;

std::int64_t value_of(std::string_view text) {
    const ParsedNumber n = parse_xl_long(text);
    EXPECT_EQ(n.status, S::ok) << text;
    return n.value;
}

S status_of(std::string_view text) { return parse_xl_long(text).status; }

TEST(XlNumber, DecimalHexAndOctal_AsStrtolBaseZero) {
    EXPECT_EQ(value_of("0"), 0);
    EXPECT_EQ(value_of("512"), 512);
    EXPECT_EQ(value_of("0x20"), 32);
    EXPECT_EQ(value_of("0X1f"), 31);
    EXPECT_EQ(value_of("0xFFFF"), 65535);
    EXPECT_EQ(value_of("010"), 8);
    EXPECT_EQ(value_of("0100"), 64);
}

TEST(XlNumber, OctalFlag_MarksALeadingZero) {
    EXPECT_TRUE(parse_xl_long("010").octal);
    EXPECT_TRUE(parse_xl_long("00").octal);
    EXPECT_FALSE(parse_xl_long("0").octal);
    EXPECT_FALSE(parse_xl_long("10").octal);
    EXPECT_FALSE(parse_xl_long("0x10").octal);
}

TEST(XlNumber, SignAndLeadingBlanks_AreAccepted) {
    // Only reachable through quoted strings: memory=" 512".
    EXPECT_EQ(value_of(" \t512"), 512);
    EXPECT_EQ(value_of("-3"), -3);
    EXPECT_EQ(value_of("+3"), 3);
    EXPECT_EQ(value_of("-0x10"), -16);
}

TEST(XlNumber, AnythingLeftOver_IsInvalid) {
    for (std::string_view t : {"", " ", "-", "512 ", "512M", "12abc", "08", "0x", "0xg", "1.5",
                               "1e3", "abc", "0x1G", "--1"}) {
        EXPECT_EQ(status_of(t), S::invalid) << '"' << t << '"';
    }
}

TEST(XlNumber, Limits_AreThoseOfA64BitLong) {
    EXPECT_EQ(value_of("9223372036854775807"), INT64_MAX);
    EXPECT_EQ(value_of("-9223372036854775808"), INT64_MIN);
    EXPECT_EQ(value_of("0x7fffffffffffffff"), INT64_MAX);
    EXPECT_EQ(status_of("9223372036854775808"), S::out_of_range);
    EXPECT_EQ(status_of("-9223372036854775809"), S::out_of_range);
    EXPECT_EQ(status_of("99999999999999999999999999"), S::out_of_range);
    EXPECT_EQ(status_of("0x10000000000000000"), S::out_of_range);
}

}  // namespace
}  // namespace xenolith::config
