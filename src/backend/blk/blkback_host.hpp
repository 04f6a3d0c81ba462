// The serving side of one xenolith-blkback process: launches it in its
// sandbox with the link, a scoped xenstore connection and the disk, serves
// its link (Grants, EventChannels) through a LinkProvider, and keeps it
// alive through a Supervisor. When the process dies its pins and ports are
// released at once and the owner is told (xenolithd then takes the device
// to Closed, so the front end sees I/O errors, not a hang); a relaunched
// process gets a fresh link and xenstore connection and offers the device
// again (InitWait), which a front end reconnects to.
//
// Used by xenolithd for every disk and by the host front-end harness (tests,
// bench/blkback.sh), so both run exactly the same launch path. The launch,
// link and supervision are sandbox::BackendHost's, shared with netback.
// Event-loop shape: the owner polls fd() and calls handle(); one thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>

#include "backend/blk/blkback_args.hpp"
#include "backend/link/link_provider.hpp"
#include "backend/link/link_server.hpp"
#include "backend/sandbox/backend_host.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::blk {

// connect_xenstore: a new scoped connection per launch; gone: the process
// ended (or a relaunch failed), its link already released.
using BlkbackHostHooks = sandbox::BackendHostHooks;

class BlkbackHost {
public:
    // Launches the first process; its failure is returned (nothing is left
    // running). `binary` is an fd of the xenolith-blkback executable and
    // `disk` the opened disk (invalid for an empty cdrom); both are kept for
    // relaunches. `provider` must outlive the host.
    static Result<std::unique_ptr<BlkbackHost>> start(BlkbackArgs args, UniqueFd binary,
                                                      UniqueFd disk, link::LinkProvider& provider,
                                                      BlkbackHostHooks hooks,
                                                      sandbox::RestartPolicy policy = {});
    BlkbackHost(const BlkbackHost&) = delete;
    BlkbackHost& operator=(const BlkbackHost&) = delete;

    int fd() const { return host_->fd(); }
    void handle() { host_->handle(); }
    // Kills the process for good and releases its link.
    void stop() { host_->stop(); }

    // The arguments of the last launch (relaunched once one has died).
    const BlkbackArgs& args() const { return args_; }
    bool running() const { return host_->running(); }
    bool given_up() const { return host_->given_up(); }
    unsigned restarts() const { return host_->restarts(); }
    pid_t pid() const { return host_->pid(); }
    // The current process's link (nullptr between a death and a relaunch).
    const link::LinkServer* link() const { return host_->link(); }

private:
    explicit BlkbackHost(BlkbackArgs args) : args_(std::move(args)) {}

    BlkbackArgs args_;
    std::unique_ptr<sandbox::BackendHost> host_;
};

}  // namespace xenolith::backend::blk
