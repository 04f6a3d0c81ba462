// xl's CPU-list grammar (parse_cpurange in tools/xl/xl_parse.c), its
// resolution on a host, xl's cpumap printing, and cpus=/cpus_soft= in a
// config as parse_vcpu_affinity reads them.
#include "toolstack/config/cpulist.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace xenolith::config {
namespace {

using test::build_error;
using test::build_ok;

// 8 CPUs on two NUMA nodes (0-3, 4-7), plus an empty node 2.
const HostTopology kHost{8, {{0, 1, 2, 3}, {4, 5, 6, 7}, {}}};

std::string on_host(std::string_view text, const HostTopology& host = kHost) {
    auto list = parse_cpulist(text);
    EXPECT_TRUE(list.ok()) << text << ": " << (list.ok() ? "" : list.error().what);
    return list.ok() ? resolve(*list, host).str() : "<error>";
}

std::string error_of(std::string_view text) {
    auto list = parse_cpulist(text);
    EXPECT_FALSE(list.ok()) << "parsed: " << text;
    return list.ok() ? std::string() : list.error().what;
}

TEST(CpuList, SinglesRangesAndLists) {
    EXPECT_EQ(on_host("3"), "3");
    EXPECT_EQ(on_host("0-3"), "0-3");
    EXPECT_EQ(on_host("1,3,5-6"), "1,3,5-6");
    EXPECT_EQ(on_host("2-2"), "2");
    EXPECT_EQ(on_host("0-7"), "all");
    EXPECT_EQ(on_host("all"), "all");
    EXPECT_EQ(on_host("6,0-1"), "0-1,6");
}

TEST(CpuList, ExclusionsApplyInOrder) {
    EXPECT_EQ(on_host("0-5,^2"), "0-1,3-5");
    EXPECT_EQ(on_host("all,^0"), "1-7");
    EXPECT_EQ(on_host("^2,0-3"), "0-3");  // removing before adding removes nothing
    EXPECT_EQ(on_host("0-3,^0-3"), "none");
    EXPECT_EQ(on_host("0-3,^1,1"), "0-3");
}

TEST(CpuList, Nodes) {
    EXPECT_EQ(on_host("nodes:1"), "4-7");
    EXPECT_EQ(on_host("node:0"), "0-3");
    EXPECT_EQ(on_host("nodes:0-1"), "all");
    EXPECT_EQ(on_host("nodes:0-1,^node:1"), "0-3");
    EXPECT_EQ(on_host("all,^nodes:0,2"), "2,4-7");
    EXPECT_EQ(on_host("nodes:all"), "all");
    EXPECT_EQ(on_host("node:2"), "none");   // a node without CPUs
    EXPECT_EQ(on_host("node:9"), "none");   // a node the host does not have
    EXPECT_EQ(on_host("nodes:1-4000000000"), "4-7");
}

TEST(CpuList, CpusBeyondTheHostAreIgnored) {
    EXPECT_EQ(on_host("9"), "none");
    EXPECT_EQ(on_host("6-100"), "6-7");
    EXPECT_EQ(on_host("0-18446744073709551614"), "all");  // clamped, not looped
    EXPECT_EQ(on_host("3,^12"), "3");
}

TEST(CpuList, StrtoulQuirks) {
    EXPECT_EQ(on_host(" 3"), "3");        // leading blanks
    EXPECT_EQ(on_host("1, 2"), "1-2");
    EXPECT_EQ(on_host("+2"), "2");
    EXPECT_EQ(on_host("1-+2"), "1-2");
    EXPECT_EQ(on_host("-2"), "none");     // wraps to 2^64-2: beyond any host
    EXPECT_EQ(on_host(""), "none");       // no elements
    EXPECT_EQ(on_host(",,1,,"), "1");     // empty elements are skipped
    EXPECT_EQ(on_host("007"), "7");       // base 10, not octal
}

TEST(CpuList, XlErrors) {
    EXPECT_EQ(error_of("foo"), "Invalid pcpu range: foo.");
    EXPECT_EQ(error_of("^foo"), "Invalid pcpu range: foo.");
    EXPECT_EQ(error_of("nodes:x"), "Invalid pcpu range: x.");
    EXPECT_EQ(error_of("3-1"), "Invalid pcpu range: 3-1.");
    EXPECT_EQ(error_of("3-"), "Invalid pcpu range: 3-.");
    EXPECT_EQ(error_of("1 ,2"), "Invalid pcpu range: 1 .");
    EXPECT_EQ(error_of("0x3"), "Invalid pcpu range: 0x3.");
    EXPECT_EQ(error_of("-1"), "Invalid pcpu range: -1.");  // strtoul gives ULONG_MAX
    EXPECT_EQ(error_of("18446744073709551615"), "Invalid pcpu range: 18446744073709551615.");
    EXPECT_EQ(error_of("99999999999999999999"), "Invalid pcpu range: 99999999999999999999.");
    EXPECT_EQ(error_of("1-2-3"), "Invalid pcpu range: 1-2-3.");
    EXPECT_EQ(error_of("node:^1"), "Invalid pcpu range: ^1.");
    EXPECT_EQ(error_of("^^1"), "Invalid pcpu range: ^1.");
    EXPECT_EQ(error_of("ALL"), "Invalid pcpu range: ALL.");
    EXPECT_EQ(error_of("^all"), "Can't combine \"^\" and \"all\".");
    EXPECT_EQ(error_of("^nodes:all"), "Can't combine \"^\" and \"all\".");
    EXPECT_EQ(error_of("0,1,bad,^all"), "Invalid pcpu range: bad.");  // the first bad element
}

TEST(CpuMap, PrintsAsXl) {
    EXPECT_EQ(CpuMap(0).str(), "none");
    EXPECT_EQ(CpuMap(2).str(), "none");
    const unsigned both[] = {0, 1};
    EXPECT_EQ(CpuMap::of(2, both).str(), "all");
    const unsigned one[] = {1};
    EXPECT_EQ(CpuMap::of(2, one).str(), "1");
    const unsigned first[] = {0};
    EXPECT_EQ(CpuMap::of(1, first).str(), "all");
    const unsigned some[] = {0, 1, 2, 5, 7, 8, 9};
    EXPECT_EQ(CpuMap::of(16, some).str(), "0-2,5,7-9");
    const unsigned tail[] = {14, 15, 99};
    EXPECT_EQ(CpuMap::of(16, tail).str(), "14-15");
    EXPECT_EQ(CpuMap::of(16, tail).cpus(), (std::vector<unsigned>{14, 15}));
}

// ---- cpus= / cpus_soft= in a config ------------------------------------------

TEST(ConfigAffinity, StringAppliesToEveryVcpu) {
    auto b = build_ok("name='a'\nmaxvcpus=3\ncpus='0-3,^1'\n");
    ASSERT_EQ(b.cfg.vcpu_hard_affinity.lists.size(), 1u);  // kept once
    for (unsigned v : {0u, 1u, 2u, 4095u}) {
        const CpuList* l = b.cfg.vcpu_hard_affinity.for_vcpu(v);
        ASSERT_TRUE(l);
        EXPECT_EQ(l->text, "0-3,^1");
        EXPECT_EQ(resolve(*l, kHost).str(), "0,2-3");
    }
    EXPECT_TRUE(b.cfg.vcpu_soft_affinity.empty());
    EXPECT_FALSE(b.cfg.vcpu_soft_affinity.for_vcpu(0));
}

TEST(ConfigAffinity, ListGivesOneEntryPerVcpu) {
    auto b = build_ok("name='a'\nvcpus=2\nmaxvcpus=4\ncpus=['2', '3-5,^4']\ncpus_soft=[\"nodes:1\"]\n");
    const VcpuAffinityConfig& hard = b.cfg.vcpu_hard_affinity;
    ASSERT_EQ(hard.lists.size(), 2u);
    EXPECT_EQ(resolve(*hard.for_vcpu(0), kHost).str(), "2");
    EXPECT_EQ(resolve(*hard.for_vcpu(1), kHost).str(), "3,5");
    EXPECT_FALSE(hard.for_vcpu(2));  // vCPUs 2 and 3 keep the default
    ASSERT_EQ(b.cfg.vcpu_soft_affinity.lists.size(), 1u);
    EXPECT_EQ(resolve(*b.cfg.vcpu_soft_affinity.for_vcpu(0), kHost).str(), "4-7");
    EXPECT_FALSE(b.cfg.vcpu_soft_affinity.for_vcpu(1));
}

TEST(ConfigAffinity, EntriesBeyondMaxvcpusAreIgnoredUnread) {
    // xl stops at maxvcpus and never parses the rest, errors included.
    auto b = build_ok("name='a'\nvcpus=2\ncpus=['0', '1', 'junk']\n");
    EXPECT_EQ(b.cfg.vcpu_hard_affinity.lists.size(), 2u);
    EXPECT_TRUE(build_ok("name='a'\ncpus=[]\n").cfg.vcpu_hard_affinity.empty());
    EXPECT_EQ(build_ok("name='a'\ncpus=5\n").cfg.vcpu_hard_affinity.for_vcpu(7)->text, "5");
}

TEST(ConfigAffinity, ALongStringIsKeptOnceForManyVcpus) {
    std::string cpus;
    for (int i = 0; i < 20000; ++i) cpus += "1,";
    auto b = build_ok("name='a'\nmaxvcpus=4096\ncpus='" + cpus + "'\n");
    EXPECT_EQ(b.cfg.vcpu_hard_affinity.lists.size(), 1u);
    EXPECT_EQ(b.cfg.vcpu_hard_affinity.lists[0].items.size(), 20000u);
}

TEST(ConfigAffinity, ErrorsPointAtTheValue) {
    EXPECT_EQ(build_error("name='a'\ncpus = 'x'\n"), "t.cfg:2:8: cpus: Invalid pcpu range: x.");
    EXPECT_EQ(build_error("name='a'\nvcpus=2\ncpus_soft = ['1',\n  '^all']\n"),
              "t.cfg:4:3: cpus_soft: Can't combine \"^\" and \"all\".");
    EXPECT_EQ(build_error("name='a'\ncpus=\"0-1,9-8\""), "t.cfg:2:6: cpus: Invalid pcpu range: 9-8.");
}

}  // namespace
}  // namespace xenolith::config
