// The system calls a back-end may make, as a libseccomp allow-list; any
// other call kills the whole process (SCMP_ACT_KILL_PROCESS). The policy is
// what blkback needs on fds it was handed: data I/O, io_uring, anonymous
// non-executable memory, waiting, eventfds, sockets it already holds. There
// is no way to name a file, a process or a network peer: no open, exec,
// socket, connect, ptrace, kill (only signals to itself), mount or prctl
// beyond two read-only queries.
#pragma once

#include "base/result.hpp"

namespace xenolith::backend::sandbox {

enum class FilterStage {
    // The back-end proper: the allow-list above.
    Running,
    // Installed by the launcher just before it executes a back-end binary:
    // also the execveat of `exec_fd` and what the dynamic loader does
    // (read-only openat in the sandbox root, executable mappings). The
    // binary stacks the Running filter on top first thing (lock_down()).
    Loader,
};

// Sets no_new_privs and installs the stage's filter on the calling
// process. Filters stack: a later one can only narrow what is allowed.
Status install_backend_filter(FilterStage stage, int exec_fd = -1);

// What a back-end binary calls at the top of main(), before it reads any
// input: the Running filter.
inline Status lock_down() { return install_backend_filter(FilterStage::Running); }

}  // namespace xenolith::backend::sandbox
