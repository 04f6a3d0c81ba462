// Live migration's memory phase: pre-copy rounds while the guest runs,
// then stop-and-copy.
//
//   round 0   every frame, guest running, dirty logging on
//   round n   the frames written during round n-1, guest running
//   stop      when a round would send fewer than `target_dirty_pages`
//             or `max_iterations` rounds have run: pause, send what is
//             still dirty and the paused state (vCPUs, params, ...)
//
// The policy is libxc's default (SPP_MAX_ITERATIONS 5,
// SPP_TARGET_DIRTY_COUNT 50), so a guest migrates in the same number of
// rounds as on Xen. The paused time measured here is the sender's share
// of the downtime: from the pause to the last byte of state written.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "base/result.hpp"
#include "save/page_sender.hpp"

namespace xenolith::save {

// Where the frames written since the last look come from: KVM's log for
// the guest's own writes merged with the software DirtyBitmap.
class DirtyLog {
public:
    virtual ~DirtyLog() = default;
    // Frames written since the previous call (or since logging began), in
    // increasing order; the log forgets them.
    virtual Result<std::vector<std::uint64_t>> take_dirty() = 0;
    // Frames someone else can write without the log seeing it, in
    // increasing order: those a back-end holds mapped writable (a
    // persistent grant is never unmapped, so never marked). The paused
    // round sends them whatever the log says.
    virtual std::vector<std::uint64_t> writably_mapped() { return {}; }
};

struct PrecopyPolicy {
    unsigned max_iterations = 5;
    std::uint64_t target_dirty_pages = 50;
};

struct PrecopyRound {
    unsigned iteration = 0;
    bool paused = false;         // the stop-and-copy round
    std::uint64_t pages = 0;     // frames sent (with data or absent)
    std::uint64_t bytes = 0;
    std::uint64_t ns = 0;
};

struct PrecopyResult {
    std::vector<PrecopyRound> rounds;
    std::uint64_t paused_ns = 0;  // pause() returning to the state written
    std::uint64_t total_ns = 0;
};

struct PrecopyHooks {
    std::function<Status()> pause;
    // Writes everything after memory while paused (vCPU state, params...).
    std::function<Status()> send_paused_state;
    // Called after a failure once the guest was paused, so a migration
    // that fails leaves the source running.
    std::function<void()> resume_after_failure;
    // After each round (progress output); may be empty.
    std::function<void(const PrecopyRound&)> progress;
};

// `log` must already be logging (its first take_dirty answers the writes
// made during round 0).
Result<PrecopyResult> run_precopy(PageSender& sender, DirtyLog& log, const PrecopyPolicy& policy,
                                  const PrecopyHooks& hooks);

}  // namespace xenolith::save
