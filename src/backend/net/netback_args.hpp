// The command line and fd layout of the xenolith-netback process: one
// definition shared by the launcher (xenolithd, the host netfront harness)
// and the binary that parses it, so the two cannot drift apart.
//
//   fd 3        the link (Grants, EventChannels; SOCK_SEQPACKET)
//   fd 4        the scoped xenstore connection
//   fd 5 .. 5+N-1  the vif's TAP, one fd per queue (--queues=N), opened by
//               the launcher (open_tap: vnet header, non-blocking)
#pragma once

#include <string>
#include <vector>

#include "backend/services.hpp"
#include "base/result.hpp"

namespace xenolith::backend::net {

inline constexpr int kNetLinkFd = 3;
inline constexpr int kNetXenstoreFd = 4;
inline constexpr int kFirstTapFd = 5;
// TAP queues one process takes (each is an fd and, with split event
// channels, two ports of the link's 64).
inline constexpr unsigned kMaxTapQueues = 16;

struct NetbackArgs {
    DomId frontend = 0;
    unsigned devid = 0;
    std::string backend_path;   // /local/domain/<be>/backend/vif/<domid>/<devid>
    std::string frontend_path;  // /local/domain/<domid>/device/vif/<devid>
    unsigned queues = 1;        // TAP fds handed, = multi-queue-max-queues offered
    bool csum_offload = true;   // false: --no-csum-offload (feature-no-csum-offload=1)
    bool relaunched = false;    // the previous process serving it died
};

std::vector<std::string> to_argv(const NetbackArgs& args);
// The binary's side: every argument checked, naming the bad one.
Result<NetbackArgs> parse_netback_args(const std::vector<std::string>& argv);

// "netback d<domid> <devid>": log prefix and the sandbox's name.
std::string netback_name(const NetbackArgs& args);

}  // namespace xenolith::backend::net
