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
// bench/blkback.sh), so both run exactly the same launch path.
// Event-loop shape: the owner polls fd() and calls handle(); one thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>

#include "backend/blk/blkback_args.hpp"
#include "backend/link/link_provider.hpp"
#include "backend/link/link_server.hpp"
#include "backend/sandbox/supervisor.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::blk {

struct BlkbackHostHooks {
    // A new scoped xenstore connection (XenstoreService::connect_scoped) for
    // each launch: the old one died with the old process.
    std::function<Result<UniqueFd>()> connect_xenstore;
    // The process ended (or a relaunch failed), its link already released.
    std::function<void(const sandbox::ExitInfo&, bool will_restart)> gone;
};

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
    ~BlkbackHost();
    BlkbackHost(const BlkbackHost&) = delete;
    BlkbackHost& operator=(const BlkbackHost&) = delete;

    int fd() const { return epoll_.get(); }
    void handle();
    // Kills the process for good and releases its link.
    void stop();

    const BlkbackArgs& args() const { return args_; }
    bool running() const { return supervisor_->running(); }
    bool given_up() const { return supervisor_->given_up(); }
    unsigned restarts() const { return supervisor_->restarts(); }
    pid_t pid() const;
    // The current process's link (nullptr between a death and a relaunch).
    const link::LinkServer* link() const { return link_.get(); }

private:
    BlkbackHost(BlkbackArgs args, UniqueFd binary, UniqueFd disk, link::LinkProvider& provider,
                BlkbackHostHooks hooks);
    Result<sandbox::BackendProcess> launch();
    void drop_link();

    BlkbackArgs args_;
    UniqueFd binary_;
    UniqueFd disk_;
    link::LinkProvider& provider_;
    BlkbackHostHooks hooks_;
    UniqueFd epoll_;
    std::unique_ptr<link::LinkServer> link_;
    std::unique_ptr<sandbox::Supervisor> supervisor_;
};

}  // namespace xenolith::backend::blk
