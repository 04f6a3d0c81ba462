// TRANSACTION_START / TRANSACTION_END: isolation, conflicts, watches.
#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using Transactions = XenstoreTest;
using V = std::vector<std::string>;

TEST_F(Transactions, StartReturnsADecimalIdNulTerminated) {
    Reply r = dom0.send(XS_TRANSACTION_START, strs({""}));
    ASSERT_EQ(status(r), "ok");
    EXPECT_EQ(r.payload, std::string("1\0", 2));
    Reply r2 = dom0.send(XS_TRANSACTION_START, "");
    EXPECT_EQ(r2.payload, std::string("2\0", 2));
}

TEST_F(Transactions, IdsArePerConnection) {
    Client other(server, server.connect_socket());
    EXPECT_EQ(dom0.start(), 1u);
    EXPECT_EQ(other.start(), 1u);
}

TEST_F(Transactions, WritesAreInvisibleUntilCommit) {
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.write("/t/a", "1", tx), "ok");
    EXPECT_EQ(dom0.read("/t/a", tx), "1");
    EXPECT_EQ(dom0.dir("/t", tx), V{"a"});
    EXPECT_EQ(dom0.read("/t/a"), "<ENOENT>");
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.read("/t/a"), "1");
}

TEST_F(Transactions, AbortDiscards) {
    dom0.write("/keep", "old");
    std::uint32_t tx = dom0.start();
    dom0.write("/keep", "new", tx);
    dom0.write("/fresh", "x", tx);
    dom0.rm("/tool", tx);
    EXPECT_EQ(dom0.end(tx, false), "ok");
    EXPECT_EQ(dom0.read("/keep"), "old");
    EXPECT_EQ(dom0.read("/fresh"), "<ENOENT>");
    EXPECT_EQ(dom0.read("/tool"), "");
}

TEST_F(Transactions, EndedTransactionIsGone) {
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.end(tx), "ENOENT");
    EXPECT_EQ(dom0.read("/tool", tx), "<ENOENT>");
}

TEST_F(Transactions, UnknownTransactionIdIsEnoent) {
    EXPECT_EQ(dom0.read("/tool", 77), "<ENOENT>");
    EXPECT_EQ(dom0.write("/x", "", 77), "ENOENT");
    EXPECT_EQ(dom0.end(0), "ENOENT");
}

TEST_F(Transactions, EndArgumentMustBeTOrF) {
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(status(dom0.send(XS_TRANSACTION_END, strs({"X"}), tx)), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_TRANSACTION_END, strs({"T", "F"}), tx)), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_TRANSACTION_END, "T", tx)), "EINVAL");
    EXPECT_EQ(dom0.end(tx), "ok");
}

TEST_F(Transactions, NoNesting) {
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(status(dom0.send(XS_TRANSACTION_START, "", tx)), "EBUSY");
}

TEST_F(Transactions, ConflictOnAWriteToANodeItRead) {
    dom0.write("/c", "0");
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.read("/c", tx), "0");
    dom0.write("/c", "1");
    dom0.write("/c2", "x", tx);
    EXPECT_EQ(dom0.end(tx), "EAGAIN");
    EXPECT_EQ(dom0.read("/c2"), "<ENOENT>");
    EXPECT_EQ(dom0.end(tx), "ENOENT");  // finished either way
}

TEST_F(Transactions, ConflictOnANodeItWrote) {
    dom0.write("/c", "0");
    std::uint32_t tx = dom0.start();
    dom0.write("/c", "tx", tx);
    dom0.write("/c", "outside");
    EXPECT_EQ(dom0.end(tx), "EAGAIN");
    EXPECT_EQ(dom0.read("/c"), "outside");
}

TEST_F(Transactions, ConflictWhenANodeItFoundMissingAppears) {
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.read("/later", tx), "<ENOENT>");
    dom0.write("/later", "1");
    EXPECT_EQ(dom0.end(tx), "EAGAIN");
}

TEST_F(Transactions, ConflictWhenAListedDirectoryGainsAChild) {
    dom0.mkdir("/dir");
    std::uint32_t tx = dom0.start();
    dom0.dir("/dir", tx);
    dom0.write("/dir/new", "");
    EXPECT_EQ(dom0.end(tx), "EAGAIN");
}

TEST_F(Transactions, NoConflictForUnrelatedChanges) {
    dom0.write("/mine", "0");
    dom0.write("/theirs", "0");
    std::uint32_t tx = dom0.start();
    dom0.read("/mine", tx);
    dom0.write("/mine", "1", tx);
    dom0.write("/theirs", "changed");
    dom0.write("/elsewhere/deep", "new");
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.read("/mine"), "1");
    EXPECT_EQ(dom0.read("/theirs"), "changed");
}

TEST_F(Transactions, NoConflictForChangesBeforeFirstAccess) {
    dom0.write("/n", "0");
    std::uint32_t tx = dom0.start();
    dom0.write("/n", "1");  // before the transaction touched /n
    EXPECT_EQ(dom0.read("/n", tx), "1");
    dom0.write("/n", "2", tx);
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.read("/n"), "2");
}

