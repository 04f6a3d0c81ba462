#include "toolstack/autostart/settings.hpp"

#include <gtest/gtest.h>

namespace xenolith::autostart {
namespace {

using namespace std::chrono_literals;

Settings parse_ok(std::string_view text) {
    auto s = parse_settings(text, "f");
    EXPECT_TRUE(s) << s.error().what;
    return s ? *s : Settings{};
}

std::string parse_error(std::string_view text) {
    auto s = parse_settings(text, "f");
    EXPECT_FALSE(s);
    return s ? "" : s.error().what;
}

TEST(Settings, Defaults_AreXendomains) {
    const Settings s = parse_ok("");
    EXPECT_EQ(s.auto_dir, "/etc/xen/auto");
    EXPECT_EQ(s.create_pause, 5s);
    EXPECT_EQ(s.stop_max_wait, 300s);
    EXPECT_FALSE(s.stop_only_auto);
    EXPECT_TRUE(s.xl.empty());
    EXPECT_TRUE(s.notes.empty());
}

TEST(Settings, ValuesQuotedEveryShellWay) {
    const Settings s = parse_ok(
        "# comment\n"
        "\n"
        "  XENDOMAINS_AUTO=\"/srv/xen auto\"   # trailing comment\n"
        "export XENDOMAINS_CREATE_USLEEP='250000'\n"
        "XENDOMAINS_STOP_MAXWAIT=60\n"
        "XENOLITH_XL=/opt/x\\ l/xl\n");
    EXPECT_EQ(s.auto_dir, "/srv/xen auto");
    EXPECT_EQ(s.create_pause, 250ms);
    EXPECT_EQ(s.stop_max_wait, 60s);
    EXPECT_EQ(s.xl, "/opt/x l/xl");
}

TEST(Settings, DoubleQuoteEscapes) {
    EXPECT_EQ(parse_ok("XENOLITH_XL=\"a\\\"b\\\\c\\$d\"\n").xl, "a\"b\\c$d");
}

TEST(Settings, EmptyAutoDir_DisablesStarting) {
    EXPECT_EQ(parse_ok("XENDOMAINS_AUTO=\n").auto_dir, "");
    EXPECT_EQ(parse_ok("XENDOMAINS_AUTO=\"\"\n").auto_dir, "");
}

TEST(Settings, LastAssignmentWins) {
    EXPECT_EQ(parse_ok("XENDOMAINS_STOP_MAXWAIT=1\nXENDOMAINS_STOP_MAXWAIT=2\n").stop_max_wait, 2s);
}

TEST(Settings, UnknownVariables_Ignored) {
    EXPECT_EQ(parse_ok("XENDOMAINS_FOO=1\nFOO=bar\n").auto_dir, "/etc/xen/auto");
}

TEST(Settings, AutoOnly_AsXendomainsReadsIt) {
    EXPECT_TRUE(parse_ok("XENDOMAINS_AUTO_ONLY=true\n").stop_only_auto);
    EXPECT_TRUE(parse_ok("XENDOMAINS_AUTO_ONLY=true\nXENDOMAINS_SHUTDOWN_ALL=\n").stop_only_auto);
    // SHUTDOWN_ALL takes the other domains too.
    EXPECT_FALSE(parse_ok("XENDOMAINS_AUTO_ONLY=true\nXENDOMAINS_SHUTDOWN_ALL=\"--all --wait\"\n")
                     .stop_only_auto);
    EXPECT_FALSE(parse_ok("XENDOMAINS_AUTO_ONLY=yes\n").stop_only_auto);
}

TEST(Settings, UnsupportedXendomainsFeatures_GetANote) {
    const Settings s = parse_ok("XENDOMAINS_SAVE=/var/lib/xen/save\nXENDOMAINS_MIGRATE=\"\"\n"
                                "XENDOMAINS_SYSRQ=\"s\"\n");
    ASSERT_EQ(s.notes.size(), 1u);
    EXPECT_EQ(s.notes[0], "f:1: XENDOMAINS_SAVE is not supported (xenolith has no save/restore "
                          "yet); domains are shut down instead");
}

TEST(Settings, SysrqKeys_OneCharacterEach) {
    EXPECT_EQ(parse_ok("XENDOMAINS_SYSRQ=\"s e\"\n").sysrq_keys, (std::vector<char>{'s', 'e'}));
    EXPECT_TRUE(parse_ok("XENDOMAINS_SYSRQ=\n").sysrq_keys.empty());
    EXPECT_EQ(parse_ok("").sysrq_pause, std::chrono::microseconds(100000));
    EXPECT_EQ(parse_ok("XENDOMAINS_USLEEP=2000\n").sysrq_pause, std::chrono::microseconds(2000));
    EXPECT_EQ(parse_error("\nXENDOMAINS_SYSRQ=\"s sync\"\n"),
              "f:2: XENDOMAINS_SYSRQ: expected sysrq keys of one character each, got \"sync\"");
}

TEST(Settings, BadNumbers) {
    EXPECT_EQ(parse_error("\nXENDOMAINS_STOP_MAXWAIT=5m\n"),
              "f:2: XENDOMAINS_STOP_MAXWAIT: expected seconds, got \"5m\"");
    EXPECT_EQ(parse_error("XENDOMAINS_CREATE_USLEEP=-1\n"),
              "f:1: XENDOMAINS_CREATE_USLEEP: expected microseconds, got \"-1\"");
    EXPECT_EQ(parse_error("XENDOMAINS_STOP_MAXWAIT=\n"),
              "f:1: XENDOMAINS_STOP_MAXWAIT: expected seconds, got \"\"");
    EXPECT_EQ(parse_error("XENDOMAINS_STOP_MAXWAIT=99999999999999999999\n"),
              "f:1: XENDOMAINS_STOP_MAXWAIT: expected seconds, got \"99999999999999999999\"");
    EXPECT_EQ(parse_error("XENDOMAINS_STOP_MAXWAIT=100000\n"),
              "f:1: XENDOMAINS_STOP_MAXWAIT: 100000 s is more than a day");
}

TEST(Settings, ShellOnlySyntax_IsAnError) {
    EXPECT_EQ(parse_error("XENDOMAINS_AUTO=$HOME/auto\n"),
              "f:1: XENDOMAINS_AUTO: '$' would need a shell to expand; write the value itself");
    EXPECT_EQ(parse_error("XENDOMAINS_AUTO=\"`pwd`\"\n"),
              "f:1: XENDOMAINS_AUTO: '`' would need a shell to expand; write the value itself");
    EXPECT_EQ(parse_error("XENDOMAINS_AUTO=a;b\n"), "f:1: XENDOMAINS_AUTO: ';' is shell syntax; quote the value");
    EXPECT_EQ(parse_error("XENDOMAINS_AUTO=a b\n"), "f:1: XENDOMAINS_AUTO: a value with blanks must be quoted");
    EXPECT_EQ(parse_error(". /etc/xen/other\n"), "f:1: expected NAME=value (this file is read without a shell)");
    EXPECT_EQ(parse_error("XENDOMAINS_AUTO=\"open\n"), "f:1: XENDOMAINS_AUTO: unterminated \"");
    EXPECT_EQ(parse_error("XENDOMAINS_AUTO='open\n"), "f:1: XENDOMAINS_AUTO: unterminated '");
}

TEST(Settings, HostileBytes) {
    EXPECT_EQ(parse_error("A=1\r\n"), "f:1: DOS line ending (CR); use Unix line endings");
    EXPECT_EQ(parse_error(std::string_view("A=\0", 3)), "f:1: NUL byte");
    EXPECT_EQ(parse_error(std::string(kMaxSettingsBytes + 1, '#')),
              "f: larger than 262144 bytes");
}

TEST(Settings, LastLineWithoutNewline) {
    EXPECT_EQ(parse_ok("XENDOMAINS_STOP_MAXWAIT=7").stop_max_wait, 7s);
}

TEST(Settings, LoadMissingFile) {
    EXPECT_TRUE(load_settings("/nonexistent/xenolith-domains", true));
    auto s = load_settings("/nonexistent/xenolith-domains", false);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().what, "/nonexistent/xenolith-domains: No such file or directory");
}

}  // namespace
}  // namespace xenolith::autostart
