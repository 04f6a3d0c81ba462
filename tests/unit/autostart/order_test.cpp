#include "toolstack/autostart/order.hpp"

#include <gtest/gtest.h>

namespace xenolith::autostart {
namespace {

AutoDomain dom(std::string name, std::vector<std::string> after = {}) {
    AutoDomain d;
    d.file = "/auto/" + name + ".cfg";
    d.name = std::move(name);
    d.start_after = std::move(after);
    d.start_after_line = d.start_after.empty() ? 0 : 3;
    return d;
}

// Levels as names: "a b | c" (levels separated by " | ").
std::string names(const std::vector<AutoDomain>& ds, const Levels& levels) {
    std::string s;
    for (const auto& level : levels) {
        if (!s.empty()) s += " | ";
        for (std::size_t k = 0; k < level.size(); ++k) s += (k ? " " : "") + ds[level[k]].name;
    }
    return s;
}

TEST(PlanStart, NoStartAfter_OneLevelInFileOrder) {
    const std::vector<AutoDomain> ds = {dom("10-a"), dom("20-b"), dom("30-c")};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_TRUE(p) << p.error().what;
    EXPECT_EQ(names(ds, *p), "10-a 20-b 30-c");
}

TEST(PlanStart, Chain_DependenciesFirst) {
    // Files sorted by name, so web comes before its dependencies.
    const std::vector<AutoDomain> ds = {dom("firewall", {"netdd"}), dom("netdd"),
                                        dom("web", {"firewall"})};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_TRUE(p) << p.error().what;
    EXPECT_EQ(names(ds, *p), "netdd | firewall | web");
}

TEST(PlanStart, Diamond_LevelIsTheLongestChain) {
    const std::vector<AutoDomain> ds = {dom("app", {"db", "cache"}), dom("cache", {"net"}),
                                        dom("db", {"net", "cache"}), dom("mon"), dom("net")};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_TRUE(p) << p.error().what;
    EXPECT_EQ(names(ds, *p), "mon net | cache | db | app");
}

TEST(PlanStart, RunningDomainOutsideTheDirectory_SatisfiesADependency) {
    const std::vector<AutoDomain> ds = {dom("web", {"dns"})};
    auto p = plan_start(ds, {"dns"}, "/auto");
    ASSERT_TRUE(p) << p.error().what;
    EXPECT_EQ(names(ds, *p), "web");
}

TEST(PlanStart, MissingDependency_NamesFileLineAndName) {
    const std::vector<AutoDomain> ds = {dom("web", {"dns", "db"}), dom("x", {"db"})};
    auto p = plan_start(ds, {"dns"}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what,
              "/auto/web.cfg:3: start_after: 'db' is neither a domain in /auto nor running\n"
              "/auto/x.cfg:3: start_after: 'db' is neither a domain in /auto nor running");
}

TEST(PlanStart, Cycle_PrintedAsAChainWithItsFiles) {
    const std::vector<AutoDomain> ds = {dom("a", {"b"}), dom("b", {"c"}), dom("c", {"a"}),
                                        dom("free")};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what,
              "start_after forms a cycle: a -> b -> c -> a (/auto/a.cfg, /auto/b.cfg, /auto/c.cfg)");
}

TEST(PlanStart, SelfDependency_IsACycle) {
    const std::vector<AutoDomain> ds = {dom("a", {"a"})};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what, "start_after forms a cycle: a -> a (/auto/a.cfg)");
}

TEST(PlanStart, DomainsWaitingOnACycle_AreNamed) {
    // d -> c -> (a <-> b); e waits on d.
    const std::vector<AutoDomain> ds = {dom("a", {"b"}), dom("b", {"a"}), dom("c", {"a"}),
                                        dom("d", {"c"}), dom("e", {"d"})};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what,
              "start_after forms a cycle: a -> b -> a (/auto/a.cfg, /auto/b.cfg)\n"
              "waiting on a cycle, so they cannot start either: c, d, e");
}

TEST(PlanStart, TwoCycles_BothReported) {
    const std::vector<AutoDomain> ds = {dom("a", {"b"}), dom("b", {"a"}), dom("x", {"y"}),
                                        dom("y", {"x"})};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what,
              "start_after forms a cycle: a -> b -> a (/auto/a.cfg, /auto/b.cfg)\n"
              "start_after forms a cycle: x -> y -> x (/auto/x.cfg, /auto/y.cfg)");
}

