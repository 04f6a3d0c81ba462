#include "toolstack/config/parser.hpp"

#include <cstdio>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace xenolith::config {
namespace {

using test::parse_error;
using test::parse_ok;
using test::strs;

std::vector<std::string> keys(const ParsedConfig& cfg) {
    std::vector<std::string> out;
    for (const auto& s : cfg.settings) out.push_back(s.key);
    return out;
}

// ---- accepted syntax --------------------------------------------------------

TEST(Parser, Settings_KeepOrderPositionsAndValues) {
    auto cfg = parse_ok("name = \"web\"\nmemory = 512\n  vcpus=2\n");
    EXPECT_EQ(keys(cfg), (std::vector<std::string>{"name", "memory", "vcpus"}));
    const Setting* s = cfg.find("vcpus");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->pos.file, "t.cfg");
    EXPECT_EQ(s->pos.line, 3u);
    EXPECT_EQ(s->pos.column, 3u);
    EXPECT_EQ(s->value.kind, Value::Kind::number);
    EXPECT_EQ(s->value.text, "2");
    EXPECT_EQ(s->value.column, 9u);
    EXPECT_EQ(cfg.find("name")->value.kind, Value::Kind::string);
    EXPECT_EQ(cfg.find("name")->value.text, "web");
    EXPECT_TRUE(cfg.warnings.empty());
}

TEST(Parser, Semicolons_SeparateSettingsOnOneLine) {
    auto cfg = parse_ok("name=\"h0\"; type=\"hvm\";;\n;memory=1");
    EXPECT_EQ(keys(cfg), (std::vector<std::string>{"name", "type", "memory"}));
}

TEST(Parser, LastLine_NeedsNoNewline) {
    auto cfg = parse_ok("name = 'x'");
    EXPECT_EQ(cfg.find("name")->value.text, "x");
}

TEST(Parser, EmptyAndCommentOnlyInputs_AreValid) {
    EXPECT_TRUE(parse_ok("").settings.empty());
    EXPECT_TRUE(parse_ok("\n\n   \t\n").settings.empty());
    EXPECT_TRUE(parse_ok("# only a comment\n#another\n").settings.empty());
}

TEST(Parser, NumbersKeepTheirText) {
    auto cfg = parse_ok("a = 0x10\nb = 010\nc = 12abc\n");
    EXPECT_EQ(cfg.find("a")->value.text, "0x10");
    EXPECT_EQ(cfg.find("b")->value.text, "010");
    EXPECT_EQ(cfg.find("c")->value.text, "12abc");
}

TEST(Parser, Lists_SpanLinesWithCommentsAndTrailingCommas) {
    auto cfg = parse_ok(
        "disk = [\n"
        "    'phy:/dev/vg/web,xvda,w',   # root\n"
        "\n"
        "    'file:/srv/data.img,xvdb,w',\n"
        "]\n"
        "irqs = [ 1, 2 ,3 ]\n");
    const Setting* disk = cfg.find("disk");
    ASSERT_NE(disk, nullptr);
    ASSERT_TRUE(disk->value.is_list());
    ASSERT_EQ(disk->value.items.size(), 2u);
    EXPECT_EQ(disk->value.items[0].text, "phy:/dev/vg/web,xvda,w");
    EXPECT_EQ(disk->value.items[1].text, "file:/srv/data.img,xvdb,w");
    EXPECT_EQ(disk->value.items[1].line, 4u);
    EXPECT_EQ(disk->value.items[1].column, 5u);
    const Setting* irqs = cfg.find("irqs");
    ASSERT_EQ(irqs->value.items.size(), 3u);
    EXPECT_EQ(irqs->value.items[2].kind, Value::Kind::number);
}

TEST(Parser, EmptyLists_AreValid) {
    EXPECT_TRUE(parse_ok("vif = []").find("vif")->value.items.empty());
    EXPECT_TRUE(parse_ok("vif = [\n\n]\n").find("vif")->value.items.empty());
}

