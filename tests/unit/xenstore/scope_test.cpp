// Scoped (back-end) connections in the core: the prefix rule, what a
// confined connection may send, quotas, and watch delivery.
#include <gtest/gtest.h>

#include "test_util.hpp"
#include "xenstore/scope.hpp"

namespace xenolith::xenstore::test {
namespace {

TEST(Scope, path_within_matches_whole_components) {
    EXPECT_TRUE(path_within("/a/b", "/a/b"));
    EXPECT_TRUE(path_within("/a/b/c", "/a/b"));
    EXPECT_FALSE(path_within("/a/bc", "/a/b"));
    EXPECT_FALSE(path_within("/a", "/a/b"));
    EXPECT_FALSE(path_within("@releaseDomain", "/"));
    EXPECT_TRUE(path_within("/x", "/"));
}

TEST(Scope, validate_scope_wants_canonical_absolute_prefixes) {
    EXPECT_EQ(validate_scope(Scope{0, {"/a/b"}, {"/c"}}), XsErr::ok);
    EXPECT_EQ(validate_scope(Scope{0, {"a/b"}, {}}), XsErr::inval);
    EXPECT_EQ(validate_scope(Scope{0, {}, {"/c/"}}), XsErr::inval);
    EXPECT_EQ(validate_scope(Scope{0, {"@x"}, {}}), XsErr::inval);
}

class ScopedConn : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(admin.write("/local/domain/0/backend/vbd/5/1/state", "1"), "ok");
        ASSERT_EQ(admin.write("/local/domain/5/device/vbd/1/state", "1"), "ok");
        ASSERT_EQ(admin.set_perms("/local/domain/5/device/vbd/1/state", {"n5", "r0"}), "ok");
        ASSERT_EQ(admin.write("/local/domain/5/data", "x"), "ok");
    }
    Client scoped(domid_t domid, std::vector<std::string> w, std::vector<std::string> r) {
        auto id = server.connect_scoped(Scope{domid, std::move(w), std::move(r)});
        EXPECT_TRUE(id);
        return Client(server, *server.connection(*id));
    }
    Server server;
    Client admin{server, server.connect_socket()};
};

TEST_F(ScopedConn, connect_scoped_then_unprivileged_as_its_domain) {
    Client c = scoped(0, {"/local/domain/0/backend/vbd/5/1"}, {});
    EXPECT_FALSE(c.conn().privileged);
    EXPECT_EQ(c.conn().domid, 0);
    EXPECT_EQ(c.read("backend/vbd/5/1/state"), "1");
    EXPECT_EQ(c.read("/local/domain/5/data"), "<EACCES>");
    EXPECT_FALSE(server.connect_scoped(Scope{0, {"rel"}, {}}));
}

TEST_F(ScopedConn, dom0_scope_then_no_node_quota_but_guest_scope_limited) {
    Client d0 = scoped(0, {"/local/domain/0/backend/vbd/5/1"}, {});
    server.quotas().set_hard(Quota::nodes, 3);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(d0.write("/local/domain/0/backend/vbd/5/1/k" + std::to_string(i), "v"), "ok");
    ASSERT_EQ(admin.write("/local/domain/9/backend/vbd/5/1", ""), "ok");
    ASSERT_EQ(admin.set_perms("/local/domain/9/backend/vbd/5/1", {"n9"}), "ok");
    Client d9 = scoped(9, {"/local/domain/9/backend/vbd/5/1"}, {});
    std::string last;
    for (int i = 0; i < 5; ++i) last = d9.write("backend/vbd/5/1/k" + std::to_string(i), "v");
    EXPECT_EQ(last, "ENOSPC");
}

TEST_F(ScopedConn, watch_inside_then_events_inside_only) {
    Client c = scoped(0, {"/local/domain/0/backend/vbd/5/1"}, {"/local/domain/5/device/vbd/1"});
    EXPECT_EQ(c.watch("/local/domain/5/device/vbd/1", "f"), "ok");
    EXPECT_EQ(c.watch("/local/domain/5", "all"), "EACCES");
    EXPECT_EQ(c.watch("@releaseDomain", "r"), "EACCES");
    EXPECT_EQ(c.events(), (std::vector<std::string>{"/local/domain/5/device/vbd/1 f"}));
    ASSERT_EQ(admin.write("/local/domain/5/device/vbd/10", "x"), "ok");
    ASSERT_EQ(admin.write("/local/domain/5/data", "y"), "ok");
    server.domain_destroyed(5);  // @releaseDomain and the removal of its nodes
    for (const auto& e : c.events()) EXPECT_TRUE(e.starts_with("/local/domain/5/device/vbd/1")) << e;
    EXPECT_EQ(c.unwatch("/local/domain/5/device/vbd/1", "f"), "ok");
}

TEST_F(ScopedConn, requests_outside_the_allow_list_then_eacces) {
    Client c = scoped(0, {"/local/domain/0/backend/vbd/5/1"}, {});
    EXPECT_EQ(status(c.send(XS_RESET_WATCHES, "")), "EACCES");
    EXPECT_EQ(status(c.send(XS_GET_DOMAIN_PATH, strs({"5"}))), "EACCES");
    EXPECT_EQ(status(c.send(XS_GET_DOMAIN_PATH, strs({"0"}))), "ok");
    EXPECT_EQ(status(c.send(XS_INTRODUCE, strs({"9", "1", "2"}))), "EACCES");
    EXPECT_EQ(status(c.send(XS_CONTROL, strs({"check"}))), "EACCES");
    EXPECT_EQ(status(c.send(XS_DIRECTORY_PART, strs({"/local/domain/5", "0"}))), "EACCES");
    EXPECT_EQ(status(c.send(4242, "")), "EACCES");
}

}  // namespace
}  // namespace xenolith::xenstore::test
