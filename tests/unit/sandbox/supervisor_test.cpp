// Supervision: a back-end that dies is reported (the caller takes its device
// to Closed) and relaunched after a back-off; a crash loop runs out of its
// restart budget and is left down.
#include "backend/sandbox/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include <gtest/gtest.h>

namespace xenolith::backend::sandbox {
namespace {

using namespace std::chrono_literals;

struct Gone {
    ExitInfo exit;
    bool will_restart;
};

// Polls the supervisor's fd and handles it until `done` or 10 s pass.
template <class Pred>
bool drive(Supervisor& s, Pred done) {
    for (int i = 0; i < 1000 && !done(); ++i) {
        pollfd p{s.fd(), POLLIN, 0};
        ::poll(&p, 1, 10);
        s.handle();
    }
    return done();
}

RestartPolicy fast(unsigned max_restarts) {
    RestartPolicy p;
    p.max_restarts = max_restarts;
    p.first_backoff = 1ms;
    p.max_backoff = 8ms;
    return p;
}

TEST(Supervisor, backend_aborts_once_when_supervised_then_reported_and_restarted) {
    int launches = 0;
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
    UniqueFd hold_r(pipefd[0]), hold_w(pipefd[1]);
    std::vector<Gone> gone;
    Supervisor s(
        [&]() -> Result<BackendProcess> {
            bool crash = launches++ == 0;
            return BackendProcess::fork_function({"crashy", {hold_r.get()}, {}, {}}, [crash] {
                if (crash) std::abort();
                char c;
                return ::read(3, &c, 1) == 1 ? 0 : 1;  // runs until told
            });
        },
        [&](const ExitInfo& e, bool again) { gone.push_back({e, again}); }, fast(3));
    ASSERT_TRUE(s.start().ok());
    ASSERT_TRUE(drive(s, [&] { return launches == 2 && s.running(); }));
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_TRUE(gone[0].exit.signaled);
    EXPECT_EQ(gone[0].exit.code, SIGABRT) << gone[0].exit.describe();
    EXPECT_TRUE(gone[0].will_restart);
    EXPECT_EQ(s.restarts(), 1u);
    EXPECT_FALSE(s.given_up());

    // The healthy one stays up until its work ends.
    for (int i = 0; i < 5; ++i) {
        pollfd p{s.fd(), POLLIN, 0};
        ::poll(&p, 1, 5);
        s.handle();
    }
    EXPECT_TRUE(s.running());
    EXPECT_EQ(launches, 2);
    ASSERT_EQ(::write(hold_w.get(), "x", 1), 1);
    ASSERT_TRUE(drive(s, [&] { return gone.size() == 2; }));
    EXPECT_FALSE(gone[1].exit.signaled);
    EXPECT_EQ(gone[1].exit.code, 0);
    // A clean exit is a back-end whose device is gone: not relaunched.
    EXPECT_FALSE(gone[1].will_restart);
    EXPECT_TRUE(s.finished());
    EXPECT_FALSE(s.running());
    s.stop();
}

TEST(Supervisor, crash_loop_when_budget_spent_then_gives_up_and_stays_down) {
    int launches = 0;
    std::vector<Gone> gone;
    Supervisor s(
        [&]() -> Result<BackendProcess> {
            ++launches;
            return BackendProcess::fork_function({"loop", {}, {}, {}}, [] { return 7; });
        },
        [&](const ExitInfo& e, bool again) { gone.push_back({e, again}); }, fast(3));
    ASSERT_TRUE(s.start().ok());
    ASSERT_TRUE(drive(s, [&] { return s.given_up(); }));
    EXPECT_EQ(launches, 4);  // the first launch and three restarts
    ASSERT_EQ(gone.size(), 4u);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(gone[i].will_restart);
    EXPECT_FALSE(gone[3].will_restart);
    EXPECT_EQ(gone[3].exit.code, 7);
    EXPECT_FALSE(s.running());
    // Nothing more happens once given up.
    for (int i = 0; i < 5; ++i) {
        pollfd p{s.fd(), POLLIN, 0};
        ::poll(&p, 1, 10);
        s.handle();
    }
    EXPECT_EQ(launches, 4);
}

TEST(Supervisor, relaunch_fails_when_supervised_then_counts_against_budget) {
    int launches = 0;
    std::vector<Gone> gone;
    Supervisor s(
        [&]() -> Result<BackendProcess> {
            if (launches++ > 0) return make_error("image gone");
            return BackendProcess::fork_function({"once", {}, {}, {}}, [] { return 1; });
        },
        [&](const ExitInfo& e, bool again) { gone.push_back({e, again}); }, fast(2));
    ASSERT_TRUE(s.start().ok());
    ASSERT_TRUE(drive(s, [&] { return s.given_up(); }));
    EXPECT_EQ(launches, 3);
    ASSERT_EQ(gone.size(), 3u);
    EXPECT_EQ(gone[2].exit.launch_error, "image gone");
    EXPECT_FALSE(gone[2].will_restart);
}

TEST(Supervisor, stop_when_running_then_kills_without_report) {
    int launches = 0;
    std::vector<Gone> gone;
    pid_t pid = 0;
    Supervisor s(
        [&]() -> Result<BackendProcess> {
            ++launches;
            return BackendProcess::fork_function({"idle", {}, {}, {}}, []() -> int {
                for (;;) ::poll(nullptr, 0, -1);
            });
        },
        [&](const ExitInfo& e, bool again) { gone.push_back({e, again}); });
    ASSERT_TRUE(s.start().ok());
    pid = s.process()->pid();
    s.stop();
    EXPECT_FALSE(s.running());
    EXPECT_TRUE(gone.empty());
    EXPECT_NE(::kill(pid, 0), 0);  // reaped: the pid is gone
}

}  // namespace
}  // namespace xenolith::backend::sandbox
