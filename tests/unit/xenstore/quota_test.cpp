// Quotas (C xenstored's defaults) and CONTROL "quota" / "quota-soft".
#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using Quotas_ = XenstoreTest;

TEST_F(Quotas_, DefaultsAreXens) {
    Quotas q;
    EXPECT_EQ(q.hard(Quota::nodes), 1000u);
    EXPECT_EQ(q.hard(Quota::watches), 128u);
    EXPECT_EQ(q.hard(Quota::outstanding), 20u);
    EXPECT_EQ(q.hard(Quota::memory), 2621440u);
    EXPECT_EQ(q.soft(Quota::memory), 2097152u);
    EXPECT_EQ(q.hard(Quota::transactions), 10u);
    EXPECT_EQ(q.hard(Quota::transaction_nodes), 1024u);
    EXPECT_EQ(q.hard(Quota::node_permissions), 5u);
    EXPECT_EQ(q.hard(Quota::path_max), 2048u);
    EXPECT_EQ(q.hard(Quota::node_size), 2048u);
    EXPECT_FALSE(q.soft(Quota::nodes));
}

TEST_F(Quotas_, NodesPerDomain) {
    server.quotas().set_hard(Quota::nodes, 5);
    Client g = guest_with_home(5);  // home is owned by dom5: 1 node
    EXPECT_EQ(g.write("a", ""), "ok");
    EXPECT_EQ(g.write("b/c", ""), "ok");  // 4 nodes now
    EXPECT_EQ(g.write("d/e", ""), "ENOSPC");  // would be 6
    EXPECT_EQ(g.read("d"), "<ENOENT>");        // nothing half-created
    EXPECT_EQ(g.write("d", ""), "ok");         // exactly 5
    EXPECT_EQ(g.write("f", ""), "ENOSPC");
    EXPECT_EQ(g.write("a", "rewrite is fine"), "ok");
    EXPECT_EQ(g.rm("a"), "ok");
    EXPECT_EQ(g.write("f", ""), "ok");
}

TEST_F(Quotas_, NodesCountedInsideTransactionsAndAtCommit) {
    server.quotas().set_hard(Quota::nodes, 4);
    Client g = guest_with_home(5);
    EXPECT_EQ(g.mkdir("sub"), "ok");  // home + sub
    std::uint32_t tx = g.start();
    EXPECT_EQ(g.write("a", "", tx), "ok");
    EXPECT_EQ(g.write("b", "", tx), "ok");
    EXPECT_EQ(g.write("c", "", tx), "ENOSPC");
    // Meanwhile, outside the transaction and away from what it touched, the
    // guest uses up the quota: the commit would go over it.
    EXPECT_EQ(g.write("sub/x", ""), "ok");
    EXPECT_EQ(g.end(tx), "ENOSPC");
    EXPECT_EQ(g.read("a"), "<ENOENT>");
}

TEST_F(Quotas_, PrivilegedTransactionsAreNotCheckedAtCommit) {
    server.quotas().set_hard(Quota::nodes, 2);
    guest_with_home(5);
    std::uint32_t tx = dom0.start();
    // Inherited ownership: these nodes count for dom5, yet dom0 is not limited.
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(dom0.write("/local/domain/5/n" + std::to_string(i), "", tx), "ok");
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(dom0.get_perms("/local/domain/5/n4"), "n5 r0");
}

TEST_F(Quotas_, PrivilegedIsNotLimited) {
    server.quotas().set_hard(Quota::nodes, 2);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(dom0.write("/n" + std::to_string(i), ""), "ok");
}

TEST_F(Quotas_, NodeSize) {
    Client g = guest_with_home(5);
    // 16-byte header + 8 bytes per permission + value + child list.
    const std::size_t fixed = 16 + 8 * 2;
    EXPECT_EQ(g.write("v", std::string(2048 - fixed, 'x')), "ok");
    EXPECT_EQ(g.write("v", std::string(2048 - fixed + 1, 'x')), "ENOSPC");
    EXPECT_EQ(dom0.write("/local/domain/5/v", std::string(4000, 'x')), "ok");
}

TEST_F(Quotas_, Watches) {
    server.quotas().set_hard(Quota::watches, 2);
    Client g = guest(5);
    EXPECT_EQ(g.watch("/a", "1"), "ok");
    EXPECT_EQ(g.watch("/a", "2"), "ok");
    EXPECT_EQ(g.watch("/a", "3"), "ENOSPC");
    EXPECT_EQ(g.unwatch("/a", "1"), "ok");
    EXPECT_EQ(g.watch("/a", "3"), "ok");
}

TEST_F(Quotas_, Transactions) {
    Client g = guest(5);
    for (int i = 0; i < 10; ++i) g.start();
    Reply r = g.send(XS_TRANSACTION_START, "");
    EXPECT_EQ(status(r), "ENOSPC");
    for (int i = 0; i < 20; ++i) dom0.start();
}

TEST_F(Quotas_, TransactionNodes) {
    server.quotas().set_hard(Quota::transaction_nodes, 4);
    Client g = guest_with_home(5);
    g.write("a", "");
    g.write("b", "");
    std::uint32_t tx = g.start();
    EXPECT_EQ(g.read("a", tx), "");          // touched: a
    EXPECT_EQ(g.read("b", tx), "");          // a b
    EXPECT_EQ(g.read("c", tx), "<ENOENT>");  // a b c, and the home to pick the errno
    EXPECT_EQ(g.read("/local/domain/5", tx), "");  // already touched
    EXPECT_EQ(g.read("d", tx), "<ENOSPC>");
    EXPECT_EQ(g.end(tx, false), "ok");
}

