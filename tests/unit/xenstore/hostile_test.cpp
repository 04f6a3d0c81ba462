// Malformed and hostile requests: each gets an error reply (or, for broken
// framing, a reader error), never a crash.
#include <random>

#include "test_util.hpp"
#include "xenstore/dispatch.hpp"

namespace xenolith::xenstore::test {
namespace {

using Hostile = XenstoreTest;

TEST_F(Hostile, UnknownTypesAreEnosys) {
    EXPECT_EQ(status(dom0.send(20, strs({"/"}))), "ENOSYS");  // the removed XS_RESTRICT
    EXPECT_EQ(status(dom0.send(XS_TYPE_COUNT, "")), "ENOSYS");
    EXPECT_EQ(status(dom0.send(XS_INVALID, "")), "ENOSYS");
    EXPECT_EQ(status(dom0.send(0xffffffffu, "")), "ENOSYS");
}

TEST_F(Hostile, DaemonOnlyTypesFromAClientAreEnosys) {
    EXPECT_EQ(status(dom0.send(XS_WATCH_EVENT, strs({"/a", "t"}))), "ENOSYS");
    EXPECT_EQ(status(dom0.send(XS_ERROR, strs({"EINVAL"}))), "ENOSYS");
}

TEST_F(Hostile, TableNamesEveryType) {
    EXPECT_EQ(message_type_name(XS_CONTROL), "CONTROL");
    EXPECT_EQ(message_type_name(XS_DEBUG), "CONTROL");
    EXPECT_EQ(message_type_name(XS_DIRECTORY_PART), "DIRECTORY_PART");
    EXPECT_EQ(message_type_name(20), "UNKNOWN");
    EXPECT_TRUE(message_type_privileged(XS_INTRODUCE));
    EXPECT_FALSE(message_type_privileged(XS_WRITE));
}

TEST_F(Hostile, UnterminatedStringsAreEinval) {
    Client g = guest_with_home(5);
    for (std::uint32_t type : {XS_READ, XS_DIRECTORY, XS_MKDIR, XS_RM, XS_GET_PERMS, XS_WATCH,
                               XS_UNWATCH, XS_TRANSACTION_END, XS_GET_DOMAIN_PATH,
                               XS_DIRECTORY_PART, XS_SET_PERMS, XS_WRITE}) {
        EXPECT_EQ(status(g.send(type, "/local/domain/5")), "EINVAL")
            << type;
    }
}

TEST_F(Hostile, EmbeddedNulsInOneArgumentRequests) {
    EXPECT_EQ(status(dom0.send(XS_MKDIR, std::string("/a\0/b\0", 6))), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_RM, std::string("/tool\0\0", 7))), "EINVAL");
    EXPECT_EQ(dom0.read("/tool"), "");
}

TEST_F(Hostile, PayloadAboveTheMaximumIsRejected) {
    std::string big(XENSTORE_PAYLOAD_MAX + 1, 'a');
    EXPECT_EQ(status(dom0.send(XS_WRITE, big)), "EINVAL");
}

TEST_F(Hostile, MaximumSizeWriteWorks) {
    std::string payload = strs({"/big"}) + std::string(XENSTORE_PAYLOAD_MAX - 5, 'v');
    EXPECT_EQ(status(dom0.send(XS_WRITE, payload)), "ok");
    EXPECT_EQ(dom0.read("/big").size(), std::size_t{XENSTORE_PAYLOAD_MAX - 5});
}

TEST_F(Hostile, GuestCannotEscapeItsHomeWithRelativePaths) {
    Client g = guest_with_home(5);
    EXPECT_EQ(g.write("../x", ""), "EINVAL");
    EXPECT_EQ(g.write("a/../../b", ""), "EINVAL");
    EXPECT_EQ(g.write("./a", ""), "EINVAL");
}

TEST_F(Hostile, PathFloodIsBoundedByNodeQuota) {
    Client g = guest_with_home(5);
    std::string deep;
    for (int i = 0; i < 1000; ++i) deep += (i ? "/" : "") + std::string("d");
    EXPECT_EQ(g.write(deep, ""), "ENOSPC");  // 1000 new nodes + home > 1000
    EXPECT_EQ(g.read("d"), "<ENOENT>");
}

TEST_F(Hostile, TransactionIdFromAnotherConnectionIsUnknown) {
    std::uint32_t tx = dom0.start();
    Client g = guest(5);
    EXPECT_EQ(g.read("/tool", tx), "<ENOENT>");
}

TEST_F(Hostile, RandomRequestsNeverBreakTheStore) {
    std::mt19937 rng(1234);
    Client g = guest_with_home(5);
    const std::vector<std::string> words = {"/", "/a", "a", "/a/b", "@releaseDomain", "b5", "r0",
                                            "T", "F", "0", "5", "1", "", "x/y", "/local/domain/5"};
    for (int i = 0; i < 20000; ++i) {
        std::string payload;
        int n = static_cast<int>(rng() % 4);
        for (int k = 0; k < n; ++k) {
            payload += words[rng() % words.size()];
            if (rng() % 8) payload += '\0';
        }
        std::uint32_t type = rng() % (XS_TYPE_COUNT + 2);
        std::uint32_t tx = rng() % 4 == 0 ? rng() % 3 : 0;
        Client& c = rng() % 2 ? g : dom0;
        if (type == XS_RELEASE || type == XS_INTRODUCE) continue;  // keep the guest around
        c.send(type, payload, tx);
        c.events();
    }
    auto st = server.check();
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().what);
}

}  // namespace
}  // namespace xenolith::xenstore::test
