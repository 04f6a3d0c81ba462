// Keeps one back-end process running: learns of its death from its pidfd,
// tells the owner (which takes the device to Closed, so the guest sees I/O
// errors rather than a hang), and relaunches it after a back-off that
// doubles per restart, at most `max_restarts` per `window`; past that it
// gives up and the device stays Closed. A back-end that exits with status 0
// has finished (its device was removed) and is not relaunched.
//
// Event-loop friendly: fd() is one epoll fd, readable when handle() has
// something to do (a death to reap or a back-off that has run out).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>

#include "backend/sandbox/backend_process.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::sandbox {

struct RestartPolicy {
    unsigned max_restarts = 5;
    std::chrono::milliseconds window{60'000};
    std::chrono::milliseconds first_backoff{100};
    std::chrono::milliseconds max_backoff{5'000};
};

class Supervisor {
public:
    using Launch = std::function<Result<BackendProcess>()>;
    // The back-end is gone (or a relaunch failed): how, and whether another
    // launch is scheduled.
    using Gone = std::function<void(const ExitInfo&, bool will_restart)>;

    Supervisor(Launch launch, Gone gone, RestartPolicy policy = {});
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    // The first launch; its failure is returned, not retried.
    Status start();
    int fd() const { return epoll_.get(); }
    // Reaps a dead back-end and schedules its restart, or relaunches once
    // the back-off has run out. Harmless when there is nothing to do.
    void handle();
    // Kills the back-end for good (device removal, domain destruction).
    void stop();

    bool running() const { return proc_.has_value(); }
    bool given_up() const { return given_up_; }
    bool finished() const { return finished_; }
    unsigned restarts() const { return restarts_; }
    const BackendProcess* process() const { return proc_ ? &*proc_ : nullptr; }

private:
    using Clock = std::chrono::steady_clock;
    void went_away(ExitInfo e);
    void relaunch();
    void watch(const BackendProcess& p);

    Launch launch_;
    Gone gone_;
    RestartPolicy policy_;
    UniqueFd epoll_;
    UniqueFd timer_;
    std::optional<BackendProcess> proc_;
    std::deque<Clock::time_point> recent_;  // restarts within the window
    unsigned restarts_ = 0;
    bool given_up_ = false;
    bool finished_ = false;
    bool timer_armed_ = false;
};

}  // namespace xenolith::backend::sandbox
