// The system calls a back-end may make, as a libseccomp allow-list; any
// other call kills the whole process (SCMP_ACT_KILL_PROCESS). The policy is
// what a back-end needs on fds it was handed: data I/O (and for blkback
// io_uring), anonymous non-executable memory, waiting, eventfds, sockets it
// already holds. There
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

// Which back-end the Running filter is for. Both share the base list (I/O
// on held fds, memory, waiting, the link's socket); each adds only what its
// device needs.
enum class Profile {
    // blkback: positioned I/O, sync, fallocate and io_uring on the disk;
    // BLKGETSIZE64 and BLKSECDISCARD.
    block,
    // netback: nothing beyond the base but TUNSETOFFLOAD (the TAP's
    // offloads follow what each front end negotiates, which only the
    // back-end learns). No io_uring, no positioned I/O, no sync.
    net,
};

// Sets no_new_privs and installs the stage's filter on the calling
// process. Filters stack: a later one can only narrow what is allowed.
// The Loader stage allows the union of the profiles (the binary's own
// lock_down() narrows it).
Status install_backend_filter(FilterStage stage, int exec_fd = -1, Profile profile = Profile::block);

// What a back-end binary calls at the top of main(), before it reads any
// input: the Running filter of its profile.
inline Status lock_down(Profile profile = Profile::block) {
    return install_backend_filter(FilterStage::Running, -1, profile);
}

}  // namespace xenolith::backend::sandbox
