// xenolith-blkback: one vbd's back-end as its own sandboxed process.
// Started by xenolithd (or the host front-end harness) with the fds of
// blkback_args.hpp; it narrows its seccomp filter before reading any input,
// then serves the device until the toolstack removes it (exit 0) or a
// service it depends on goes away (exit 1; the supervisor decides what
// next). It ends with _exit: nothing at exit may need a system call the
// filter forbids (LeakSanitizer's exit-time scan does).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/blk/blkback_args.hpp"
#include "backend/blk/blkback_run.hpp"
#include "backend/sandbox/seccomp_policy.hpp"

using namespace xenolith::backend;

int main(int argc, char** argv) {
    std::string why;
    int code = static_cast<int>(blk::BlkbackExit::setup);
    std::string name = "xenolith-blkback";
    if (auto st = sandbox::lock_down(); !st) {
        why = "sandbox: " + st.error().what;
    } else if (auto args = blk::parse_blkback_args(std::vector<std::string>(argv, argv + argc));
               !args) {
        why = args.error().what;
        code = static_cast<int>(blk::BlkbackExit::usage);
    } else {
        name = blk::blkback_name(*args);
        code = static_cast<int>(blk::run_blkback(*args, blk::kLinkFd, blk::kXenstoreFd,
                                                 args->has_disk ? blk::kDiskFd : -1, why));
    }
    if (!why.empty()) std::fprintf(stderr, "%s: %s\n", name.c_str(), why.c_str());
    std::fflush(stderr);
    ::_exit(code);
}
