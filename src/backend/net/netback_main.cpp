// xenolith-netback: one vif's back-end as its own sandboxed process.
// Started by xenolithd (or the host netfront harness) with the fds of
// netback_args.hpp; it narrows its seccomp filter to the net profile before
// reading any input, then serves the vif until the toolstack removes it
// (exit 0) or a service it depends on goes away (exit 1; the supervisor
// decides what next). It ends with _exit, as xenolith-blkback.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/net/netback_args.hpp"
#include "backend/net/netback_run.hpp"
#include "backend/sandbox/seccomp_policy.hpp"

using namespace xenolith::backend;

int main(int argc, char** argv) {
    std::string why;
    int code = static_cast<int>(net::NetbackExit::setup);
    std::string name = "xenolith-netback";
    if (auto st = sandbox::lock_down(sandbox::Profile::net); !st) {
        why = "sandbox: " + st.error().what;
    } else if (auto args = net::parse_netback_args(std::vector<std::string>(argv, argv + argc)); !args) {
        why = args.error().what;
        code = static_cast<int>(net::NetbackExit::usage);
    } else {
        name = net::netback_name(*args);
        std::vector<int> taps;
        for (unsigned q = 0; q < args->queues; ++q) taps.push_back(net::kFirstTapFd + static_cast<int>(q));
        code = static_cast<int>(net::run_netback(*args, net::kNetLinkFd, net::kNetXenstoreFd, taps, why));
    }
    if (!why.empty()) std::fprintf(stderr, "%s: %s\n", name.c_str(), why.c_str());
    std::fflush(stderr);
    ::_exit(code);
}
