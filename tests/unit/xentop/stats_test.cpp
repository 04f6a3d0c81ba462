// xentop's reading of xenolithd's "info" and "list" replies.
#include <gtest/gtest.h>

#include "toolstack/xentop/stats.hpp"

namespace xenolith::xentop {
namespace {

using nlohmann::json;

json info() {
    return {{"ok", true},          {"xen_major", 4},  {"xen_minor", 17}, {"xen_extra", ".0-xenolith"},
            {"total_memory_kib", 1024 * 1024}, {"free_memory_kib", 512 * 1024}, {"nr_cpus", 2},
            {"cpu_khz", 2596094}};
}

json domain(unsigned domid, const char* name) {
    return {{"domid", domid},       {"name", name},       {"dying", false},
            {"shutdown", false},    {"shutdown_reason", 0}, {"blocked", true},
            {"paused", false},      {"running", false},   {"cpu_time", 1.5},
            {"current_memkb", 8192}, {"max_memkb", 16384}, {"vcpu_max_id", 1},
            {"vcpus", json::array({{{"vcpuid", 0}, {"online", true}, {"cpu_time", 1.0}},
                                   {{"vcpuid", 1}, {"online", false}, {"cpu_time", 0.5}}})},
            {"ssidref", 0}};
}

TEST(XentopStats, node_figures_in_libxenstat_units) {
    auto n = parse_node(info(), {{"domains", json::array({domain(1, "a")})}});
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->xen_version, "4.17.0-xenolith");
    EXPECT_EQ(n->tot_mem_bytes, 1024ull * 1024 * 1024);
    EXPECT_EQ(n->free_mem_bytes, 512ull * 1024 * 1024);
    EXPECT_EQ(n->num_cpus, 2u);
    EXPECT_EQ(n->cpu_hz, 2596094000ull);
}

TEST(XentopStats, a_domain_with_its_vcpus) {
    auto n = parse_node(info(), {{"domains", json::array({domain(3, "guest")})}});
    ASSERT_TRUE(n.ok());
    const DomainSample* d = n->find(3);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->name, "guest");
    EXPECT_TRUE(d->blocked);
    EXPECT_EQ(d->cpu_ns, 1500000000ull);
    EXPECT_EQ(d->cur_mem_bytes, 8192ull * 1024);
    ASSERT_TRUE(d->max_mem_bytes.has_value());
    EXPECT_EQ(*d->max_mem_bytes, 16384ull * 1024);
    ASSERT_EQ(d->vcpus.size(), 2u);
    EXPECT_TRUE(d->vcpus[0].online);
    EXPECT_FALSE(d->vcpus[1].online);
    EXPECT_EQ(d->vcpus[1].cpu_ns, 500000000ull);
    EXPECT_EQ(n->find(4), nullptr);
}

TEST(XentopStats, a_crash_is_crashed_not_shutdown) {
    json crashed = domain(1, "c"), off = domain(2, "s");
    crashed["shutdown"] = off["shutdown"] = true;
    crashed["shutdown_reason"] = 3;  // SHUTDOWN_crash
    off["shutdown_reason"] = 0;
    auto n = parse_node(info(), {{"domains", json::array({crashed, off})}});
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(n->find(1)->crashed);
    EXPECT_FALSE(n->find(1)->shutdown);
    EXPECT_TRUE(n->find(2)->shutdown);
    EXPECT_FALSE(n->find(2)->crashed);
}

TEST(XentopStats, domain_0_has_no_limit_and_one_vcpu_per_host_cpu) {
    json dom0 = domain(0, "Domain-0");
    dom0.erase("vcpus");
    dom0["vcpu_max_id"] = 3;
    auto n = parse_node(info(), {{"domains", json::array({dom0})}});
    ASSERT_TRUE(n.ok());
    EXPECT_FALSE(n->find(0)->max_mem_bytes.has_value());
    EXPECT_EQ(n->find(0)->vcpus.size(), 4u);
}

TEST(XentopStats, malformed_replies_are_errors) {
    json bad = domain(1, "a");
    bad["cpu_time"] = "soon";
    EXPECT_FALSE(parse_node(info(), {{"domains", json::array({bad})}}).ok());
    EXPECT_FALSE(parse_node(info(), {{"domains", 7}}).ok());
    EXPECT_FALSE(parse_node(json::object(), {{"domains", json::array()}}).ok());
}

}  // namespace
}  // namespace xenolith::xentop