TEST(Parser, ListsOfLists_AreAcceptedForVnumaAndVsnd) {
    auto cfg = parse_ok(
        "vnuma = [ [ 'pnode=0', 'size=512', 'vcpus=0-1', 'vdistances=10,20' ],\n"
        "          [ 'pnode=1', 'size=512', 'vcpus=2-3', 'vdistances=20,10' ] ]\n");
    const Value& v = cfg.find("vnuma")->value;
    ASSERT_EQ(v.items.size(), 2u);
    ASSERT_TRUE(v.items[1].is_list());
    EXPECT_EQ(v.items[1].items[2].text, "vcpus=2-3");
}

TEST(Parser, MixedListItems_AreAccepted) {
    auto cfg = parse_ok("x = [ 'a', 1, [ 'b' ] ]");
    const Value& v = cfg.find("x")->value;
    EXPECT_EQ(v.items[0].kind, Value::Kind::string);
    EXPECT_EQ(v.items[1].kind, Value::Kind::number);
    EXPECT_EQ(v.items[2].kind, Value::Kind::list);
}

TEST(Parser, ValueToConfigText_RoundTrips) {
    auto cfg = parse_ok("x = [ 'a\"b', 0x1, [ \"c\\nd\" ] ]");
    const std::string text = cfg.find("x")->value.to_config_text();
    EXPECT_EQ(text, R"(["a\"b", 0x1, ["c\nd"]])");
    auto again = parse_ok("x = " + text);
    EXPECT_EQ(again.find("x")->value.to_config_text(), text);
}

// ---- duplicates and += ------------------------------------------------------

TEST(Parser, DuplicateKey_LastWinsWithWarningNamingBothLines) {
    auto cfg = parse_ok("memory = 512\nname = 'a'\nmemory = 1024\n");
    EXPECT_EQ(cfg.find("memory")->value.text, "1024");
    EXPECT_EQ(cfg.find("memory")->pos.line, 3u);
    EXPECT_EQ(keys(cfg), (std::vector<std::string>{"name", "memory"}));
    EXPECT_EQ(strs(cfg.warnings),
              (std::vector<std::string>{"t.cfg:3: warning: 'memory' is set again (previously set "
                                        "at line 1); xl uses the last value"}));
}

TEST(Parser, TripleDuplicate_WarnsAgainstThePreviousLine) {
    auto cfg = parse_ok("a=1\na=2\na=3\n");
    EXPECT_EQ(cfg.find("a")->value.text, "3");
    ASSERT_EQ(cfg.warnings.size(), 2u);
    EXPECT_EQ(cfg.warnings[1].str(),
              "t.cfg:3: warning: 'a' is set again (previously set at line 2); xl uses the last "
              "value");
}

TEST(Parser, AppendToString_Concatenates) {
    auto cfg = parse_ok("extra = 'console=hvc0'\nextra += ' quiet'\n");
    const Setting* s = cfg.find("extra");
    EXPECT_EQ(s->value.text, "console=hvc0 quiet");
    EXPECT_TRUE(s->appended);
    EXPECT_EQ(s->pos.line, 2u);
    EXPECT_TRUE(cfg.warnings.empty());
}

TEST(Parser, AppendToList_JoinsLists) {
    auto cfg = parse_ok("disk = ['a']\ndisk += ['b', 'c']\n");
    const Value& v = cfg.find("disk")->value;
    ASSERT_EQ(v.items.size(), 3u);
    EXPECT_EQ(v.items[0].text, "a");
    EXPECT_EQ(v.items[2].text, "c");
}

TEST(Parser, AppendWithoutPreviousValue_IsAPlainSetting) {
    auto cfg = parse_ok("extra += 'quiet'\n");
    EXPECT_EQ(cfg.find("extra")->value.text, "quiet");
    EXPECT_TRUE(cfg.find("extra")->appended);
}

TEST(Parser, AppendNumbers_ConcatenatesTheirText) {
    // libxlu concatenates text; reading it as a number is refused later.
    auto cfg = parse_ok("memory = 5\nmemory += 12\n");
    EXPECT_EQ(cfg.find("memory")->value.text, "512");
    EXPECT_EQ(cfg.find("memory")->value.kind, Value::Kind::number);
}

