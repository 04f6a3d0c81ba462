// INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET, and the
// hypervisor's destruction notice.
#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using V = std::vector<std::string>;

struct RecordingHooks : DomainHooks {
    XsErr introduce(domid_t domid, std::int64_t gfn, evtchn_port_t port) override {
        calls.push_back("introduce " + std::to_string(domid) + " " + std::to_string(gfn) + " " +
                        std::to_string(port));
        return fail;
    }
    void release(domid_t domid) override { calls.push_back("release " + std::to_string(domid)); }
    std::vector<std::string> calls;
    XsErr fail = XsErr::ok;
};

class Domains : public XenstoreTest {};

TEST_F(Domains, IntroduceCreatesAnUnprivilegedConnection) {
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"3", "12345", "7"}))), "ok");
    Connection* c = server.domain_connection(3);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->domid, 3);
    EXPECT_FALSE(c->privileged);
    EXPECT_EQ(c->kind, ConnKind::domain);
}

TEST_F(Domains, IntroduceArgumentsAreChecked) {
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"3", "1"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"x", "1", "7"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"3", "1", "0"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"3", "1", "-1"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"0", "1", "7"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"32752", "1", "7"}))), "EINVAL");  // DOMID_SELF
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"3", "-5", "7"}))), "ok");  // signed gfn
}

TEST_F(Domains, IsDomainIntroduced) {
    auto ask = [&](std::string d) { return dom0.send(XS_IS_DOMAIN_INTRODUCED, strs({d})).payload; };
    EXPECT_EQ(ask("4"), std::string("F\0", 2));
    guest(4);
    EXPECT_EQ(ask("4"), std::string("T\0", 2));
    EXPECT_EQ(ask("32752"), std::string("T\0", 2));  // DOMID_SELF
    EXPECT_EQ(status(dom0.send(XS_IS_DOMAIN_INTRODUCED, strs({"nope"}))), "EINVAL");
}

TEST_F(Domains, ReleaseDisconnectsAndRemovesTheDomainsNodes) {
    Client g = guest_with_home(4);
    g.write("data/x", "1");
    g.watch("data", "t");
    EXPECT_EQ(status(dom0.send(XS_RELEASE, strs({"4"}))), "ok");
    EXPECT_EQ(server.domain_connection(4), nullptr);
    EXPECT_EQ(dom0.read("/local/domain/4"), "<ENOENT>");
    EXPECT_EQ(status(dom0.send(XS_RELEASE, strs({"4"}))), "ENOENT");
    EXPECT_EQ(status(dom0.send(XS_RELEASE, strs({"0"}))), "EINVAL");
}

TEST_F(Domains, DestructionDropsPermissionEntriesNamingTheDomain) {
    dom0.write("/shared", "");
    dom0.set_perms("/shared", {"n0", "r4", "b5"});
    guest(4);
    server.domain_destroyed(4);
    EXPECT_EQ(dom0.get_perms("/shared"), "n0 b5");
}

TEST_F(Domains, DestructionHandsRootAndSpecialNodesToDom0) {
    dom0.set_perms("@releaseDomain", {"n4"});
    dom0.set_perms("/", {"n4", "r4"});
    server.domain_destroyed(4);
    EXPECT_EQ(dom0.get_perms("@releaseDomain"), "n0");
    EXPECT_EQ(dom0.get_perms("/"), "n0");
    EXPECT_EQ(dom0.dir("/"), (V{"tool"}));
}

TEST_F(Domains, DestructionRemovesOwnedSubtreesWholesale) {
    dom0.mkdir("/local/domain/4");
    dom0.set_perms("/local/domain/4", {"n4"});
    dom0.write("/local/domain/4/tools-owned", "");
    dom0.set_perms("/local/domain/4/tools-owned", {"n0"});
    server.domain_destroyed(4);
    // The owned subtree root goes, taking everything below it.
    EXPECT_EQ(dom0.read("/local/domain/4"), "<ENOENT>");
}

TEST_F(Domains, DestructionFiresWatchesOnRemovedNodes) {
    dom0.mkdir("/local/domain/4");
    dom0.set_perms("/local/domain/4", {"n4"});
    dom0.watch("/local/domain/4", "t");
    dom0.watch("@releaseDomain", "rel");
    dom0.events();
    guest(4);
    server.domain_destroyed(4);
    auto ev = dom0.events();
    std::sort(ev.begin(), ev.end());
    EXPECT_EQ(ev, (V{"/local/domain/4 t", "@releaseDomain rel"}));
}

