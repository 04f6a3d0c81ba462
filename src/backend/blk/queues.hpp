// How many queues (rings) a vbd offers its front end: blkif.h's
// multi-queue-max-queues. Header-only: the launcher (xenolithd, the
// harness) resolves the default, the back-end binary bounds what it is told.
#pragma once

#include <sched.h>

#include <algorithm>

namespace xenolith::backend::blk {

// Ceiling of a configured maximum: bounds what a launcher may ask for.
inline constexpr unsigned kMaxQueuesCeiling = 16;

// The host CPUs this process may run on, capped at 4 (Linux's
// xenblk_max_queues default). Asks the kernel (sched_getaffinity), which
// the back-end's seccomp filter does not allow: resolve it outside.
inline unsigned default_max_queues() {
    cpu_set_t set;
    CPU_ZERO(&set);
    int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    return static_cast<unsigned>(std::clamp(cpus, 1, 4));
}

}  // namespace xenolith::backend::blk
