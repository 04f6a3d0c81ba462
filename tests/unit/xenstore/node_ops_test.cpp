// Per message type: READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART,
// GET_PERMS, SET_PERMS, as the host's privileged client sees them.
#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using NodeOps = XenstoreTest;

TEST_F(NodeOps, InitialTreeIsCXenstoredsOne) {
    EXPECT_EQ(dom0.dir("/"), (std::vector<std::string>{"tool"}));
    EXPECT_EQ(dom0.dir("/tool"), (std::vector<std::string>{"xenstored"}));
    EXPECT_EQ(dom0.get_perms("/"), "n0");
    EXPECT_EQ(dom0.get_perms("@releaseDomain"), "n0");
    EXPECT_EQ(dom0.get_perms("@introduceDomain"), "n0");
}

TEST_F(NodeOps, WriteThenReadReturnsTheExactBytes) {
    std::string binary("a\0b\xff", 4);
    EXPECT_EQ(dom0.write("/data", binary), "ok");
    EXPECT_EQ(dom0.read("/data"), binary);
}

TEST_F(NodeOps, WriteAcksWithOkNul) {
    Reply r = dom0.send(XS_WRITE, std::string("/x\0v", 4));
    EXPECT_EQ(r.type, std::uint32_t{XS_WRITE});
    EXPECT_EQ(r.payload, std::string("OK\0", 3));
}

TEST_F(NodeOps, WriteWithEmptyValue) {
    EXPECT_EQ(dom0.write("/e", ""), "ok");
    EXPECT_EQ(dom0.read("/e"), "");
}

TEST_F(NodeOps, WriteCreatesMissingParentsEmpty) {
    EXPECT_EQ(dom0.write("/a/b/c", "v"), "ok");
    EXPECT_EQ(dom0.read("/a"), "");
    EXPECT_EQ(dom0.read("/a/b"), "");
    EXPECT_EQ(dom0.dir("/a"), (std::vector<std::string>{"b"}));
    EXPECT_EQ(dom0.dir("/"), (std::vector<std::string>{"tool", "a"}));
}

TEST_F(NodeOps, WriteOverwritesKeepingChildren) {
    EXPECT_EQ(dom0.write("/a/b", "1"), "ok");
    EXPECT_EQ(dom0.write("/a", "top"), "ok");
    EXPECT_EQ(dom0.read("/a"), "top");
    EXPECT_EQ(dom0.dir("/a"), (std::vector<std::string>{"b"}));
}

TEST_F(NodeOps, WriteNeedsAPathString) {
    EXPECT_EQ(status(dom0.send(XS_WRITE, "no-nul-at-all")), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_WRITE, "")), "EINVAL");
}

TEST_F(NodeOps, WriteToSpecialPathIsInvalid) {
    EXPECT_EQ(dom0.write("@releaseDomain", "x"), "EINVAL");
}

TEST_F(NodeOps, ReadMissingIsEnoent) {
    EXPECT_EQ(dom0.read("/nope"), "<ENOENT>");
    EXPECT_EQ(dom0.read("/nope/deeper"), "<ENOENT>");
}

TEST_F(NodeOps, ReadRejectsExtraArguments) {
    dom0.write("/a", "1");
    EXPECT_EQ(status(dom0.send(XS_READ, strs({"/a", "extra"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_READ, "/a")), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_READ, "")), "EINVAL");
}

TEST_F(NodeOps, RelativePathsFromTheSocketResolveUnderDom0) {
    EXPECT_EQ(dom0.write("name", "Domain-0"), "ok");
    EXPECT_EQ(dom0.read("/local/domain/0/name"), "Domain-0");
}

TEST_F(NodeOps, MkdirCreatesAndLeavesExistingAlone) {
    EXPECT_EQ(dom0.mkdir("/m/n"), "ok");
    EXPECT_EQ(dom0.read("/m/n"), "");
    EXPECT_EQ(dom0.write("/m/n", "keep"), "ok");
    EXPECT_EQ(dom0.mkdir("/m/n"), "ok");
    EXPECT_EQ(dom0.read("/m/n"), "keep");
}

