// xl top: runs xentop, as Xen's xl does (system("xentop")).
//
// Difference from Xen: Xen's `xl top` takes no options (any is refused with
// "option `x' not supported.", status 2); here its arguments are handed to
// xentop, so `xl top -b -i 2` works as `xentop -b -i 2`.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

int cmd_top(const Args& a) {
    std::vector<char*> argv;
    static char name[] = "xentop";
    argv.push_back(name);
    for (std::size_t i = 1; i < a.size(); ++i) argv.push_back(const_cast<char*>(a[i].c_str()));
    argv.push_back(nullptr);
    // xentop next to xl (installed), or in the build tree's sibling folder,
    // else from PATH as Xen's xl finds it.
    std::error_code ec;
    const auto here = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    if (!ec) {
        for (const auto& candidate : {here / "xentop", here.parent_path() / "xentop" / "xentop"})
            if (::access(candidate.c_str(), X_OK) == 0) ::execv(candidate.c_str(), argv.data());
    }
    ::execvp("xentop", argv.data());
    std::fprintf(stderr, "xl: cannot run xentop: %s\n", std::strerror(errno));
    return 1;
}

}  // namespace xenolith::xl
