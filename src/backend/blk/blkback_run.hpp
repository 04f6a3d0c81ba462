// The body of xenolith-blkback once its sandbox is in force: connect the
// services over the handed fds, open the disk, serve the vbd until it is
// removed. Also run on a thread by the host harness's in-process mode, so
// the sandbox's cost can be measured against exactly the same code.
#pragma once

#include <string>

#include "backend/blk/blkback_args.hpp"

namespace xenolith::backend::blk {

enum class BlkbackExit : int {
    done = 0,   // the toolstack removed the device
    lost = 1,   // the link or the xenstore connection went away
    usage = 2,  // bad arguments
    setup = 3,  // a service, the disk or the device could not be set up
};

// Takes ownership of the three fds (disk_fd -1 without a disk). `why` is set
// on every exit but `done`.
BlkbackExit run_blkback(const BlkbackArgs& args, int link_fd, int xenstore_fd, int disk_fd,
                        std::string& why);

}  // namespace xenolith::backend::blk