TEST(Parser, AppendListToString_IsAnError) {
    EXPECT_EQ(parse_error("disk = ['a']\ndisk += 'b'\n"),
              "t.cfg:2:1: 'disk': += cannot add a string to a list (set at line 1)");
    EXPECT_EQ(parse_error("extra = 'a'\nextra += ['b']\n"),
              "t.cfg:2:1: 'extra': += cannot add a list to a string (set at line 1)");
}

// ---- syntax errors ----------------------------------------------------------

TEST(ParserErrors, MissingValue) {
    EXPECT_EQ(parse_error("name = \n"), "t.cfg:1:8: expected a value after '='");
    EXPECT_EQ(parse_error("name ="), "t.cfg:1:7: expected a value after '='");
    EXPECT_EQ(parse_error("name = ;"), "t.cfg:1:8: expected a value after '='");
    EXPECT_EQ(parse_error("extra += \n"), "t.cfg:1:10: expected a value after '+='");
    EXPECT_EQ(parse_error("name = ]"), "t.cfg:1:8: expected a value after '=', got ']'");
    EXPECT_EQ(parse_error("name = = 1"), "t.cfg:1:8: expected a value after '=', got '='");
}

TEST(ParserErrors, UnquotedString_SuggestsQuotes) {
    EXPECT_EQ(parse_error("name = web\n"),
              "t.cfg:1:8: expected a value after '=': strings must be quoted, e.g. \"web\"");
    EXPECT_EQ(parse_error("type = PVH\n"),
              "t.cfg:1:8: expected a value after '=': strings must be quoted, e.g. \"PVH\"");
    EXPECT_EQ(parse_error("type = PVH;\n"),
              "t.cfg:1:8: expected a value after '=': strings must be quoted, e.g. \"PVH\"");
    EXPECT_EQ(parse_error("disk = [ /dev/sda,xvda ]\n"),
              "t.cfg:1:10: expected a value in the list: strings must be quoted, e.g. \"/dev/sda\"");
    EXPECT_EQ(parse_error("kernel = /boot/vmlinuz\n"),
              "t.cfg:1:10: expected a value after '=': strings must be quoted, e.g. "
              "\"/boot/vmlinuz\"");
    EXPECT_EQ(parse_error("vif = [ bridge=br0 ]\n"),
              "t.cfg:1:9: expected a value in the list: strings must be quoted, e.g. \"bridge\"");
}

TEST(ParserErrors, MissingEquals) {
    EXPECT_EQ(parse_error("name 'x'\n"), "t.cfg:1:6: expected '=' after 'name', got a string");
    EXPECT_EQ(parse_error("name\n"), "t.cfg:1:5: expected '=' after 'name', got end of line");
    EXPECT_EQ(parse_error("name"), "t.cfg:1:5: expected '=' after 'name', got end of file");
    EXPECT_EQ(parse_error("import os\n"), "t.cfg:1:8: expected '=' after 'import', got 'os'");
    EXPECT_EQ(parse_error("name: 'x'\n"),
              "t.cfg:1:5: unexpected ':': xl.cfg is not Python; it has no arithmetic, negative "
              "numbers or expressions");
}

TEST(ParserErrors, MissingKey) {
    EXPECT_EQ(parse_error("= 5\n"), "t.cfg:1:1: expected a setting name, got '='");
    EXPECT_EQ(parse_error("5 = 5\n"), "t.cfg:1:1: expected a setting name, got 5");
    EXPECT_EQ(parse_error("'a' = 5\n"), "t.cfg:1:1: expected a setting name, got a string");
    EXPECT_EQ(parse_error("Name = 'x'\n"),
              "t.cfg:1:1: expected a setting name, got 'Name' (setting names are lower-case)");
    EXPECT_EQ(parse_error("Memory=512\n"),
              "t.cfg:1:1: expected a setting name, got 'Memory' (setting names are lower-case)");
    EXPECT_EQ(parse_error("[1]\n"), "t.cfg:1:1: expected a setting name, got '['");
}

