// The settings of xenolith-domains: /etc/default/xenolith-domains, written
// like Xen's sysconfig.xendomains (NAME=value lines, the same variable
// names where they apply) but read without a shell.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace xenolith::autostart {

inline constexpr std::string_view kDefaultSettingsFile = "/etc/default/xenolith-domains";
inline constexpr std::string_view kDefaultAutoDir = "/etc/xen/auto";
// Larger settings files are refused: the real one is a few KiB of comments.
inline constexpr std::size_t kMaxSettingsBytes = 256 * 1024;

struct Settings {
    // XENDOMAINS_AUTO: the directory of configs (or symlinks to them) to
    // start; empty disables starting, as in xendomains.
    std::string auto_dir{kDefaultAutoDir};
    // XENDOMAINS_CREATE_USLEEP: pause after each domain created.
    std::chrono::microseconds create_pause{5'000'000};
    // XENDOMAINS_STOP_MAXWAIT: how long `stop` may wait for domains to shut
    // down before destroying them; 0 waits without a limit.
    std::chrono::seconds stop_max_wait{300};
    // XENDOMAINS_AUTO_ONLY=true and XENDOMAINS_SHUTDOWN_ALL empty: `stop`
    // leaves domains that are not in the auto directory running.
    bool stop_only_auto = false;
    // XENDOMAINS_SYSRQ: sysrq keys sent to each domain, in order, just
    // before it is asked to shut down (as xendomains does: "s" syncs).
    std::vector<char> sysrq_keys;
    // XENDOMAINS_USLEEP: the pause after each sysrq key, so that the guest
    // reads one key before the next overwrites control/sysrq.
    std::chrono::microseconds sysrq_pause{100'000};
    // XENOLITH_XL: the xl that creates domains; empty: the `xl` next to
    // this program.
    std::string xl;
    // Variables of xendomains that xenolith cannot honour (save, restore,
    // migrate) and that were set to something: one note each.
    std::vector<std::string> notes;
};

// Parses the text of a settings file. `source` names it in messages, which
// read "file:line: what is wrong". Lines are `NAME=value`, optionally
// prefixed by `export`, with the value unquoted, 'single-quoted' or
// "double-quoted" (\" \\ \$ \` escapes); `#` starts a comment outside quotes.
// Shell expansion ($VAR, `cmd`, $(cmd)) is an error, not silently kept.
// Unknown variables are ignored (sysconfig files carry others).
Result<Settings> parse_settings(std::string_view text, std::string_view source);

// Reads and parses `path`. A missing file gives the defaults when
// `missing_is_default` (the standard location), an error otherwise.
Result<Settings> load_settings(const std::string& path, bool missing_is_default);

}  // namespace xenolith::autostart
