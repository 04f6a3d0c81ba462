#include <gtest/gtest.h>

#include <string>

#include "xenstore/path.hpp"
#include "xenstore/wire.hpp"
#include "xenstore/perms.hpp"

namespace xenolith::xenstore {
namespace {

std::string canon(std::string_view raw, bool special = false, std::size_t rel_max = 0) {
    auto r = canonicalize(raw, 7, special, rel_max);
    return r ? r.value() : "<" + std::string(error_name(r.error())) + ">";
}

TEST(Path, AbsolutePathsPassThrough) {
    EXPECT_EQ(canon("/"), "/");
    EXPECT_EQ(canon("/a/b-c_D9"), "/a/b-c_D9");
}

TEST(Path, RelativePathsResolveUnderTheDomainHome) {
    EXPECT_EQ(canon("device/vif/0"), "/local/domain/7/device/vif/0");
    EXPECT_EQ(domain_path(0), "/local/domain/0");
}

TEST(Path, RejectsMalformedPaths) {
    EXPECT_EQ(canon(""), "<EINVAL>");
    EXPECT_EQ(canon("/a/"), "<EINVAL>");
    EXPECT_EQ(canon("a/"), "<EINVAL>");
    EXPECT_EQ(canon("/a//b"), "<EINVAL>");
    EXPECT_EQ(canon("//"), "<EINVAL>");
    EXPECT_EQ(canon("/a b"), "<EINVAL>");
    EXPECT_EQ(canon("/a.b"), "<EINVAL>");
    EXPECT_EQ(canon("/a\xff"), "<EINVAL>");
    EXPECT_EQ(canon("/a:b"), "<EINVAL>");
}

TEST(Path, SpecialPathsOnlyWhereAllowed) {
    EXPECT_EQ(canon("@releaseDomain"), "<EINVAL>");
    EXPECT_EQ(canon("@releaseDomain", true), "@releaseDomain");
    EXPECT_EQ(canon("@releaseDomain/3", true), "@releaseDomain/3");
    EXPECT_TRUE(is_special("@x"));
    EXPECT_FALSE(is_special("/x"));
}

TEST(Path, AbsoluteLengthLimit) {
    std::string ok = "/" + std::string(XENSTORE_ABS_PATH_MAX - 1, 'a');
    std::string too_long = ok + "a";
    EXPECT_EQ(canon(ok), ok);
    EXPECT_EQ(canon(too_long), "<EINVAL>");
}

TEST(Path, RelativeLengthLimitCountsBelowAnyDomainHome) {
    std::string rel(100, 'a');
    EXPECT_EQ(canon(rel, false, 100), "/local/domain/7/" + rel);
    EXPECT_EQ(canon(rel + "b", false, 100), "<EINVAL>");
    EXPECT_EQ(canon("/local/domain/3/" + rel, false, 100), "/local/domain/3/" + rel);
    EXPECT_EQ(canon("/x/" + rel, false, 100), "<EINVAL>");
    EXPECT_EQ(relative_length("/local/domain/12/ab"), 2u);
    EXPECT_EQ(relative_length("/local/domain/12"), 16u);
    EXPECT_EQ(relative_length("/local/domain/123456/a"), 22u);
}

TEST(Path, ParentBasenameChild) {
    EXPECT_EQ(parent_of("/a/b/c"), "/a/b");
    EXPECT_EQ(parent_of("/a"), "/");
    EXPECT_EQ(parent_of("@special"), "/");
    EXPECT_EQ(basename_of("/a/b/c"), "c");
    EXPECT_EQ(basename_of("/a"), "a");
    EXPECT_EQ(child_path("/", "a"), "/a");
    EXPECT_EQ(child_path("/a", "b"), "/a/b");
}

TEST(Path, WatchMatchingFollowsDepth) {
    EXPECT_TRUE(path_matches("/a", "/a", -1));
    EXPECT_TRUE(path_matches("/a/b/c", "/a", -1));
    EXPECT_FALSE(path_matches("/ab", "/a", -1));
    EXPECT_FALSE(path_matches("/a", "/a/b", -1));
    EXPECT_TRUE(path_matches("/a", "/a", 0));
    EXPECT_FALSE(path_matches("/a/b", "/a", 0));
    EXPECT_TRUE(path_matches("/a/b", "/a", 1));
    EXPECT_FALSE(path_matches("/a/b/c", "/a", 1));
    EXPECT_TRUE(path_matches("/a/b/c", "/a", 2));
    EXPECT_TRUE(path_matches("/x", "/", -1));
    EXPECT_TRUE(path_matches("/x", "/", 1));
    EXPECT_FALSE(path_matches("/x/y", "/", 1));
    EXPECT_TRUE(path_matches("/", "/", 0));
    EXPECT_FALSE(path_matches("@releaseDomain", "/", -1));
}

TEST(Perms, ParseAndFormat) {
    EXPECT_EQ(parse_perm("r5"), (Perm{5, kPermRead}));
    EXPECT_EQ(parse_perm("w0"), (Perm{0, kPermWrite}));
    EXPECT_EQ(parse_perm("b65535"), (Perm{65535, kPermRead | kPermWrite}));
    EXPECT_EQ(parse_perm("n12"), (Perm{12, kPermNone}));
    EXPECT_FALSE(parse_perm("x1"));
    EXPECT_FALSE(parse_perm("r"));
    EXPECT_FALSE(parse_perm("r-1"));
    EXPECT_FALSE(parse_perm("r65536"));
    EXPECT_FALSE(parse_perm("r1a"));
    EXPECT_FALSE(parse_perm(""));
    Perms p{{0, kPermRead | kPermWrite}, {1, kPermRead}, {2, kPermNone}, {3, kPermWrite}};
    EXPECT_EQ(perms_to_wire(p), std::string("b0\0r1\0n2\0w3\0", 12));
}

TEST(Perms, OwnerHasEverything) {
    Perms p{{5, kPermNone}};
    EXPECT_EQ(access_for(Identity{5, false, {}}, p), kPermAll);
}

TEST(Perms, FirstEntryIsTheDefault) {
    Perms p{{5, kPermRead}};
    EXPECT_EQ(access_for(Identity{6, false, {}}, p), kPermRead);
    Perms none{{5, kPermNone}};
    EXPECT_EQ(access_for(Identity{6, false, {}}, none), kPermNone);
}

TEST(Perms, ExplicitEntryOverridesTheDefault) {
    Perms p{{5, kPermRead}, {6, kPermWrite}, {6, kPermRead}};
    EXPECT_EQ(access_for(Identity{6, false, {}}, p), kPermWrite);  // first match wins
    EXPECT_EQ(access_for(Identity{7, false, {}}, p), kPermRead);
    Perms q{{5, kPermRead}, {7, kPermNone}};
    EXPECT_EQ(access_for(Identity{7, false, {}}, q), kPermNone);
}

TEST(Perms, PrivilegedHasEverything) {
    Perms p{{5, kPermNone}};
    EXPECT_EQ(access_for(Identity{0, true, {}}, p), kPermAll);
}

TEST(Perms, TargetActsAsTheTargetDomain) {
    Perms owned_by_target{{5, kPermNone}};
    EXPECT_EQ(access_for(Identity{9, false, domid_t{5}}, owned_by_target), kPermAll);
    Perms granted_to_target{{1, kPermNone}, {5, kPermRead}};
    EXPECT_EQ(access_for(Identity{9, false, domid_t{5}}, granted_to_target), kPermRead);
    EXPECT_EQ(access_for(Identity{9, false, {}}, owned_by_target), kPermNone);
}

}  // namespace
}  // namespace xenolith::xenstore
