// Unprivileged domains against docs/misc/xenstore.txt's permission rules.
#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using Permissions = XenstoreTest;

TEST_F(Permissions, GuestCannotReadDom0Nodes) {
    dom0.write("/secret", "x");
    Client g = guest(5);
    EXPECT_EQ(g.read("/secret"), "<EACCES>");
    EXPECT_EQ(g.write("/secret", "y"), "EACCES");
    EXPECT_EQ(dom0.read("/secret"), "x");
}

TEST_F(Permissions, MissingNodeUnderUnreadableParentIsEaccesNotEnoent) {
    dom0.mkdir("/hidden");
    Client g = guest(5);
    EXPECT_EQ(g.read("/hidden/nothing"), "<EACCES>");
    dom0.set_perms("/hidden", {"n0", "r5"});
    EXPECT_EQ(g.read("/hidden/nothing"), "<ENOENT>");
    EXPECT_EQ(g.read("/hidden/no/such/depth"), "<ENOENT>");
}

TEST_F(Permissions, GuestCreatesUnderItsHomeAndOwnsWhatItCreates) {
    Client g = guest_with_home(5);
    EXPECT_EQ(g.write("data/x", "1"), "ok");
    EXPECT_EQ(g.read("data/x"), "1");
    // Inherited from the home (n5 r0), owner is the creator.
    EXPECT_EQ(dom0.get_perms("/local/domain/5/data"), "n5 r0");
    EXPECT_EQ(dom0.get_perms("/local/domain/5/data/x"), "n5 r0");
}

TEST_F(Permissions, UnprivilegedCreatorBecomesOwnerOfInheritedPerms) {
    dom0.mkdir("/shared");
    dom0.set_perms("/shared", {"n0", "b5", "r6"});
    Client g = guest(5);
    EXPECT_EQ(g.write("/shared/mine", "v"), "ok");
    EXPECT_EQ(dom0.get_perms("/shared/mine"), "n5 b5 r6");
    Client other = guest(6);
    EXPECT_EQ(other.read("/shared/mine"), "v");
    EXPECT_EQ(other.write("/shared/mine", "w"), "EACCES");
}

TEST_F(Permissions, PrivilegedCreatorKeepsTheInheritedOwner) {
    Client g = guest_with_home(5);
    EXPECT_EQ(dom0.write("/local/domain/5/fromtools", "v"), "ok");
    EXPECT_EQ(dom0.get_perms("/local/domain/5/fromtools"), "n5 r0");
    EXPECT_EQ(g.read("fromtools"), "v");
}

TEST_F(Permissions, DefaultAccessFromTheFirstEntry) {
    dom0.write("/pub", "hello");
    dom0.set_perms("/pub", {"r0"});
    Client g = guest(5);
    EXPECT_EQ(g.read("/pub"), "hello");
    EXPECT_EQ(g.write("/pub", "no"), "EACCES");
}

TEST_F(Permissions, ExplicitEntryOverridesDefault) {
    dom0.write("/n", "v");
    dom0.set_perms("/n", {"r0", "n5", "w6"});
    Client g5 = guest(5);
    Client g6 = guest(6);
    Client g7 = guest(7);
    EXPECT_EQ(g5.read("/n"), "<EACCES>");
    EXPECT_EQ(g6.read("/n"), "<EACCES>");
    EXPECT_EQ(g6.write("/n", "w"), "ok");
    EXPECT_EQ(g7.read("/n"), "w");
}

TEST_F(Permissions, WriteOnlyCannotRead) {
    dom0.write("/wo", "v");
    dom0.set_perms("/wo", {"n0", "w5"});
    Client g = guest(5);
    EXPECT_EQ(g.write("/wo", "new"), "ok");
    EXPECT_EQ(g.read("/wo"), "<EACCES>");
}

TEST_F(Permissions, OwnerMaySetPermsButNotChangeOwner) {
    Client g = guest_with_home(5);
    g.write("data", "");
    EXPECT_EQ(g.set_perms("data", {"n5", "r6"}), "ok");
    EXPECT_EQ(g.get_perms("data"), "n5 r6");
    EXPECT_EQ(g.set_perms("data", {"n6"}), "EPERM");
    EXPECT_EQ(dom0.set_perms("/local/domain/5/data", {"n6"}), "ok");
    EXPECT_EQ(dom0.get_perms("/local/domain/5/data"), "n6");
}

