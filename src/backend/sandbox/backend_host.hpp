// The serving side of one back-end process, whatever its device class:
// launches the binary in its sandbox with the link (fd 3), a scoped
// xenstore connection (fd 4) and the device's own fds (5 onwards: a disk,
// TAP queues), serves its link (Grants, EventChannels) through a
// LinkProvider, and keeps it alive through a Supervisor. When the process
// dies its pins and ports are released at once and the owner is told (it
// takes the device to Closed, so the front end sees errors, not a hang); a
// relaunched process gets a fresh link and xenstore connection and its
// argv says so (the relaunch rule: it starts Closed and offers the device
// only once the front end has reset).
//
// BlkbackHost and NetbackHost are thin users: they build the argv from
// their own argument struct and hand over their fds.
// Event-loop shape: the owner polls fd() and calls handle(); one thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/link/link_provider.hpp"
#include "backend/link/link_server.hpp"
#include "backend/sandbox/supervisor.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::sandbox {

// fds 3 and 4 of every back-end process; the device's own follow.
inline constexpr int kLinkFd = 3;
inline constexpr int kXenstoreFd = 4;
inline constexpr int kFirstDeviceFd = 5;

struct BackendHostHooks {
    // A new scoped xenstore connection (XenstoreService::connect_scoped) for
    // each launch: the old one died with the old process.
    std::function<Result<UniqueFd>()> connect_xenstore;
    // The process ended (or a relaunch failed), its link already released.
    std::function<void(const ExitInfo&, bool will_restart)> gone;
};

struct BackendLaunchSpec {
    std::string name;  // "blkback d3 51712": messages and the sandbox's name
    UniqueFd binary;   // the back-end executable, opened by the caller
    // The device's fds, passed as kFirstDeviceFd onwards in this order;
    // kept (and passed again) for relaunches.
    std::vector<UniqueFd> device_fds;
    // The command line of a launch; `relaunch` is false for the first one
    // only.
    std::function<std::vector<std::string>(bool relaunch)> argv;
};

class BackendHost {
public:
    // Launches the first process; its failure is returned (nothing is left
    // running). `provider` must outlive the host.
    static Result<std::unique_ptr<BackendHost>> start(BackendLaunchSpec spec, link::LinkProvider& provider,
                                                      BackendHostHooks hooks, RestartPolicy policy = {});
    ~BackendHost();
    BackendHost(const BackendHost&) = delete;
    BackendHost& operator=(const BackendHost&) = delete;

    int fd() const { return epoll_.get(); }
    void handle();
    // Kills the process for good and releases its link.
    void stop();

    const std::string& name() const { return spec_.name; }
    bool running() const { return supervisor_->running(); }
    bool given_up() const { return supervisor_->given_up(); }
    unsigned restarts() const { return supervisor_->restarts(); }
    pid_t pid() const;
    // The current process's link (nullptr between a death and a relaunch).
    const link::LinkServer* link() const { return link_.get(); }

private:
    BackendHost(BackendLaunchSpec spec, link::LinkProvider& provider, BackendHostHooks hooks);
    Result<BackendProcess> launch();
    void drop_link();

    BackendLaunchSpec spec_;
    link::LinkProvider& provider_;
    BackendHostHooks hooks_;
    UniqueFd epoll_;
    bool launched_once_ = false;
    std::unique_ptr<link::LinkServer> link_;
    std::unique_ptr<Supervisor> supervisor_;
};

}  // namespace xenolith::backend::sandbox