TEST(PlanStart, CycleThroughASecondDependency_IsFound) {
    // b's first dependency is placeable, its second closes the cycle.
    const std::vector<AutoDomain> ds = {dom("a", {"b"}), dom("b", {"c", "a"}), dom("c")};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what, "start_after forms a cycle: a -> b -> a (/auto/a.cfg, /auto/b.cfg)");
}

TEST(PlanStart, DuplicateName_NamesBothFiles) {
    std::vector<AutoDomain> ds = {dom("a"), dom("b")};
    ds[1].name = "a";
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what, "/auto/a.cfg and /auto/b.cfg both define domain 'a'");
}

TEST(PlanStart, AllProblemsAtOnce) {
    const std::vector<AutoDomain> ds = {dom("a", {"a"}), dom("b", {"nosuch"})};
    auto p = plan_start(ds, {}, "/auto");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().what,
              "/auto/b.cfg:3: start_after: 'nosuch' is neither a domain in /auto nor running\n"
              "start_after forms a cycle: a -> a (/auto/a.cfg)");
}

TEST(PlanStart, Empty_NoLevels) {
    auto p = plan_start({}, {}, "/auto");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->empty());
}

TEST(PlanStop, Chain_Reversed) {
    const std::vector<AutoDomain> ds = {dom("firewall", {"netdd"}), dom("netdd"),
                                        dom("web", {"firewall"})};
    std::vector<std::string> warnings;
    const Levels l = plan_stop(ds, {"netdd", "firewall", "web"}, warnings);
    EXPECT_EQ(names(ds, l), "web | firewall | netdd");
    EXPECT_TRUE(warnings.empty());
}

TEST(PlanStop, IndependentDomains_StopInTheFirstLevel) {
    const std::vector<AutoDomain> ds = {dom("app", {"db"}), dom("db"), dom("mon")};
    std::vector<std::string> warnings;
    EXPECT_EQ(names(ds, plan_stop(ds, {"app", "db", "mon"}, warnings)), "app mon | db");
}

TEST(PlanStop, OrderHoldsThroughADomainThatIsNotRunning) {
    // web -> firewall -> netdd with firewall down: web still stops before netdd.
    const std::vector<AutoDomain> ds = {dom("firewall", {"netdd"}), dom("netdd"),
                                        dom("web", {"firewall"})};
    std::vector<std::string> warnings;
    EXPECT_EQ(names(ds, plan_stop(ds, {"netdd", "web"}, warnings)), "web | netdd");
}

TEST(PlanStop, OnlyRunningDomains) {
    const std::vector<AutoDomain> ds = {dom("a"), dom("b", {"a"})};
    std::vector<std::string> warnings;
    EXPECT_EQ(names(ds, plan_stop(ds, {"a", "other"}, warnings)), "a");
    EXPECT_TRUE(plan_stop(ds, {}, warnings).empty());
}

TEST(PlanStop, Cycle_StopsTogetherWithAWarning) {
    const std::vector<AutoDomain> ds = {dom("a", {"b"}), dom("b", {"a"}), dom("c", {"a"})};
    std::vector<std::string> warnings;
    EXPECT_EQ(names(ds, plan_stop(ds, {"a", "b", "c"}, warnings)), "c | a b");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0], "start_after forms a cycle; stopping these together: a, b");
}

TEST(PlanStop, DuplicateName_CountsOnceWithAWarning) {
    std::vector<AutoDomain> ds = {dom("a"), dom("b")};
    ds[1].name = "a";
    std::vector<std::string> warnings;
    EXPECT_EQ(names(ds, plan_stop(ds, {"a"}, warnings)), "a");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0], "/auto/a.cfg and /auto/b.cfg both define domain 'a'; using /auto/a.cfg");
}

TEST(PlanStop, MissingDependency_Ignored) {
    const std::vector<AutoDomain> ds = {dom("a", {"gone"})};
    std::vector<std::string> warnings;
    EXPECT_EQ(names(ds, plan_stop(ds, {"a"}, warnings)), "a");
    EXPECT_TRUE(warnings.empty());
}

}  // namespace
}  // namespace xenolith::autostart