TEST_F(NodeOps, RmRemovesTheSubtree) {
    dom0.write("/a/b/c", "1");
    dom0.write("/a/b/d", "2");
    dom0.write("/a/e", "3");
    EXPECT_EQ(dom0.rm("/a/b"), "ok");
    EXPECT_EQ(dom0.read("/a/b"), "<ENOENT>");
    EXPECT_EQ(dom0.read("/a/b/c"), "<ENOENT>");
    EXPECT_EQ(dom0.dir("/a"), (std::vector<std::string>{"e"}));
}

TEST_F(NodeOps, RmOfMissingNodeIsFineIfParentExists) {
    dom0.mkdir("/a");
    EXPECT_EQ(dom0.rm("/a/nothing"), "ok");
    EXPECT_EQ(dom0.rm("/a/nothing/deeper"), "ENOENT");
}

TEST_F(NodeOps, RmRootIsInvalid) { EXPECT_EQ(dom0.rm("/"), "EINVAL"); }

TEST_F(NodeOps, DirectoryListsChildrenInCreationOrder) {
    dom0.write("/d/z", "");
    dom0.write("/d/a", "");
    dom0.write("/d/m", "");
    Reply r = dom0.send(XS_DIRECTORY, strs({"/d"}));
    EXPECT_EQ(r.payload, std::string("z\0a\0m\0", 6));
}

TEST_F(NodeOps, DirectoryOfLeafIsEmpty) {
    dom0.write("/leaf", "v");
    Reply r = dom0.send(XS_DIRECTORY, strs({"/leaf"}));
    EXPECT_EQ(status(r), "ok");
    EXPECT_TRUE(r.payload.empty());
}

TEST_F(NodeOps, DirectoryTooLargeForOneReplyIsE2big) {
    std::string name(200, 'n');
    for (int i = 0; i < 25; ++i) dom0.write("/big/" + name + std::to_string(i), "");
    EXPECT_EQ(status(dom0.send(XS_DIRECTORY, strs({"/big"}))), "E2BIG");
}

// Reassembles a child list the way libxenstore's xs_directory_part() does.
std::vector<std::string> directory_by_parts(Client& c, const std::string& path, int* calls) {
    std::string all;
    std::string gen;
    std::size_t off = 0;
    for (*calls = 0;; ++*calls) {
        Reply r = c.send(XS_DIRECTORY_PART, strs({path, std::to_string(off)}));
        EXPECT_EQ(status(r), "ok");
        if (r.type == XS_ERROR) return {};
        std::string g = r.payload.substr(0, r.payload.find('\0'));
        if (off == 0) gen = g;
        EXPECT_EQ(g, gen);
        std::string chunk = r.payload.substr(g.size() + 1);
        all += chunk;
        off += chunk.size();
        if (off <= 1 || all[off - 2] == '\0') break;
    }
    if (!all.empty()) all.pop_back();
    return list(all);
}

TEST_F(NodeOps, DirectoryPartReturnsTheWholeListInPieces) {
    std::string name(200, 'n');
    std::vector<std::string> want;
    for (int i = 0; i < 60; ++i) {
        want.push_back(name + std::to_string(i));
        dom0.write("/big/" + want.back(), "");
    }
    int calls = 0;
    EXPECT_EQ(directory_by_parts(dom0, "/big", &calls), want);
    EXPECT_GE(calls, 2);
}

TEST_F(NodeOps, DirectoryPartOfSmallDirectory) {
    dom0.write("/d/a", "");
    dom0.write("/d/b", "");
    Reply r = dom0.send(XS_DIRECTORY_PART, strs({"/d", "0"}));
    ASSERT_EQ(status(r), "ok");
    auto parts = list(r.payload);
    ASSERT_EQ(parts.size(), 4u);  // gen, a, b, ""
    EXPECT_EQ(parts[1], "a");
    EXPECT_EQ(parts[2], "b");
    EXPECT_EQ(parts[3], "");
}

