// The command line and fd layout of the xenolith-blkback process: one
// definition shared by the launcher (xenolithd, the host front-end harness)
// and the binary that parses it, so the two cannot drift apart.
//
//   fd 3  the link (Grants, EventChannels; SOCK_SEQPACKET)
//   fd 4  the scoped xenstore connection
//   fd 5  the disk, opened by the launcher with the caller's rights
//         (absent for an empty cdrom)
#pragma once

#include <string>
#include <vector>

#include "backend/services.hpp"
#include "base/result.hpp"

namespace xenolith::backend::blk {

inline constexpr int kLinkFd = 3;
inline constexpr int kXenstoreFd = 4;
inline constexpr int kDiskFd = 5;

struct BlkbackArgs {
    DomId frontend = 0;
    unsigned devid = 0;
    std::string backend_path;   // /local/domain/<be>/backend/vbd/<domid>/<devid>
    std::string frontend_path;  // /local/domain/<domid>/device/vbd/<devid>
    bool readonly = false;      // mode=r
    bool cdrom = false;         // device-type=cdrom
    bool direct = false;        // direct-io-safe: try O_DIRECT
    bool has_disk = true;       // false: an empty cdrom, no fd 5
    bool relaunched = false;    // the previous process serving it died
    // multi-queue-max-queues offered, 1..kMaxQueuesCeiling. 0 (the
    // launcher's default): to_argv() writes default_max_queues(), asked of
    // the kernel on the launcher's side; the sandboxed binary cannot ask,
    // so a command line without --max-queues means 1.
    unsigned max_queues = 0;
};

std::vector<std::string> to_argv(const BlkbackArgs& args);
// The binary's side: every argument checked (the launcher is trusted, but a
// wrong one must fail loudly, naming the argument, rather than serve the
// wrong device).
Result<BlkbackArgs> parse_blkback_args(const std::vector<std::string>& argv);

// "blkback d<domid> <devid>", the prefix of its log lines and the
// sandbox's name.
std::string blkback_name(const BlkbackArgs& args);

}  // namespace xenolith::backend::blk
