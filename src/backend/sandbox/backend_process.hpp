// A back-end as its own sandboxed process. xenolithd forks it with only the
// fds its device needs (dup'ed to 3, 4, ... in the order given; 0-2 are
// inherited, everything else closed), in new mount, IPC, UTS and network
// namespaces whose root is an empty read-only tmpfs, with every capability
// gone (bounding, ambient, effective, permitted, inheritable), no_new_privs,
// not dumpable, and the seccomp allow-list of seccomp_policy.hpp.
// ARCHITECTURE.md "Back-ends" has the threat model.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::sandbox {

// The i-th fd of SandboxSpec::fds is fd kFirstPassedFd + i in the back-end.
inline constexpr int kFirstPassedFd = 3;

struct SandboxSpec {
    std::string name;      // for messages, e.g. "blkback d3 51712"
    std::vector<int> fds;  // borrowed; the back-end's whole view of the host
    // Also drop to these ids (after leaving the namespaces); by default the
    // back-end keeps xenolithd's ids with no capabilities.
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
};

// How a back-end process ended.
struct ExitInfo {
    bool signaled = false;
    int code = 0;              // exit status, or the signal that killed it
    std::string launch_error;  // set instead when a relaunch failed
    std::string describe() const;
};

class BackendProcess {
public:
    // Runs `body` in the sandboxed child; its return value is the exit
    // status. The child is a fork: it starts with a copy of the caller's
    // memory, so this is for tests and callers that hold nothing the
    // back-end must not see. xenolithd uses exec().
    static Result<BackendProcess> fork_function(const SandboxSpec& spec, std::function<int()> body);
    // Executes `binary_fd` (an executable the caller opened) with `argv`
    // and an empty environment: a fresh address space. The root then also
    // holds /usr read-only, for the binary's libraries; the Loader filter
    // is in force until the binary calls lock_down().
    static Result<BackendProcess> exec(const SandboxSpec& spec, int binary_fd,
                                       const std::vector<std::string>& argv);

    BackendProcess(BackendProcess&& o) noexcept
        : pid_(o.pid_), pidfd_(std::move(o.pidfd_)), reaped_(o.reaped_) {}
    // Kills and reaps the process this one held.
    BackendProcess& operator=(BackendProcess&& o) noexcept;
    BackendProcess(const BackendProcess&) = delete;
    BackendProcess& operator=(const BackendProcess&) = delete;
    // Kills and reaps a back-end still running.
    ~BackendProcess();

    pid_t pid() const { return pid_; }
    // Readable once the process has exited (poll/epoll).
    int pidfd() const { return pidfd_.get(); }
    bool reaped() const { return reaped_; }
    // Reaps the process if it has exited; nothing while it runs.
    std::optional<ExitInfo> try_reap();
    ExitInfo wait();
    void kill();

private:
    BackendProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
    template <class Child>
    static Result<BackendProcess> launch(const SandboxSpec& spec, Child&& child);
    std::optional<ExitInfo> reap(bool block);

    pid_t pid_ = -1;
    UniqueFd pidfd_;
    bool reaped_ = false;
};

}  // namespace xenolith::backend::sandbox
