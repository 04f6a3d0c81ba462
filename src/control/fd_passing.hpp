// Passing a file descriptor over the control socket (SCM_RIGHTS), for
// `xl save`, `xl restore` and migration: xl opens the file or pipe with its
// own rights and hands the descriptor to xenolithd, which never opens a
// user's path for these. One message is one data byte carrying exactly one
// descriptor.
#pragma once

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::control {

// Sends `fd` (which stays open here) with one byte.
Status send_fd(int sock, int fd);

// Receives one byte with exactly one descriptor, made close-on-exec. A
// message without a descriptor, with several (any extra is closed), or
// with truncated control data is refused; so is end of stream.
Result<UniqueFd> recv_fd(int sock);

}  // namespace xenolith::control
