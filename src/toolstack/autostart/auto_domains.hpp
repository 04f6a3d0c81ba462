// The domains of the auto directory (/etc/xen/auto): each file's domain
// name and the xenolith ordering key start_after.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "toolstack/config/value.hpp"

namespace xenolith::autostart {

// The xenolith extension key of xl.cfg: names of domains that must be
// running before this one is created (and that are shut down only after it).
inline constexpr std::string_view kStartAfterKey = "start_after";

// More files than this in the auto directory is a mistake, not a host.
inline constexpr std::size_t kMaxAutoFiles = 4096;
// The daemon's limit on domain names.
inline constexpr std::size_t kMaxDomainNameBytes = 64;

struct AutoDomain {
    std::string file;                      // the path in the auto directory
    std::string name;                      // name= of the config
    std::vector<std::string> start_after;  // as written, duplicates removed
    std::uint32_t start_after_line = 0;    // where start_after is set, for messages
};

// start_after as a list of names: a string or a list of strings, each a
// valid domain name. Absent: empty. Errors read "file:line: start_after: ...".
Result<std::vector<std::string>> read_start_after(const config::ParsedConfig& parsed);

// Reads one config file the way `xl create` would (so a config xl refuses
// is refused here too, with xl's message) and takes its name and order.
Result<AutoDomain> read_auto_domain(const std::string& path);

struct AutoDirScan {
    bool dir_exists = false;
    std::vector<AutoDomain> domains;  // sorted by file name
    std::vector<std::string> errors;  // one per file that could not be read
};

// What xendomains' `$XENDOMAINS_AUTO/*` finds: every entry whose name does
// not start with '.', in byte order of the names. Entries that are not
// regular files (after symlinks) are errors. A missing directory is not an
// error: there is nothing to start.
AutoDirScan scan_auto_dir(const std::string& dir);

}  // namespace xenolith::autostart
