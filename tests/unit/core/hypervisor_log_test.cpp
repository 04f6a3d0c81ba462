#include <gtest/gtest.h>

#include "domain/hypervisor_log.hpp"

namespace xenolith::domain {
namespace {

TEST(HypervisorLog, keeps_the_newest_lines_within_its_byte_budget) {
    HypervisorLog log(100);
    for (int i = 0; i < 50; ++i) log.append_line("line " + std::to_string(i));
    auto lines = log.lines();
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back(), "line 49");
    std::size_t bytes = 0;
    for (const auto& l : lines) bytes += l.size() + 1;
    EXPECT_LE(bytes, 100u);
}

TEST(LineAssembler, joins_partial_writes_and_splits_on_newlines) {
    LineAssembler a;
    std::vector<std::string> out;
    auto emit = [&](const std::string& l) { out.push_back(l); };
    a.feed("hel", 3, emit);
    a.feed("lo\r\nwor", 7, emit);
    a.feed("ld\n", 3, emit);
    EXPECT_EQ(out, (std::vector<std::string>{"hello", "world"}));
}

TEST(LineAssembler, a_line_without_newline_is_cut_at_the_limit) {
    LineAssembler a;
    std::vector<std::string> out;
    std::string big(LineAssembler::kMaxLine * 3, 'x');
    a.feed(big.data(), big.size(), [&](const std::string& l) { out.push_back(l); });
    EXPECT_EQ(out.size(), 2u);
    for (const auto& l : out) EXPECT_EQ(l.size(), LineAssembler::kMaxLine);
}

}  // namespace
}  // namespace xenolith::domain
