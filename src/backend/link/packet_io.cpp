#include "backend/link/packet_io.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace xenolith::backend::link {

int send_packet(int sock, const void* bytes, std::size_t len, std::span<const int> fds,
                bool dontwait) {
    iovec iov{const_cast<void*>(bytes), len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    if (!fds.empty()) {
        if (fds.size() > kMaxFds) return -EINVAL;
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const int flags = MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0);
    for (;;) {
        ssize_t n = ::sendmsg(sock, &msg, flags);
        if (n >= 0) return static_cast<std::size_t>(n) == len ? 0 : -EMSGSIZE;
        if (errno != EINTR) return -errno;
    }
}

void recv_packet(int sock, std::span<std::byte> buf, bool dontwait, Received* out) {
    out->len = 0;
    out->truncated = false;
    out->nfds = 0;
    for (UniqueFd& fd : out->fds) fd.reset();
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // Room for a few more fds than allowed, so an excess is seen (and
    // closed) rather than silently dropped by the kernel.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaxFds + 6))];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const int flags = MSG_CMSG_CLOEXEC | (dontwait ? MSG_DONTWAIT : 0);
    ssize_t n;
    do n = ::recvmsg(sock, &msg, flags);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        out->len = -errno;
        return;
    }
    out->len = n;
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) out->truncated = true;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (out->nfds < kMaxFds) out->fds[out->nfds++].reset(fd);
            else {
                ::close(fd);
                out->truncated = true;
            }
        }
    }
}

}  // namespace xenolith::backend::link
