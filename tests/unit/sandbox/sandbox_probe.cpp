// A minimal back-end binary: stacks the Running filter, then reports on
// fd 3 (the first passed fd) or tries what argv[1] names. It ends with
// _exit: exit handlers (LeakSanitizer's in a sanitized build) would make
// calls a back-end may not.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "backend/sandbox/seccomp_policy.hpp"

int main(int argc, char** argv) {
    if (!xenolith::backend::sandbox::lock_down()) return 2;
    const char* what = argc > 1 ? argv[1] : "";
    if (std::strcmp(what, "open") == 0) {
        int fd = ::openat(AT_FDCWD, "/usr/lib/os-release", O_RDONLY);
        ::_exit(fd >= 0 ? 3 : 4);  // not reached: the filter kills
    }
    const char msg[] = "probe ok";
    ::_exit(::write(3, msg, sizeof msg - 1) == sizeof msg - 1 ? 0 : 1);
}
