// One SOCK_SEQPACKET packet in or out, with its SCM_RIGHTS fds. Only
// sendmsg/recvmsg: the back-end's seccomp filter allows nothing else on
// its socket.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>

#include "backend/link/wire.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::link {

// Sends `bytes` and `fds` (borrowed) as one packet; 0 or a negative errno.
// `dontwait`: never block (the server must not stall on a back-end that
// stops reading).
int send_packet(int sock, const void* bytes, std::size_t len, std::span<const int> fds,
                bool dontwait);

struct Received {
    ssize_t len = 0;     // > 0: a packet; 0: the peer closed; < 0: -errno
    bool truncated = false;  // bigger than the buffer, or more fds than kMaxFds
    std::size_t nfds = 0;
    UniqueFd fds[kMaxFds];
};

// Receives one packet into `buf`; fds arrive close-on-exec.
void recv_packet(int sock, std::span<std::byte> buf, bool dontwait, Received* out);

}  // namespace xenolith::backend::link
