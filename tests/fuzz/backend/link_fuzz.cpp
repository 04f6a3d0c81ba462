// libFuzzer target for the link server (src/backend/link): a hostile
// back-end's packets, served against a small LocalGrantTable guest. The
// input is a sequence of packets, each a 2-byte little-endian length and
// that many bytes (a flag byte of the length's top bit attaches an fd).
// Whatever the bytes, the server answers or drops the connection, and once
// it is gone every pin it took and every port it bound are released.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/link/link_server.hpp"
#include "backend/link/local_link_provider.hpp"
#include "backend/local_grants.hpp"

using namespace xenolith::backend;

namespace {

constexpr DomId kFront = 3;

void send_with_fd(int sock, const std::uint8_t* p, std::size_t n, int fd) {
    iovec iov{const_cast<std::uint8_t*>(p), n};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    (void)::sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// Reads (and closes any fds of) whatever the server sent back.
void drain(int sock) {
    std::vector<std::uint8_t> buf(1 << 16);
    for (;;) {
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(8 * sizeof(int))];
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        if (::recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0) return;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < n; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                ::close(fd);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static LocalGrantTable* table = [] {
        auto* t = new LocalGrantTable(kFront, 0, 16, 16);
        for (GrantRef r = 0; r < 12; ++r) t->grant(r, r, r % 3 == 0);
        t->grant_to(12, 12, 7, GTF_permit_access);  // granted to someone else
        return t;
    }();
    link::LocalLinkProvider provider(*table);
    provider.alloc_unbound();
    provider.alloc_unbound();

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return 0;
    int spare = ::dup(pair[1]);  // something to attach as an unexpected fd
    {
        link::LinkServer server(pair[0], provider);
        drain(pair[1]);  // the hello
        std::size_t at = 0;
        while (at + 2 <= size && server.connected()) {
            std::uint16_t len = static_cast<std::uint16_t>(data[at] | (data[at + 1] << 8));
            at += 2;
            bool with_fd = len & 0x8000;
            len &= 0x7fff;
            std::size_t n = std::min<std::size_t>(len, size - at);
            send_with_fd(pair[1], data + at, n, with_fd ? spare : -1);
            at += n;
            server.handle();
            drain(pair[1]);
        }
        // The back-end goes away with whatever it still held.
        ::shutdown(pair[1], SHUT_RDWR);
        server.handle();
    }
    if (table->pins_held() != 0 || provider.bound() != 0) std::abort();
    ::close(pair[1]);
    ::close(spare);
    return 0;
}
