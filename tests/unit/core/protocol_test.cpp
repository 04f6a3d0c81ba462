#include <sys/socket.h>
#include <unistd.h>

#include <thread>

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

TEST(ControlProtocol, only_the_message_is_consumed_what_follows_stays) {
    SocketPair sp;
    const char data[] = "{\"ok\":true}\nraw console bytes";
    ASSERT_EQ(write(sp.fd[0], data, sizeof data - 1), static_cast<ssize_t>(sizeof data - 1));
    auto m = recv_message(sp.fd[1]);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->has_value());
    char rest[64] = {};
    EXPECT_EQ(read(sp.fd[1], rest, sizeof rest), 17);
    EXPECT_STREQ(rest, "raw console bytes");
}

TEST(ControlProtocol, a_message_larger_than_one_read_arrives_whole) {
    SocketPair sp;
    nlohmann::json big = {{"s", std::string(200 * 1024, 'x')}};
    std::thread writer([&] { EXPECT_TRUE(send_message(sp.fd[0], big).ok()); });
    auto m = recv_message(sp.fd[1]);
    writer.join();
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ((**m)["s"].get<std::string>().size(), 200u * 1024);
}

}  // namespace
}  // namespace xenolith::control
