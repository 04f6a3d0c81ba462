#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "control/protocol.hpp"

namespace xenolith::control {
namespace {

struct SocketPair {
    int fd[2];
    SocketPair() { socketpair(AF_UNIX, SOCK_STREAM, 0, fd); }
    ~SocketPair() { close(fd[0]); close(fd[1]); }
};

TEST(ControlProtocol, round_trips_a_message) {
    SocketPair sp;
    ASSERT_TRUE(send_message(sp.fd[0], {{"cmd", "list"}, {"n", 3}}).ok());
    auto m = recv_message(sp.fd[1]);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ((**m)["cmd"], "list");
}

TEST(ControlProtocol, end_of_stream_is_not_an_error) {
    SocketPair sp;
    close(sp.fd[0]);
    sp.fd[0] = -1;
    auto m = recv_message(sp.fd[1]);
    ASSERT_TRUE(m.ok());
    EXPECT_FALSE(m->has_value());
}

TEST(ControlProtocol, malformed_and_non_object_messages_are_rejected) {
    SocketPair sp;
    const char junk[] = "{not json\n[1,2]\n";
    ASSERT_EQ(write(sp.fd[0], junk, sizeof junk - 1), static_cast<ssize_t>(sizeof junk - 1));
    EXPECT_FALSE(recv_message(sp.fd[1]).ok());
    EXPECT_FALSE(recv_message(sp.fd[1]).ok());
}

TEST(ControlProtocol, a_truncated_message_is_an_error) {
    SocketPair sp;
    ASSERT_EQ(write(sp.fd[0], "{\"a\":1", 6), 6);
    close(sp.fd[0]);
    sp.fd[0] = -1;
    EXPECT_FALSE(recv_message(sp.fd[1]).ok());
}

}  // namespace
}  // namespace xenolith::control
