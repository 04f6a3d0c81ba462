// The serving side of one xenolith-netback process: sandbox::BackendHost
// with netback's argv and its TAP queue fds (5 onwards). Launches it in its
// sandbox, serves its link, supervises it; when it dies its pins and ports
// are released and the owner told (which writes the vif Closed); a
// relaunched process starts Closed (--relaunched) and offers the vif again
// once the front end resets.
//
// Used by xenolithd for every vif and by the host netfront harness (tests,
// bench/netback.sh), so both run exactly the same launch path.
// Event-loop shape: the owner polls fd() and calls handle(); one thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <vector>

#include "backend/link/link_provider.hpp"
#include "backend/link/link_server.hpp"
#include "backend/net/netback_args.hpp"
#include "backend/sandbox/backend_host.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::net {

using NetbackHostHooks = sandbox::BackendHostHooks;

class NetbackHost {
public:
    // Launches the first process; its failure is returned (nothing is left
    // running). `binary` is an fd of the xenolith-netback executable and
    // `taps` the vif's TAP queue fds (open_tap), exactly args.queues of
    // them; all are kept for relaunches. `provider` must outlive the host.
    static Result<std::unique_ptr<NetbackHost>> start(NetbackArgs args, UniqueFd binary,
                                                      std::vector<UniqueFd> taps,
                                                      link::LinkProvider& provider, NetbackHostHooks hooks,
                                                      sandbox::RestartPolicy policy = {});
    NetbackHost(const NetbackHost&) = delete;
    NetbackHost& operator=(const NetbackHost&) = delete;

    int fd() const { return host_->fd(); }
    void handle() { host_->handle(); }
    // Kills the process for good and releases its link.
    void stop() { host_->stop(); }
    pid_t pid() const { return host_->pid(); }
    bool running() const { return host_->running(); }
    bool given_up() const { return host_->given_up(); }
    unsigned restarts() const { return host_->restarts(); }
    // The arguments of the last launch (relaunched once one has died).
    const NetbackArgs& args() const { return args_; }
    // The current process's link (nullptr between a death and a relaunch).
    const link::LinkServer* link() const { return host_->link(); }

private:
    explicit NetbackHost(NetbackArgs args) : args_(std::move(args)) {}

    NetbackArgs args_;
    std::unique_ptr<sandbox::BackendHost> host_;
};

}  // namespace xenolith::backend::net
