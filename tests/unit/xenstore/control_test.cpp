// CONTROL's other commands.
#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using Control = XenstoreTest;

TEST_F(Control, UnknownOrMissingCommandIsEinval) {
    EXPECT_EQ(dom0.control({"live-update", "-s"}), "<EINVAL>");
    EXPECT_EQ(status(dom0.send(XS_CONTROL, "")), "EINVAL");
    EXPECT_EQ(status(dom0.send(XS_CONTROL, "help")), "EINVAL");  // no NUL
}

TEST_F(Control, Help) {
    std::string out = dom0.control({"help"});
    EXPECT_NE(out.find("quota           [set <name> <val>|<domid>|max [-r]]\n"), std::string::npos);
    EXPECT_NE(out.find("check           \n"), std::string::npos);
}

TEST_F(Control, Check) {
    dom0.write("/a/b", "");
    EXPECT_EQ(dom0.control({"check"}), "OK");
    EXPECT_EQ(dom0.control({"check", "x"}), "<EINVAL>");
}

TEST_F(Control, LogSwitches) {
    std::string out = dom0.control({"log"});
    EXPECT_EQ(out, "Log switch settings:\nio      : off\nwatch   : off\ntxn     : off\n");
    EXPECT_EQ(dom0.control({"log", "+io"}), "OK");
    EXPECT_NE(dom0.control({"log"}).find("io      : on\n"), std::string::npos);
    EXPECT_EQ(dom0.control({"log", "-io"}), "OK");
    EXPECT_EQ(dom0.control({"log", "+bogus"}), "<EINVAL>");
    EXPECT_EQ(dom0.control({"log", "off"}), "OK");
    EXPECT_EQ(dom0.control({"log", "on"}), "OK");
    EXPECT_EQ(dom0.control({"log", "a", "b"}), "<EINVAL>");
}

TEST_F(Control, Print) {
    EXPECT_EQ(dom0.control({"print", "hello"}), "OK");
    EXPECT_EQ(dom0.control({"print"}), "<EINVAL>");
}

TEST_F(Control, DebugIsTheSameMessage) {
    Reply r = dom0.send(XS_DEBUG, strs({"print", "via debug"}));
    EXPECT_EQ(status(r), "ok");
}

}  // namespace
}  // namespace xenolith::xenstore::test