TEST_F(Quotas_, NodePermissions) {
    Client g = guest_with_home(5);
    g.write("p", "");
    EXPECT_EQ(g.set_perms("p", {"n5", "r1", "r2", "r3", "r4"}), "ok");
    EXPECT_EQ(g.set_perms("p", {"n5", "r1", "r2", "r3", "r4", "r6"}), "ENOSPC");
    EXPECT_EQ(dom0.set_perms("/local/domain/5/p", {"n5", "r1", "r2", "r3", "r4", "r6"}), "ok");
}

TEST_F(Quotas_, PathMaxBelowTheDomainHome) {
    Client g = guest_with_home(5);
    // 20 levels of 100 characters, then a last one to reach exactly 2048.
    std::string rel;
    for (int i = 0; i < 20; ++i) rel += std::string(100, 'a') + "/";
    rel += std::string(2048 - rel.size(), 'z');
    ASSERT_EQ(rel.size(), 2048u);
    EXPECT_EQ(g.write(rel, ""), "ok");
    EXPECT_EQ(g.write(rel + "b", ""), "EINVAL");
    // The absolute limit applies to everyone.
    EXPECT_EQ(dom0.write("/" + std::string(XENSTORE_ABS_PATH_MAX, 'a'), ""), "EINVAL");
}

TEST_F(Quotas_, Memory) {
    server.quotas().set_hard(Quota::memory, 4000);
    Client g = guest_with_home(5);
    EXPECT_EQ(g.write("a", std::string(1500, 'x')), "ok");
    EXPECT_EQ(g.write("b", std::string(1500, 'x')), "ok");
    EXPECT_EQ(g.write("c", std::string(1500, 'x')), "ENOMEM");
    EXPECT_EQ(g.watch("/w", std::string(1500, 't')), "ENOMEM");
    EXPECT_EQ(g.rm("a"), "ok");
    EXPECT_EQ(g.write("c", std::string(1500, 'x')), "ok");
}

TEST_F(Quotas_, OutstandingRepliesStopReading) {
    Client g = guest(5);
    Connection& c = g.conn();
    Message m{XS_GET_DOMAIN_PATH, 1, 0, strs({"5"})};
    for (int i = 0; i < 19; ++i) (void)server.handle(c, m);
    EXPECT_TRUE(server.may_read(c));
    (void)server.handle(c, m);
    EXPECT_FALSE(server.may_read(c));
    server.reply_sent(c);
    EXPECT_TRUE(server.may_read(c));
    for (int i = 0; i < 100; ++i) (void)server.handle(dom0.conn(), m);
    EXPECT_TRUE(server.may_read(dom0.conn()));
}

TEST_F(Quotas_, ControlQuotaShowsSettings) {
    std::string out = dom0.control({"quota"});
    EXPECT_EQ(out.substr(0, 16), "Quota settings:\n");
    EXPECT_NE(out.find("nodes            :     1000 Nodes per domain\n"), std::string::npos);
    EXPECT_NE(out.find("watches          :      128 Watches per domain\n"), std::string::npos);
    std::string soft = dom0.control({"quota-soft"});
    EXPECT_EQ(soft,
              "Quota settings:\n"
              "memory           :  2097152 Total Xenstore memory per domain\n");
}

TEST_F(Quotas_, ControlQuotaSet) {
    EXPECT_EQ(dom0.control({"quota", "set", "nodes", "7"}), "OK");
    EXPECT_EQ(server.quotas().hard(Quota::nodes), 7u);
    EXPECT_EQ(dom0.control({"quota", "set", "nodes", "0"}), "<EINVAL>");
    EXPECT_EQ(dom0.control({"quota", "set", "nodes", "x"}), "<EINVAL>");
    EXPECT_EQ(dom0.control({"quota", "set", "bogus", "7"}), "<EINVAL>");
    EXPECT_EQ(dom0.control({"quota", "set", "nodes"}), "<EINVAL>");
    EXPECT_EQ(dom0.control({"quota-soft", "set", "memory", "100"}), "OK");
    EXPECT_EQ(server.quotas().soft(Quota::memory), 100u);
    EXPECT_EQ(dom0.control({"quota-soft", "set", "nodes", "100"}), "<EINVAL>");
}

TEST_F(Quotas_, ControlQuotaForADomain) {
    Client g = guest_with_home(5);
    g.write("a", "");
    g.watch("/x", "t");
    std::string out = dom0.control({"quota", "5"});
    EXPECT_EQ(out.substr(0, 10), "Domain 5:\n");
    EXPECT_NE(out.find("nodes            :        2 (max        2)\n"), std::string::npos) << out;
    EXPECT_NE(out.find("watches          :        1 (max        1)\n"), std::string::npos) << out;
    EXPECT_EQ(dom0.control({"quota", "77"}), "<ENOENT>");
}

TEST_F(Quotas_, ControlQuotaMax) {
    Client g = guest_with_home(5);
    g.write("a", "");
    std::string out = dom0.control({"quota", "max"});
    EXPECT_EQ(out.substr(0, 29), "Max. seen accounting values:\n");
    EXPECT_NE(out.find("nodes            :        2\n"), std::string::npos) << out;
    std::string reset = dom0.control({"quota", "max", "-r"});
    EXPECT_NE(reset.find("nodes            :        0\n"), std::string::npos) << reset;
    EXPECT_EQ(dom0.control({"quota", "max", "-x"}), "<EINVAL>");
}

TEST_F(Quotas_, QuotaChangesApplyToExistingDomains) {
    Client g = guest_with_home(5);
    dom0.control({"quota", "set", "nodes", "1"});
    EXPECT_EQ(g.write("a", ""), "ENOSPC");
}

}  // namespace
}  // namespace xenolith::xenstore::test