TEST(ParserErrors, TwoValuesOnALine) {
    EXPECT_EQ(parse_error("name = 'x' 'y'\n"),
              "t.cfg:1:12: expected a newline or ';' after the value of 'name', got a string");
    EXPECT_EQ(parse_error("name = 'x' memory = 5\n"),
              "t.cfg:1:12: expected a newline or ';' after the value of 'name', got 'memory'");
}

TEST(ParserErrors, UnitSuffixOnNumber) {
    EXPECT_EQ(parse_error("memory = 512M\n"),
              "t.cfg:1:13: unexpected 'M' after the number 512: xl.cfg numbers take no unit "
              "suffix");
    EXPECT_EQ(parse_error("memory = 2g\n"),
              "t.cfg:1:11: unexpected 'g' after the number 2: xl.cfg numbers take no unit suffix");
}

TEST(ParserErrors, ListSyntax) {
    EXPECT_EQ(parse_error("disk = [ 'a' 'b' ]\n"),
              "t.cfg:1:14: expected ',' or ']' after a list item, got a string");
    EXPECT_EQ(parse_error("disk = [ , ]\n"), "t.cfg:1:10: expected a value in the list, got ','");
    EXPECT_EQ(parse_error("disk = [ 'a',, ]\n"),
              "t.cfg:1:14: expected a value in the list, got ','");
    EXPECT_EQ(parse_error("disk = [ 'a'; 'b' ]\n"),
              "t.cfg:1:13: expected ',' or ']' after a list item, got ';'");
    EXPECT_EQ(parse_error("disk = [ 'a'"),
              "t.cfg:1:13: expected ']' to close the list opened at line 1");
    EXPECT_EQ(parse_error("disk = [ 'a',\n\n"),
              "t.cfg:3:1: expected a value in the list");
    EXPECT_EQ(parse_error("disk = [\n 'a'\n\n"),
              "t.cfg:4:1: expected ']' to close the list opened at line 1");
    EXPECT_EQ(parse_error("disk = ] \n"), "t.cfg:1:8: expected a value after '=', got ']'");
    EXPECT_EQ(parse_error("disk = [ 'a' ] ]\n"),
              "t.cfg:1:16: expected a newline or ';' after the value of 'disk', got ']'");
}

TEST(ParserErrors, ListsNestedThreeDeep_AreRefused) {
    EXPECT_EQ(parse_error("x = [[[1]]]\n"),
              "t.cfg:1:7: lists nested more than two deep: no xl.cfg setting takes that");
    EXPECT_EQ(parse_error("x = [ [ 1 ], [ 2, [ 3 ] ] ]\n"),
              "t.cfg:1:19: lists nested more than two deep: no xl.cfg setting takes that");
}

TEST(ParserErrors, FirstErrorStopsTheParse) {
    EXPECT_EQ(parse_error("a = 1\nb = \nc = ]\n"), "t.cfg:2:5: expected a value after '='");
}

TEST(ParserErrors, SourceNameAppearsAsGiven) {
    EXPECT_EQ(parse_error("name = \n", "/etc/xen/guest.cfg"),
              "/etc/xen/guest.cfg:1:8: expected a value after '='");
}

// ---- limits -----------------------------------------------------------------

TEST(ParserLimits, InputOverOneMiB_IsRefused) {
    std::string big(kMaxConfigBytes + 1, '\n');
    EXPECT_EQ(parse_error(big), "t.cfg: larger than 1 MiB; an xl.cfg file is a small text file");
    std::string ok(kMaxConfigBytes, '\n');
    parse_ok(ok);
}

// ---- files ------------------------------------------------------------------

class ParserFile : public ::testing::Test {
protected:
    void TearDown() override { std::remove(path_.c_str()); }
    void write(const std::string& content) {
        std::ofstream f(path_, std::ios::binary);
        f << content;
    }
    // One file per test and process: ctest runs tests of this fixture in
    // parallel (and the release and ASan suites may run at once).
    std::string path_ = ::testing::TempDir() + "xenolith_parser_" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
                        std::to_string(::getpid()) + ".cfg";
};

