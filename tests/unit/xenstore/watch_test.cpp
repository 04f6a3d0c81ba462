// WATCH / UNWATCH / RESET_WATCHES and which changes fire which watches.
#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using Watches = XenstoreTest;
using V = std::vector<std::string>;

TEST_F(Watches, RegistrationFiresOnceImmediately) {
    EXPECT_EQ(dom0.watch("/w", "tok"), "ok");
    EXPECT_EQ(dom0.events(), V{"/w tok"});
    EXPECT_EQ(dom0.events(), V{});
}

TEST_F(Watches, WatchOnAMissingPathIsAllowed) {
    EXPECT_EQ(dom0.watch("/not/yet", "t"), "ok");
    dom0.events();
    dom0.write("/not/yet", "v");
    EXPECT_EQ(dom0.events(), V{"/not/yet t"});
}

TEST_F(Watches, FiresOnTheNodeAndAllDescendants) {
    dom0.watch("/a", "t");
    dom0.events();
    dom0.write("/a", "1");
    dom0.write("/a/b/c", "2");
    dom0.write("/ab", "not a child");
    dom0.write("/other", "3");
    EXPECT_EQ(dom0.events(), (V{"/a t", "/a/b/c t"}));
}

TEST_F(Watches, ImplicitlyCreatedParentsDoNotFireSeparately) {
    dom0.watch("/", "root");
    dom0.events();
    dom0.write("/x/y/z", "");
    EXPECT_EQ(dom0.events(), V{"/x/y/z root"});
}

TEST_F(Watches, MkdirOfExistingNodeDoesNotFire) {
    dom0.mkdir("/m");
    dom0.watch("/m", "t");
    dom0.events();
    dom0.mkdir("/m");
    EXPECT_EQ(dom0.events(), V{});
    dom0.mkdir("/m/new");
    EXPECT_EQ(dom0.events(), V{"/m/new t"});
}

TEST_F(Watches, RmFiresOnRemovedDescendantsAndTheRemovedRootsWatchers) {
    dom0.write("/a/b/c", "");
    dom0.write("/a/b/d", "");
    Client w2(server, server.connect_socket());
    dom0.watch("/a", "parent");
    w2.watch("/a/b/c", "leaf");
    dom0.events();
    w2.events();
    EXPECT_EQ(dom0.rm("/a/b"), "ok");
    // The watcher of an ancestor hears about the removed root only.
    EXPECT_EQ(dom0.events(), V{"/a/b parent"});
    // A watcher of a removed descendant hears about its own node.
    EXPECT_EQ(w2.events(), V{"/a/b/c leaf"});
}

TEST_F(Watches, RmOfMissingNodeDoesNotFire) {
    dom0.mkdir("/a");
    dom0.watch("/a", "t");
    dom0.events();
    EXPECT_EQ(dom0.rm("/a/missing"), "ok");
    EXPECT_EQ(dom0.events(), V{});
}

TEST_F(Watches, SetPermsFires) {
    dom0.mkdir("/p");
    dom0.watch("/p", "t");
    dom0.events();
    dom0.set_perms("/p", {"n0", "r3"});
    EXPECT_EQ(dom0.events(), V{"/p t"});
}

TEST_F(Watches, RelativeWatchGetsRelativeEventPaths) {
    Client g = guest_with_home(5);
    EXPECT_EQ(g.watch("device", "dev"), "ok");
    EXPECT_EQ(g.events(), V{"device dev"});
    dom0.write("/local/domain/5/device/vif/0/state", "1");
    EXPECT_EQ(g.events(), V{"device/vif/0/state dev"});
    EXPECT_EQ(g.unwatch("device", "dev"), "ok");
}

TEST_F(Watches, AbsoluteWatchFromAGuestGetsAbsolutePaths) {
    Client g = guest_with_home(5);
    g.watch("/local/domain/5/x", "t");
    g.events();
    g.write("x", "1");
    EXPECT_EQ(g.events(), V{"/local/domain/5/x t"});
}

TEST_F(Watches, SamePathDifferentTokensAreSeparateWatches) {
    dom0.watch("/s", "one");
    dom0.watch("/s", "two");
    dom0.events();
    dom0.write("/s", "");
    auto ev = dom0.events();
    std::sort(ev.begin(), ev.end());
    EXPECT_EQ(ev, (V{"/s one", "/s two"}));
}

TEST_F(Watches, DuplicateWatchIsEexist) {
    EXPECT_EQ(dom0.watch("/d", "t"), "ok");
    EXPECT_EQ(dom0.watch("/d", "t"), "EEXIST");
}

