// Runs the xl binary, as xendomains does for `xl create`: the one place
// that turns a config file into a domain stays xl's.
#pragma once

#include <string>
#include <vector>

#include "base/result.hpp"

namespace xenolith::autostart {

// xl's output beyond this is dropped (and said to be).
inline constexpr std::size_t kMaxXlOutputBytes = 64 * 1024;

struct XlRun {
    int exit_code = 0;   // 128 + N when killed by signal N
    std::string output;  // stdout and stderr together, as xl wrote them
};

// Runs `xl args...` and waits for it. An error only when it cannot be run.
Result<XlRun> run_xl(const std::string& xl, const std::vector<std::string>& args);

// XENOLITH_XL when set, else the `xl` next to this program.
Result<std::string> find_xl(const std::string& configured);

}  // namespace xenolith::autostart