TEST_F(ParserFile, ReadsAndNamesTheFile) {
    write("name = 'a'\nmemory = \n");
    auto r = parse_config_file(path_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, path_ + ":2:10: expected a value after '='");
}

TEST_F(ParserFile, MissingFile_SaysWhy) {
    auto r = parse_config_file(path_ + ".missing");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, path_ + ".missing: cannot open: No such file or directory");
}

TEST_F(ParserFile, Directory_SaysWhy) {
    auto r = parse_config_file(::testing::TempDir());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find(": cannot read: Is a directory"), std::string::npos)
        << r.error().what;
}

TEST_F(ParserFile, HugeFile_IsRefusedWithoutReadingItAll) {
    write(std::string(3 * kMaxConfigBytes, '#'));
    auto r = parse_config_file(path_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, path_ + ": larger than 1 MiB; an xl.cfg file is a small text file");
}

TEST_F(ParserFile, DevNull_IsAnEmptyConfig) {
    // xl create /dev/null key=value... builds a domain from overrides alone.
    auto r = parse_config_file("/dev/null");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->settings.empty());
}

// ---- overrides --------------------------------------------------------------

TEST(Override, ReplacesTheFileValueWithoutWarning) {
    auto cfg = parse_ok("name = 'a'\nmemory = 512\n");
    ASSERT_TRUE(apply_override(cfg, "memory=1024").ok());
    const Setting* s = cfg.find("memory");
    EXPECT_EQ(s->value.text, "1024");
    EXPECT_EQ(s->pos.file, "<command line>");
    EXPECT_EQ(s->pos.line, 1u);
    EXPECT_EQ(s->pos.column, 1u);
    EXPECT_TRUE(cfg.warnings.empty());
    EXPECT_EQ(keys(cfg), (std::vector<std::string>{"name", "memory"}));
}

TEST(Override, AddsNewKeys) {
    auto cfg = parse_ok("name = 'a'\n");
    ASSERT_TRUE(apply_override(cfg, "vcpus=4").ok());
    ASSERT_TRUE(apply_override(cfg, "disk=['phy:/dev/sdb,xvdb,w']").ok());
    EXPECT_EQ(keys(cfg), (std::vector<std::string>{"name", "vcpus", "disk"}));
}

TEST(Override, AppendExtendsTheFileValue) {
    auto cfg = parse_ok("extra = 'console=hvc0'\n");
    ASSERT_TRUE(apply_override(cfg, "extra+=' single'").ok());
    EXPECT_EQ(cfg.find("extra")->value.text, "console=hvc0 single");
}

TEST(Override, SeveralSettingsInOneArgument_AsXlAllows) {
    auto cfg = parse_ok("");
    ASSERT_TRUE(apply_override(cfg, "name='a'; memory=64").ok());
    EXPECT_EQ(keys(cfg), (std::vector<std::string>{"name", "memory"}));
}

TEST(Override, Errors_PointIntoTheArgument) {
    auto cfg = parse_ok("name = 'a'\n");
    auto st = apply_override(cfg, "name=web");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what,
              "<command line>:1:6: expected a value after '=': strings must be quoted, e.g. "
              "\"web\"");
    st = apply_override(cfg, "memory=");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "<command line>:1:8: expected a value after '='");
    st = apply_override(cfg, "memory");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "<command line>: expected key=value, got \"memory\"");
    st = apply_override(cfg, "name+=['x']");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what,
              "<command line>:1:1: 'name': += cannot add a list to a string (set at line 1)");
}

TEST(Override, FailedOverride_LeavesConfigUnchanged) {
    auto cfg = parse_ok("name = 'a'\nmemory = 512\n");
    ASSERT_FALSE(apply_override(cfg, "memory=1024; vcpus=").ok());
    EXPECT_EQ(cfg.find("memory")->value.text, "512");
    EXPECT_EQ(cfg.find("vcpus"), nullptr);
}

}  // namespace
}  // namespace xenolith::config
