#include "control/fd_passing.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

namespace xenolith::control {
namespace fd_passing_test {

struct SocketPair {
    UniqueFd a, b;
    SocketPair() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a.reset(sv[0]);
        b.reset(sv[1]);
    }
};

// Sends `fds` with one byte, as a misbehaving client might.
void send_raw(int sock, const std::vector<int>& fds) {
    char byte = 'F';
    iovec iov{&byte, 1};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(fds.size(), 1)));
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds.empty()) {
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        ASSERT_NE(c, nullptr);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ASSERT_EQ(::sendmsg(sock, &msg, 0), 1);
}

int open_fd_count() {
    int n = 0;
    for (int fd = 0; fd < 1024; ++fd) n += ::fcntl(fd, F_GETFD) >= 0 ? 1 : 0;
    return n;
}

TEST(FdPassing, PassesAPipeThatStillWorks) {
    SocketPair s;
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    UniqueFd r(p[0]), w(p[1]);
    ASSERT_TRUE(send_fd(s.a.get(), w.get()));
    auto got = recv_fd(s.b.get());
    ASSERT_TRUE(got) << got.error().what;
    EXPECT_NE(got->get(), w.get());
    EXPECT_TRUE(::fcntl(got->get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(::write(got->get(), "hi", 2), 2);
    char buf[2];
    ASSERT_EQ(::read(r.get(), buf, 2), 2);
    EXPECT_EQ(std::memcmp(buf, "hi", 2), 0);
}

TEST(FdPassing, SameOpenFileDescription) {
    SocketPair s;
    char path[] = "/tmp/fdpassXXXXXX";
    UniqueFd f(::mkstemp(path));
    ASSERT_TRUE(f.valid());
    ::unlink(path);
    ASSERT_EQ(::write(f.get(), "abc", 3), 3);
    ASSERT_TRUE(send_fd(s.a.get(), f.get()));
    auto got = recv_fd(s.b.get());
    ASSERT_TRUE(got);
    EXPECT_EQ(::lseek(got->get(), 0, SEEK_CUR), 3);  // shares the offset
}

TEST(FdPassing, RefusesAByteWithoutDescriptor) {
    SocketPair s;
    send_raw(s.a.get(), {});
    auto got = recv_fd(s.b.get());
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().what.find("exactly one descriptor, got 0"), std::string::npos);
}

TEST(FdPassing, RefusesSeveralAndClosesThem) {
    SocketPair s;
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    UniqueFd r(p[0]), w(p[1]);
    const int before = open_fd_count();
    send_raw(s.a.get(), {r.get(), w.get(), w.get()});
    auto got = recv_fd(s.b.get());
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().what.find("got 3"), std::string::npos);
    EXPECT_EQ(open_fd_count(), before);  // none of the three leaked
}

TEST(FdPassing, RefusesEndOfStream) {
    SocketPair s;
    s.a.reset();
    auto got = recv_fd(s.b.get());
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().what.find("closed"), std::string::npos);
}

TEST(FdPassing, SendOnAClosedPeerFails) {
    SocketPair s;
    s.b.reset();
    EXPECT_FALSE(send_fd(s.a.get(), 0));
}

}  // namespace fd_passing_test
}  // namespace xenolith::control
