#include "backend/xenbus_state.hpp"

#include <gtest/gtest.h>

namespace xenolith::backend {
namespace {

TEST(XenbusStateTest, backend_lifecycle_when_followed_then_every_step_is_legal) {
    EXPECT_TRUE(backend_transition_legal(XenbusStateInitialising, XenbusStateInitWait));
    EXPECT_TRUE(backend_transition_legal(XenbusStateInitWait, XenbusStateConnected));
    EXPECT_TRUE(backend_transition_legal(XenbusStateConnected, XenbusStateClosing));
    EXPECT_TRUE(backend_transition_legal(XenbusStateClosing, XenbusStateClosed));
    // The front-end reset (kexec, module reload): the back-end serves it again.
    EXPECT_TRUE(backend_transition_legal(XenbusStateClosed, XenbusStateInitWait));
    EXPECT_TRUE(backend_transition_legal(XenbusStateConnected, XenbusStateConnected));
    EXPECT_TRUE(backend_transition_legal(XenbusStateInitWait, XenbusStateClosed));
}

TEST(XenbusStateTest, backend_skipping_or_going_back_when_asked_then_refused) {
    EXPECT_FALSE(backend_transition_legal(XenbusStateInitialising, XenbusStateConnected));
    EXPECT_FALSE(backend_transition_legal(XenbusStateConnected, XenbusStateInitWait));
    EXPECT_FALSE(backend_transition_legal(XenbusStateClosing, XenbusStateConnected));
    EXPECT_FALSE(backend_transition_legal(XenbusStateClosed, XenbusStateConnected));
    EXPECT_FALSE(backend_transition_legal(XenbusStateClosed, XenbusStateClosing));
    EXPECT_FALSE(backend_transition_legal(XenbusStateConnected, XenbusStateInitialised));
    EXPECT_FALSE(backend_transition_legal(XenbusStateConnected, XenbusStateReconfiguring));
    EXPECT_FALSE(backend_transition_legal(XenbusStateInitWait, XenbusStateUnknown));
    EXPECT_FALSE(backend_transition_legal(static_cast<XenbusState>(42), XenbusStateClosed));
}

TEST(XenbusStateTest, frontend_connecting_when_in_order_then_ok) {
    auto s = check_frontend_state("3", XenbusStateInitialising);
    EXPECT_EQ(s.verdict, FrontendVerdict::ok);
    EXPECT_EQ(s.state, XenbusStateInitialised);
    EXPECT_EQ(check_frontend_state("4", XenbusStateInitialised).verdict, FrontendVerdict::ok);
    EXPECT_EQ(check_frontend_state("4", XenbusStateConnected).verdict, FrontendVerdict::ok);
    EXPECT_EQ(check_frontend_state("5", XenbusStateConnected).verdict, FrontendVerdict::ok);
    EXPECT_EQ(check_frontend_state("6", XenbusStateClosing).verdict, FrontendVerdict::ok);
}

TEST(XenbusStateTest, frontend_reset_when_closed_then_may_start_over) {
    EXPECT_EQ(check_frontend_state("1", XenbusStateClosed).verdict, FrontendVerdict::ok);
    EXPECT_EQ(check_frontend_state("4", XenbusStateClosed).verdict, FrontendVerdict::ok);
    // The node removed (front-end gone) reads as Unknown.
    EXPECT_EQ(check_frontend_state("0", XenbusStateConnected).verdict, FrontendVerdict::ok);
}

TEST(XenbusStateTest, frontend_going_backwards_when_connected_then_backwards) {
    auto s = check_frontend_state("1", XenbusStateConnected);
    EXPECT_EQ(s.verdict, FrontendVerdict::backwards);
    EXPECT_EQ(s.state, XenbusStateInitialising);
    EXPECT_EQ(check_frontend_state("3", XenbusStateConnected).verdict, FrontendVerdict::backwards);
    EXPECT_EQ(check_frontend_state("4", XenbusStateClosing).verdict, FrontendVerdict::backwards);
    EXPECT_EQ(check_frontend_state("2", XenbusStateInitialising).verdict,
              FrontendVerdict::backwards);
}

TEST(XenbusStateTest, frontend_hostile_values_when_read_then_refused) {
    for (const char* v : {"", "-1", "+4", " 4", "4 ", "4\n", "0x4", "four", "04x"}) {
        EXPECT_EQ(check_frontend_state(v, XenbusStateInitialising).verdict,
                  FrontendVerdict::malformed)
            << v;
    }
    EXPECT_EQ(check_frontend_state(std::string_view("4\0", 2), XenbusStateInitialising).verdict,
              FrontendVerdict::malformed);
    for (const char* v : {"9", "255", "4294967296", "99999999999999999999999"}) {
        EXPECT_EQ(check_frontend_state(v, XenbusStateInitialising).verdict,
                  FrontendVerdict::unknown)
            << v;
    }
    EXPECT_EQ(check_frontend_state("7", XenbusStateConnected).verdict,
              FrontendVerdict::unsupported);
    EXPECT_EQ(check_frontend_state("8", XenbusStateConnected).verdict,
              FrontendVerdict::unsupported);
}

TEST(XenbusStateTest, names_when_out_of_range_then_invalid) {
    EXPECT_EQ(xenbus_state_name(XenbusStateConnected), "Connected");
    EXPECT_EQ(xenbus_state_name(XenbusStateInitWait), "InitWait");
    EXPECT_EQ(xenbus_state_name(-1), "Invalid");
    EXPECT_EQ(xenbus_state_name(9), "Invalid");
}

}  // namespace
}  // namespace xenolith::backend
