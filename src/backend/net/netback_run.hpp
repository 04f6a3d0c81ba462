// The body of xenolith-netback once its sandbox is in force: connect the
// services over the handed fds and serve the vif on its TAP queues until it
// is removed. Also run on a thread by the host netfront harness's
// in-process mode, so the sandbox's cost is measured against exactly the
// same code. One thread: a poll loop over the xenstore watch fd, the link's
// event fd and the TAP fds (VifDevice::poll_once).
#pragma once

#include <string>
#include <vector>

#include "backend/net/netback_args.hpp"

namespace xenolith::backend::net {

enum class NetbackExit : int {
    done = 0,   // the toolstack removed the device
    lost = 1,   // the link or the xenstore connection went away
    usage = 2,  // bad arguments
    setup = 3,  // a service or the device could not be set up
};

// Takes ownership of every fd (tap_fds: args.queues of them). `why` is set
// on every exit but `done`.
NetbackExit run_netback(const NetbackArgs& args, int link_fd, int xenstore_fd, std::vector<int> tap_fds,
                        std::string& why);

}  // namespace xenolith::backend::net