TEST_F(Watches, UnwatchStopsEvents) {
    dom0.watch("/u", "t");
    dom0.events();
    EXPECT_EQ(dom0.unwatch("/u", "t"), "ok");
    dom0.write("/u", "");
    EXPECT_EQ(dom0.events(), V{});
    EXPECT_EQ(dom0.unwatch("/u", "t"), "ENOENT");
    EXPECT_EQ(dom0.unwatch("/u", "other"), "ENOENT");
}

TEST_F(Watches, UnwatchNeedsExactlyTwoStrings) {
    dom0.watch("/u", "t");
    EXPECT_EQ(status(dom0.send(XS_UNWATCH, strs({"/u"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_UNWATCH, strs({"/u", "t", "x"}))), "EINVAL");
}

TEST_F(Watches, WatchArgumentsAreChecked) {
    EXPECT_EQ(status(dom0.send(XS_WATCH, strs({"/a"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_WATCH, strs({"/a", "t", "x"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_WATCH, strs({"/a", "t", "1", "2"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_WATCH, strs({"/a/", "t"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_WATCH, strs({"bad path", "t"}))), "EINVAL");
}

TEST_F(Watches, WatchIgnoresTheTransactionId) {
    Reply r = dom0.send(XS_WATCH, strs({"/t", "tok"}), 999);
    EXPECT_EQ(status(r), "ok");
}

TEST_F(Watches, DepthLimitsMatching) {
    dom0.send(XS_WATCH, strs({"/d", "one", "1"}));
    dom0.events();
    dom0.write("/d", "");
    dom0.write("/d/a", "");
    dom0.write("/d/a/b", "");
    EXPECT_EQ(dom0.events(), (V{"/d one", "/d/a one"}));
}

TEST_F(Watches, ResetWatchesDropsWatchesAndTransactions) {
    dom0.watch("/r", "t");
    std::uint32_t tx = dom0.start();
    dom0.events();
    EXPECT_EQ(status(dom0.send(XS_RESET_WATCHES, "")), "ok");
    dom0.write("/r", "");
    EXPECT_EQ(dom0.events(), V{});
    EXPECT_EQ(dom0.read("/r", tx), "<ENOENT>");  // the transaction is gone
    EXPECT_TRUE(dom0.conn().transactions.empty());
}

TEST_F(Watches, EventsOnlyForNodesTheWatcherMayRead) {
    Client g = guest(5);
    dom0.mkdir("/priv");
    g.watch("/priv", "t");
    g.events();
    dom0.write("/priv/x", "secret");
    EXPECT_EQ(g.events(), V{});
    dom0.set_perms("/priv/x", {"n0", "r5"});
    EXPECT_EQ(g.events(), V{"/priv/x t"});
}

TEST_F(Watches, ReadableParentIsEnough) {
    Client g = guest(5);
    dom0.mkdir("/pub");
    dom0.set_perms("/pub", {"r0"});
    g.watch("/pub", "t");
    g.events();
    dom0.write("/pub/hidden", "x");
    dom0.set_perms("/pub/hidden", {"n0"});
    g.events();
    dom0.write("/pub/hidden", "y");
    EXPECT_EQ(g.events(), V{"/pub/hidden t"});
    dom0.write("/pub/hidden/deeper", "z");
    EXPECT_EQ(g.events(), V{});
}

TEST_F(Watches, LosingReadPermissionStillReportsThatChange) {
    Client g = guest(5);
    dom0.write("/l", "");
    dom0.set_perms("/l", {"n0", "r5"});
    g.watch("/l", "t");
    g.events();
    dom0.set_perms("/l", {"n0"});
    EXPECT_EQ(g.events(), V{"/l t"});
    dom0.write("/l", "now hidden");
    EXPECT_EQ(g.events(), V{});
}

TEST_F(Watches, RemovalOfAReadableNodeIsReported) {
    Client g = guest(5);
    dom0.write("/gone/x", "");
    dom0.set_perms("/gone/x", {"n0", "r5"});
    g.watch("/gone/x", "t");
    g.events();
    dom0.rm("/gone");
    EXPECT_EQ(g.events(), V{"/gone/x t"});
}

TEST_F(Watches, IdenticalPendingEventsAreMerged) {
    dom0.watch("/m", "t");
    dom0.events();
    dom0.write("/m", "1");
    dom0.write("/m", "2");
    dom0.write("/m", "3");
    EXPECT_EQ(dom0.events(), V{"/m t"});
}

TEST_F(Watches, TakeWokenListsConnectionsWithNewEvents) {
    server.take_woken();
    Client other(server, server.connect_socket());
    other.watch("/k", "t");
    auto woken = server.take_woken();
    EXPECT_EQ(woken, std::vector<ConnId>{other.conn().id});
    EXPECT_TRUE(server.take_woken().empty());
    other.events();
    dom0.write("/k", "");
    EXPECT_EQ(server.take_woken(), std::vector<ConnId>{other.conn().id});
}

TEST_F(Watches, EventQueueIsBounded) {
    ServerConfig cfg;
    cfg.max_pending_events_privileged = 3;
    Server small(cfg);
    Client c(small, small.connect_socket());
    c.watch("/", "t");
    for (int i = 0; i < 10; ++i) c.write("/n" + std::to_string(i), "");
    EXPECT_EQ(c.events().size(), 3u);
    EXPECT_EQ(c.conn().dropped_events, 8u);
}

TEST_F(Watches, EventQueueIsBoundedInBytes_WhenAClientNeverReads_ThenEventsAreDropped) {
    ServerConfig cfg;
    const std::string token(2000, 't');
    const std::string base = "/" + std::string(1000, 'p');
    const std::size_t one = Outbox::event_cost(base + "/n0", token);
    cfg.max_pending_event_bytes_privileged = 5 * one;
    Server small(cfg);
    Client c(small, small.connect_socket());
    Client writer(small, small.connect_socket());
    c.watch(base, token);  // the watch's own first event is the first queued
    for (int i = 0; i < 20; ++i) writer.write(base + "/n" + std::to_string(i), "");
    EXPECT_LE(c.conn().event_bytes, cfg.max_pending_event_bytes_privileged);
    EXPECT_GT(c.conn().dropped_events, 0u);
    const std::size_t queued = c.conn().events.size();
    EXPECT_EQ(c.events().size(), queued);  // the client reads them all
    EXPECT_EQ(c.conn().event_bytes, 0u);    // and the account is back to zero
    writer.write(base + "/again", "");
    EXPECT_EQ(c.events().size(), 1u);       // room again
}

TEST_F(Watches, UnprivilegedEventBytesUseTheirOwnBound) {
    ServerConfig cfg;
    cfg.max_pending_event_bytes = 1;  // nothing fits
    Server small(cfg);
    Client host(small, small.connect_socket());
    host.watch("/k", "t");
    EXPECT_EQ(host.events().size(), 1u);  // privileged: the other bound
}

TEST_F(Watches, OverlongEventsAreNotSent) {
    std::string token(XENSTORE_PAYLOAD_MAX - 6, 't');
    EXPECT_EQ(dom0.watch("/a", token), "ok");
    EXPECT_EQ(dom0.events().size(), 1u);  // "/a\0<token>\0" just fits
    dom0.write("/a/bcdefgh", "");
    EXPECT_EQ(dom0.events(), V{});
}

TEST_F(Watches, IntroduceDomainFiresSpecialWatch) {
    dom0.watch("@introduceDomain", "intro");
    dom0.events();
    guest(7);
    EXPECT_EQ(dom0.events(), V{"@introduceDomain intro"});
}

TEST_F(Watches, ReleaseDomainFiresOnReleaseAndWithDomidExtension) {
    guest(7);
    dom0.watch("@releaseDomain", "rel");
    dom0.send(XS_WATCH, strs({"@releaseDomain", "reldepth", "1"}));
    dom0.watch("@releaseDomain/7", "rel7");
    dom0.watch("@releaseDomain/8", "rel8");
    dom0.events();
    EXPECT_EQ(status(dom0.send(XS_RELEASE, strs({"7"}))), "ok");
    auto ev = dom0.events();
    std::sort(ev.begin(), ev.end());
    EXPECT_EQ(ev, (V{"@releaseDomain rel", "@releaseDomain/7 rel7", "@releaseDomain/7 reldepth"}));
}

TEST_F(Watches, SpecialWatchesNeedReadOnTheSpecialNode) {
    Client g = guest(5);
    g.watch("@introduceDomain", "t");
    EXPECT_EQ(g.events(), V{"@introduceDomain t"});  // registration always fires
    guest(6);
    EXPECT_EQ(g.events(), V{});
    dom0.set_perms("@introduceDomain", {"n0", "r5"});
    EXPECT_EQ(g.events(), V{"@introduceDomain t"});  // the permission change itself
    guest(7);
    EXPECT_EQ(g.events(), V{"@introduceDomain t"});
}

TEST_F(Watches, ShutdownFiresReleaseDomainOnceUntilResume) {
    guest(7);
    dom0.watch("@releaseDomain", "rel");
    dom0.events();
    server.domain_shutdown(7);
    server.domain_shutdown(7);
    EXPECT_EQ(dom0.events(), V{"@releaseDomain rel"});
    EXPECT_EQ(status(dom0.send(XS_RESUME, strs({"7"}))), "ok");
    server.domain_shutdown(7);
    EXPECT_EQ(dom0.events(), V{"@releaseDomain rel"});
}

}  // namespace
}  // namespace xenolith::xenstore::test
