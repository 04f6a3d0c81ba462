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

TEST(ControlRequest, deep_nesting_is_refused_before_parsing) {
    SocketPair sp;
    std::string deep = "{\"cmd\":" + std::string(1000, '[') + std::string(1000, ']') + "}\n";
    std::thread writer([&] { EXPECT_EQ(write(sp.fd[0], deep.data(), deep.size()), ssize_t(deep.size())); });
    auto m = recv_request(sp.fd[1], kRequestLimits);
    writer.join();
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().what, "control socket: message nested too deeply");
}

TEST(ControlRequest, too_many_values_are_refused) {
    std::string many = "{\"a\":[";
    for (int i = 0; i < 70000; ++i) many += "0,";
    many += "0]}";
    auto st = check_json_shape(many, kRequestLimits.max_depth, kRequestLimits.max_values);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "control socket: message has too many values");
}

TEST(ControlRequest, brackets_and_escaped_quotes_inside_strings_do_not_count) {
    const std::string text = "{\"s\":\"[[[[\\\"[[[[,,,,\",\"t\":[1]}";
    EXPECT_TRUE(check_json_shape(text, 2, 4).ok());
    EXPECT_FALSE(check_json_shape("[[[]]]", 2, 100).ok());
}

TEST(ControlRequest, a_request_over_the_size_bound_is_refused_unread) {
    SocketPair sp;
    nlohmann::json big = {{"s", std::string(kRequestLimits.max_bytes + 1, 'x')}};
    std::thread writer([&] { (void)send_message(sp.fd[0], big); });
    auto m = recv_request(sp.fd[1], kRequestLimits);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().what, "control socket: message too large");
    shutdown(sp.fd[1], SHUT_RDWR);  // let the writer finish
    writer.join();
}

TEST(ControlRequest, a_large_real_request_fits) {
    SocketPair sp;
    // A create of a guest with 256 disks: far more than any real config.
    nlohmann::json disks = nlohmann::json::array();
    for (int i = 0; i < 256; ++i)
        disks.push_back({{"pdev_path", "/dev/vg0/guest-disk-" + std::to_string(i)},
                         {"vdev", "xvd" + std::to_string(i)},
                         {"backend", "phy"},
                         {"format", "raw"},
                         {"readwrite", 1}});
    nlohmann::json req = {{"cmd", "create"},
                          {"config", {{"c_info", {{"name", "big"}}}, {"disks", disks}}}};
    std::thread writer([&] { EXPECT_TRUE(send_message(sp.fd[0], req).ok()); });
    auto m = recv_request(sp.fd[1], kRequestLimits);
    writer.join();
    ASSERT_TRUE(m.ok()) << m.error().what;
    EXPECT_EQ((**m)["config"]["disks"].size(), 256u);
}

}  // namespace
}  // namespace xenolith::control
