#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "toolstack/autostart/auto_domains.hpp"
#include "toolstack/config/domain_config.hpp"
#include "toolstack/config/parser.hpp"

namespace xenolith::autostart {
namespace {

Result<std::vector<std::string>> after(std::string_view text) {
    auto parsed = config::parse_config(text, "t.cfg");
    EXPECT_TRUE(parsed) << parsed.error().what;
    return read_start_after(*parsed);
}

TEST(StartAfter, Absent_Empty) {
    auto a = after("name = \"x\"\n");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->empty());
}

TEST(StartAfter, StringOrList) {
    auto one = after("start_after = \"netdd\"\n");
    ASSERT_TRUE(one);
    EXPECT_EQ(*one, std::vector<std::string>{"netdd"});
    auto two = after("start_after = [ \"netdd\", \"firewall\", \"netdd\", ]\n");
    ASSERT_TRUE(two);
    EXPECT_EQ(*two, (std::vector<std::string>{"netdd", "firewall"}));
    auto appended = after("start_after = [\"a\"]\nstart_after += [\"b\"]\n");
    ASSERT_TRUE(appended);
    EXPECT_EQ(*appended, (std::vector<std::string>{"a", "b"}));
}

TEST(StartAfter, BadNames) {
    auto err = [](std::string_view text) {
        auto a = after(text);
        EXPECT_FALSE(a);
        return a ? "" : a.error().what;
    };
    EXPECT_EQ(err("\nstart_after = [[\"a\"]]\n"),
              "t.cfg:2:16: start_after: expected a domain name or a list of names, got a list in the list");
    EXPECT_EQ(err("start_after = \"\"\n"), "t.cfg:1:15: start_after: an empty domain name");
    EXPECT_EQ(err("start_after = [\"12\"]\n"), "t.cfg:1:16: start_after: \"12\" is a domain id, not a name");
    EXPECT_EQ(err("start_after = \"a\\tb\"\n"), "t.cfg:1:15: start_after: \"a\tb\" contains a control character");
    EXPECT_EQ(err("start_after = \"" + std::string(65, 'n') + "\"\n"),
              "t.cfg:1:15: start_after: \"" + std::string(64, 'n') + "...\" is longer than 64 bytes");
}

TEST(StartAfter, KnownToTheConfigParser_NoWarning) {
    auto parsed = config::parse_config("name = \"x\"\ntype = \"pvh\"\nkernel = \"/k\"\n"
                                       "start_after = [\"y\"]\n",
                                       "t.cfg");
    ASSERT_TRUE(parsed);
    std::vector<config::Warning> warnings;
    ASSERT_TRUE(config::build_domain_config(*parsed, warnings));
    EXPECT_TRUE(warnings.empty()) << warnings[0].str();
}

class AutoDir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/autostart-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    void write(const std::string& leaf, const std::string& text) {
        std::ofstream(dir_ + "/" + leaf) << text;
    }
    std::string dir_;
};

TEST_F(AutoDir, ScansLikeTheShellGlob) {
    write("b.cfg", "name = \"bee\"\nkernel = \"/k\"\ntype = \"pvh\"\nstart_after = \"ay\"\n");
    write("a.cfg", "name = \"ay\"\nkernel = \"/k\"\ntype = \"pvh\"\n");
    write(".hidden.cfg", "this is not read");
    std::filesystem::create_symlink(dir_ + "/a.cfg", dir_ + "/c-link");
    const AutoDirScan scan = scan_auto_dir(dir_);
    EXPECT_TRUE(scan.dir_exists);
    ASSERT_TRUE(scan.errors.empty()) << scan.errors[0];
    ASSERT_EQ(scan.domains.size(), 3u);
    EXPECT_EQ(scan.domains[0].name, "ay");
    EXPECT_EQ(scan.domains[0].file, dir_ + "/a.cfg");
    EXPECT_EQ(scan.domains[1].name, "bee");
    EXPECT_EQ(scan.domains[1].start_after, std::vector<std::string>{"ay"});
    EXPECT_EQ(scan.domains[1].start_after_line, 4u);
    EXPECT_EQ(scan.domains[2].file, dir_ + "/c-link");  // a symlink: read through
}

TEST_F(AutoDir, BadEntries_OneErrorEach) {
    write("a.cfg", "name = \n");
    write("b.cfg", "kernel = \"/k\"\n");
    std::filesystem::create_directory(dir_ + "/sub");
    std::filesystem::create_symlink(dir_ + "/nowhere", dir_ + "/dangling");
    const AutoDirScan scan = scan_auto_dir(dir_);
    ASSERT_EQ(scan.errors.size(), 4u);
    EXPECT_EQ(scan.errors[0].rfind(dir_ + "/a.cfg:1:", 0), 0u) << scan.errors[0];
    EXPECT_EQ(scan.errors[1].rfind(dir_ + "/b.cfg", 0), 0u) << scan.errors[1];
    EXPECT_EQ(scan.errors[2], dir_ + "/dangling: a symlink to nothing");
    EXPECT_EQ(scan.errors[3], dir_ + "/sub: not a regular file");
    EXPECT_TRUE(scan.domains.empty());
}

TEST_F(AutoDir, Missing_NothingToDo) {
    const AutoDirScan scan = scan_auto_dir(dir_ + "/nosuch");
    EXPECT_FALSE(scan.dir_exists);
    EXPECT_TRUE(scan.errors.empty());
    EXPECT_TRUE(scan.domains.empty());
}

TEST_F(AutoDir, AFileInsteadOfADirectory) {
    write("f", "x");
    const AutoDirScan scan = scan_auto_dir(dir_ + "/f");
    ASSERT_EQ(scan.errors.size(), 1u);
    EXPECT_EQ(scan.errors[0], dir_ + "/f: not a directory");
}

}  // namespace
}  // namespace xenolith::autostart
