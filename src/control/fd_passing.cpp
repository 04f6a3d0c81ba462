#include "control/fd_passing.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace xenolith::control {

namespace {

// Room for a few descriptors, so that a sender passing more than one is
// seen (and its extras closed) rather than having them silently dropped
// by MSG_CTRUNC alone.
constexpr std::size_t kMaxFds = 8;

Error socket_error(const char* what) {
    return make_error(std::string("control socket: ") + what + ": " + std::strerror(errno));
}

}  // namespace

Status send_fd(int sock, int fd) {
    char byte = 'F';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (!c) return make_error("control socket: no room for a descriptor");
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    for (;;) {
        const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n == 1) return ok_status();
        if (n < 0 && errno == EINTR) continue;
        return socket_error("cannot pass a descriptor");
    }
}

Result<UniqueFd> recv_fd(int sock) {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return socket_error("cannot receive a descriptor");
    // Every descriptor that arrived is owned here first, so that all but
    // the one wanted are closed whatever is wrong with the message.
    std::vector<UniqueFd> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.emplace_back(fd);
        }
    }
    if (n == 0) return make_error("control socket: closed while a descriptor was expected");
    if (msg.msg_flags & MSG_CTRUNC)
        return make_error("control socket: too many descriptors passed (control data truncated)");
    if (fds.size() != 1)
        return make_error("control socket: expected exactly one descriptor, got " +
                          std::to_string(fds.size()));
    return std::move(fds[0]);
}

}  // namespace xenolith::control