TEST_F(NodeOps, DirectoryPartPastTheEndIsAnEmptyList) {
    dom0.write("/d/a", "");
    Reply r = dom0.send(XS_DIRECTORY_PART, strs({"/d", "1000"}));
    ASSERT_EQ(status(r), "ok");
    std::string gen = r.payload.substr(0, r.payload.find('\0'));
    EXPECT_EQ(r.payload, gen + std::string("\0\0", 2));
}

TEST_F(NodeOps, DirectoryPartGenerationChangesWithChildren) {
    dom0.write("/d/a", "");
    auto gen = [&] {
        Reply r = dom0.send(XS_DIRECTORY_PART, strs({"/d", "0"}));
        return r.payload.substr(0, r.payload.find('\0'));
    };
    std::string g1 = gen();
    EXPECT_EQ(gen(), g1);
    dom0.write("/d/b", "");
    std::string g2 = gen();
    EXPECT_NE(g2, g1);
    dom0.write("/d/b", "value of a child only");
    EXPECT_EQ(gen(), g2);
    dom0.rm("/d/a");
    EXPECT_NE(gen(), g2);
}

TEST_F(NodeOps, DirectoryPartNeedsExactlyTwoArguments) {
    dom0.mkdir("/d");
    EXPECT_EQ(status(dom0.send(XS_DIRECTORY_PART, strs({"/d"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_DIRECTORY_PART, strs({"/d", "0", "1"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_DIRECTORY_PART, strs({"/d", "x"}))), "EINVAL");
}

TEST_F(NodeOps, GetPermsFormat) {
    dom0.write("/p", "");
    EXPECT_EQ(dom0.set_perms("/p", {"b3", "r0", "w7", "n9"}), "ok");
    Reply r = dom0.send(XS_GET_PERMS, strs({"/p"}));
    EXPECT_EQ(r.payload, std::string("b3\0r0\0w7\0n9\0", 12));
}

TEST_F(NodeOps, SetPermsValidatesEntries) {
    dom0.write("/p", "");
    EXPECT_EQ(dom0.set_perms("/p", {"q3"}), "EINVAL");
    EXPECT_EQ(dom0.set_perms("/p", {"r"}), "EINVAL");
    EXPECT_EQ(dom0.set_perms("/p", {"r70000"}), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_SET_PERMS, strs({"/p"}))), "EINVAL");
    EXPECT_EQ(dom0.set_perms("/missing", {"r0"}), "ENOENT");
    EXPECT_EQ(dom0.get_perms("/p"), "n0");
}

TEST_F(NodeOps, SetPermsOnSpecialNodes) {
    EXPECT_EQ(dom0.set_perms("@releaseDomain", {"n0", "r5"}), "ok");
    EXPECT_EQ(dom0.get_perms("@releaseDomain"), "n0 r5");
    EXPECT_EQ(dom0.set_perms("@nonexistent", {"n0"}), "ENOENT");
}

TEST_F(NodeOps, NewNodesInheritTheParentsPermissions) {
    dom0.write("/inh", "");
    dom0.set_perms("/inh", {"b4", "r5"});
    dom0.write("/inh/a/b", "");
    EXPECT_EQ(dom0.get_perms("/inh/a"), "b4 r5");
    EXPECT_EQ(dom0.get_perms("/inh/a/b"), "b4 r5");
}

TEST_F(NodeOps, GetDomainPath) {
    Reply r = dom0.send(XS_GET_DOMAIN_PATH, strs({"12"}));
    EXPECT_EQ(r.payload, std::string("/local/domain/12\0", 17));
    EXPECT_EQ(status(dom0.send(XS_GET_DOMAIN_PATH, strs({"x"}))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_GET_DOMAIN_PATH, strs({"65536"}))), "EINVAL");
}

}  // namespace
}  // namespace xenolith::xenstore::test
