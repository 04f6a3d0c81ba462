// The host side of xenstore: the unix stream socket where libxenstore
// (Debian's xenstore-utils, test-xenstore, libxl) connects. Every client is
// domain 0 and privileged, as with C xenstored; the socket is mode 0600, so
// only root reaches it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "xenstore/out_queue.hpp"
#include "xenstore/types.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore {

// Where libxenstore looks (xs_daemon_socket()): $XENSTORED_PATH, else
// $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket (/run on Debian).
// Empty if neither variable is set.
std::string socket_path_from_environment();
inline constexpr const char* kDefaultSocketPath = "/run/xenstored/socket";

// Binds and listens on `path` (non-blocking, close-on-exec, mode 0600),
// creating its directory (0755) if needed. A stale socket file is replaced;
// one a live server still answers on is an error.
Result<UniqueFd> listen_unix(const std::string& path);

// One accepted client: its request stream and its pending output.
struct SocketClient {
    UniqueFd fd;
    ConnId conn = 0;
    MessageReader reader;
    std::vector<std::uint8_t> in;  // received, not yet fed to the reader
    std::size_t in_pos = 0;
    OutQueue out;
    std::uint32_t epoll_mask = 0;  // what the fd is registered for

    bool has_input() const { return in_pos < in.size(); }
};

enum class SocketIo : std::uint8_t { ok, again, closed };

// Receives up to `max` bytes into `c.in` (which must be drained). `closed`
// on end of stream or error.
SocketIo receive(SocketClient& c, std::size_t max);

// Sends queued output until done or the socket is full. Returns the number
// of replies that left completely through `*replies`.
SocketIo send_queued(SocketClient& c, unsigned* replies);

}  // namespace xenolith::xenstore