TEST_F(Transactions, TwoTransactionsWritingTheSameNodeOnlyOneCommits) {
    dom0.write("/x", "0");
    Client other(server, server.connect_socket());
    std::uint32_t a = dom0.start();
    std::uint32_t b = other.start();
    dom0.write("/x", "a", a);
    other.write("/x", "b", b);
    EXPECT_EQ(dom0.end(a), "ok");
    EXPECT_EQ(other.end(b), "EAGAIN");
    EXPECT_EQ(dom0.read("/x"), "a");
}

TEST_F(Transactions, SiblingCreationsConflictThroughTheParent) {
    dom0.mkdir("/p");
    Client other(server, server.connect_socket());
    std::uint32_t a = dom0.start();
    std::uint32_t b = other.start();
    dom0.write("/p/a", "", a);
    other.write("/p/b", "", b);
    EXPECT_EQ(dom0.end(a), "ok");
    EXPECT_EQ(other.end(b), "EAGAIN");
    EXPECT_EQ(dom0.dir("/p"), V{"a"});
}

TEST_F(Transactions, RmInsideATransaction) {
    dom0.write("/r/a/b", "");
    dom0.write("/r/c", "");
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.rm("/r/a", tx), "ok");
    EXPECT_EQ(dom0.read("/r/a/b", tx), "<ENOENT>");
    EXPECT_EQ(dom0.read("/r/a/b"), "");
    EXPECT_EQ(dom0.dir("/r", tx), V{"c"});
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.read("/r/a"), "<ENOENT>");
    EXPECT_EQ(dom0.dir("/r"), V{"c"});
}

TEST_F(Transactions, CreateThenRemoveInsideATransactionLeavesNothing) {
    std::uint32_t tx = dom0.start();
    dom0.write("/tmp/x", "", tx);
    dom0.rm("/tmp", tx);
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.read("/tmp"), "<ENOENT>");
}

TEST_F(Transactions, WatchesFireOnCommitOnly) {
    Client watcher(server, server.connect_socket());
    watcher.watch("/w", "t");
    watcher.events();
    std::uint32_t tx = dom0.start();
    dom0.write("/w/a", "1", tx);
    dom0.write("/w/b", "2", tx);
    EXPECT_EQ(watcher.events(), V{});
    EXPECT_EQ(dom0.end(tx), "ok");
    auto ev = watcher.events();
    std::sort(ev.begin(), ev.end());
    EXPECT_EQ(ev, (V{"/w/a t", "/w/b t"}));
}

TEST_F(Transactions, AbortedOrFailedTransactionsFireNothing) {
    Client watcher(server, server.connect_socket());
    watcher.watch("/w", "t");
    watcher.events();
    std::uint32_t tx = dom0.start();
    dom0.write("/w/a", "1", tx);
    dom0.end(tx, false);
    std::uint32_t tx2 = dom0.start();
    dom0.write("/w/b", "1", tx2);
    dom0.write("/w/b", "outside");
    watcher.events();
    EXPECT_EQ(dom0.end(tx2), "EAGAIN");
    EXPECT_EQ(watcher.events(), V{});
}

TEST_F(Transactions, RmInTransactionFiresForRemovedNodesOnCommit) {
    dom0.write("/q/x", "");
    Client watcher(server, server.connect_socket());
    watcher.watch("/q/x", "leaf");
    watcher.watch("/q", "top");
    watcher.events();
    std::uint32_t tx = dom0.start();
    dom0.rm("/q", tx);
    EXPECT_EQ(dom0.end(tx), "ok");
    auto ev = watcher.events();
    std::sort(ev.begin(), ev.end());
    EXPECT_EQ(ev, (V{"/q top", "/q/x leaf"}));
}

TEST_F(Transactions, DirectoryPartInsideATransaction) {
    std::uint32_t tx = dom0.start();
    dom0.write("/dp/a", "", tx);
    Reply r = dom0.send(XS_DIRECTORY_PART, strs({"/dp", "0"}), tx);
    ASSERT_EQ(status(r), "ok");
    auto parts = list(r.payload);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[1], "a");
    dom0.end(tx, false);
}

TEST_F(Transactions, GuestTransactionsHonourPermissions) {
    Client g = guest_with_home(5);
    std::uint32_t tx = g.start();
    EXPECT_EQ(g.write("/forbidden", "x", tx), "EACCES");
    EXPECT_EQ(g.write("ok", "x", tx), "ok");
    EXPECT_EQ(g.end(tx), "ok");
    EXPECT_EQ(dom0.get_perms("/local/domain/5/ok"), "n5 r0");
}

TEST_F(Transactions, SetPermsInsideATransaction) {
    dom0.write("/sp", "");
    std::uint32_t tx = dom0.start();
    EXPECT_EQ(dom0.set_perms("/sp", {"n3"}, tx), "ok");
    EXPECT_EQ(dom0.get_perms("/sp", tx), "n3");
    EXPECT_EQ(dom0.get_perms("/sp"), "n0");
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.get_perms("/sp"), "n3");
}

TEST_F(Transactions, IdsSkipOnesInUse) {
    std::uint32_t a = dom0.start();
    std::uint32_t b = dom0.start();
    EXPECT_NE(a, b);
    dom0.end(a, false);
    std::uint32_t c = dom0.start();
    EXPECT_NE(c, b);
    EXPECT_NE(c, 0u);
}

}  // namespace
}  // namespace xenolith::xenstore::test