TEST_F(Permissions, NonOwnerWithWriteCannotSetPerms) {
    dom0.write("/w", "");
    dom0.set_perms("/w", {"n0", "b5"});
    Client g = guest(5);
    EXPECT_EQ(g.set_perms("/w", {"n0", "b5", "b6"}), "EACCES");
}

TEST_F(Permissions, GetPermsNeedsRead) {
    dom0.write("/g", "");
    Client g = guest(5);
    EXPECT_EQ(g.get_perms("/g"), "<EACCES>");
    dom0.set_perms("/g", {"n0", "r5"});
    EXPECT_EQ(g.get_perms("/g"), "n0 r5");
}

TEST_F(Permissions, RmNeedsWriteOnTheNode) {
    dom0.write("/r/child", "");
    dom0.set_perms("/r", {"n0", "r5"});
    Client g = guest(5);
    EXPECT_EQ(g.rm("/r"), "EACCES");
    EXPECT_EQ(g.rm("/r/child"), "EACCES");
    dom0.set_perms("/r", {"n0", "b5"});
    // The child kept its own perms (n0), so it is still not writable.
    EXPECT_EQ(g.rm("/r/child"), "EACCES");
    // Removing the parent takes the unwritable child with it.
    EXPECT_EQ(g.rm("/r"), "ok");
    EXPECT_EQ(dom0.read("/r/child"), "<ENOENT>");
}

TEST_F(Permissions, RmOfMissingNodeUnderUnwritableParentIsEacces) {
    dom0.mkdir("/ro");
    dom0.set_perms("/ro", {"n0", "r5"});
    Client g = guest(5);
    EXPECT_EQ(g.rm("/ro/missing"), "EACCES");
}

TEST_F(Permissions, DirectoryNeedsRead) {
    dom0.write("/d/x", "");
    Client g = guest(5);
    EXPECT_EQ(g.dir("/d"), (std::vector<std::string>{"<EACCES>"}));
}

TEST_F(Permissions, SetTargetGivesOwnerRightsOnTheTargetsNodes) {
    Client dm = guest(20);
    Client g = guest_with_home(5);
    g.write("state", "1");
    EXPECT_EQ(dm.read("/local/domain/5/state"), "<EACCES>");
    EXPECT_EQ(status(dom0.send(XS_SET_TARGET, strs({"20", "5"}))), "ok");
    EXPECT_EQ(dm.read("/local/domain/5/state"), "1");
    EXPECT_EQ(dm.write("/local/domain/5/state", "2"), "ok");
    EXPECT_EQ(dm.set_perms("/local/domain/5/state", {"n5", "r20"}), "ok");
}

TEST_F(Permissions, SetTargetInheritsTheTargetsGrants) {
    dom0.write("/granted", "v");
    dom0.set_perms("/granted", {"n0", "r5"});
    Client dm = guest(20);
    guest(5);
    EXPECT_EQ(dm.read("/granted"), "<EACCES>");
    dom0.send(XS_SET_TARGET, strs({"20", "5"}));
    EXPECT_EQ(dm.read("/granted"), "v");
}

TEST_F(Permissions, GuestRelativePathsResolveUnderItsHome) {
    Client g = guest_with_home(5);
    EXPECT_EQ(g.write("device/vbd/51712/state", "1"), "ok");
    EXPECT_EQ(dom0.read("/local/domain/5/device/vbd/51712/state"), "1");
}

TEST_F(Permissions, GuestCannotUsePrivilegedOperations) {
    Client g = guest(5);
    for (std::uint32_t type : {XS_CONTROL, XS_INTRODUCE, XS_RELEASE, XS_IS_DOMAIN_INTRODUCED,
                               XS_RESUME, XS_SET_TARGET}) {
        EXPECT_EQ(status(g.send(type, strs({"1", "2", "3"}))), "EACCES") << type;
    }
    Reply r = g.send(XS_GET_DOMAIN_PATH, strs({"5"}));
    EXPECT_EQ(status(r), "ok");
}

}  // namespace
}  // namespace xenolith::xenstore::test