TEST_F(Domains, DestructionOfUnintroducedDomainFiresNoReleaseWatch) {
    dom0.watch("@releaseDomain", "rel");
    dom0.events();
    server.domain_destroyed(9);
    EXPECT_EQ(dom0.events(), V{});
}

TEST_F(Domains, ResumeNeedsAnIntroducedDomain) {
    EXPECT_EQ(status(dom0.send(XS_RESUME, strs({"4"}))), "ENOENT");
    guest(4);
    EXPECT_EQ(status(dom0.send(XS_RESUME, strs({"4"}))), "ok");
    EXPECT_EQ(status(dom0.send(XS_RESUME, strs({"0"}))), "EINVAL");
}

TEST_F(Domains, SetTargetNeedsBothDomains) {
    guest(4);
    EXPECT_EQ(status(dom0.send(XS_SET_TARGET, strs({"4", "5"}))), "ENOENT");
    EXPECT_EQ(status(dom0.send(XS_SET_TARGET, strs({"5", "4"}))), "ENOENT");
    EXPECT_EQ(status(dom0.send(XS_SET_TARGET, strs({"4"}))), "EINVAL");
    guest(5);
    EXPECT_EQ(status(dom0.send(XS_SET_TARGET, strs({"4", "5"}))), "ok");
    EXPECT_EQ(server.domain_connection(4)->target, domid_t{5});
    server.domain_destroyed(5);
    EXPECT_FALSE(server.domain_connection(4)->target);
}

TEST_F(Domains, HooksSeeIntroduceAndRelease) {
    RecordingHooks hooks;
    Server s({}, &hooks);
    Client host(s, s.connect_socket());
    EXPECT_EQ(status(host.send(XS_INTRODUCE, strs({"3", "100", "9"}))), "ok");
    EXPECT_EQ(status(host.send(XS_INTRODUCE, strs({"3", "100", "10"}))), "ok");  // rebind
    EXPECT_EQ(status(host.send(XS_RELEASE, strs({"3"}))), "ok");
    EXPECT_EQ(hooks.calls, (V{"introduce 3 100 9", "introduce 3 100 10", "release 3"}));
}

TEST_F(Domains, HookFailureFailsIntroduce) {
    RecordingHooks hooks;
    hooks.fail = XsErr::noent;
    Server s({}, &hooks);
    Client host(s, s.connect_socket());
    EXPECT_EQ(status(host.send(XS_INTRODUCE, strs({"3", "100", "9"}))), "ENOENT");
    EXPECT_EQ(s.domain_connection(3), nullptr);
}

TEST_F(Domains, ReintroduceResetsTheRing) {
    Client g = guest(4);
    g.watch("/x", "t");
    std::uint32_t tx = g.start();
    (void)tx;
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"4", "1", "3"}))), "ok");
    EXPECT_TRUE(g.conn().watches.empty());
    EXPECT_TRUE(g.conn().transactions.empty());
}

TEST_F(Domains, DisconnectedRingIsIgnoredUntilIntroducedAgain) {
    Client g = guest(4);
    g.watch("/x", "t");
    server.disconnect(g.conn().id);
    EXPECT_FALSE(server.may_read(g.conn()));
    EXPECT_TRUE(g.conn().watches.empty());
    EXPECT_EQ(status(g.send(XS_READ, strs({"/x"}))), "EIO");
    EXPECT_EQ(status(dom0.send(XS_INTRODUCE, strs({"4", "1", "3"}))), "ok");
    EXPECT_TRUE(server.may_read(g.conn()));
}

TEST_F(Domains, DisconnectedSocketIsGone) {
    Connection& c = server.connect_socket();
    ConnId id = c.id;
    server.disconnect(id);
    EXPECT_EQ(server.connection(id), nullptr);
}

TEST_F(Domains, PrivilegedDomainConfig) {
    ServerConfig cfg;
    cfg.priv_domid = 1;
    Server s(cfg);
    Client host(s, s.connect_socket());
    EXPECT_EQ(status(host.send(XS_INTRODUCE, strs({"1", "1", "3"}))), "ok");
    ASSERT_NE(s.domain_connection(1), nullptr);
    EXPECT_TRUE(s.domain_connection(1)->privileged);
    Client ctl(s, *s.domain_connection(1));
    EXPECT_EQ(ctl.write("/anything", "v"), "ok");
    EXPECT_EQ(status(host.send(XS_RELEASE, strs({"1"}))), "EINVAL");
}

}  // namespace
}  // namespace xenolith::xenstore::test
