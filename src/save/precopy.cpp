#include "save/precopy.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>

#include <fmt/format.h>

namespace xenolith::save {

namespace {

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// Runs one round and records it.
template <class Send>
Status timed_round(PageSender& sender, unsigned iteration, bool paused, std::uint64_t pages, Send send,
                   PrecopyResult& result, const PrecopyHooks& hooks) {
    const std::uint64_t bytes_before = sender.counts().bytes;
    const std::uint64_t t0 = now_ns();
    if (auto st = send(); !st) return make_error(fmt::format("round {}: {}", iteration, st.error().what));
    PrecopyRound round{iteration, paused, pages, sender.counts().bytes - bytes_before, now_ns() - t0};
    result.rounds.push_back(round);
    if (hooks.progress) hooks.progress(round);
    return ok_status();
}

}  // namespace

Result<PrecopyResult> run_precopy(PageSender& sender, DirtyLog& log, const PrecopyPolicy& policy,
                                  const PrecopyHooks& hooks) {
    PrecopyResult result;
    const std::uint64_t start = now_ns();

    const std::uint64_t frames_before = sender.counts().pages_with_data + sender.counts().pages_absent + sender.counts().pages_unwritten;
    if (auto st = timed_round(
            sender, 0, false, 0, [&] { return sender.send_all(); }, result, hooks);
        !st) {
        return st.error();
    }
    result.rounds.back().pages = sender.counts().pages_with_data + sender.counts().pages_absent + sender.counts().pages_unwritten - frames_before;

    std::vector<std::uint64_t> dirty;
    for (unsigned iteration = 1;; ++iteration) {
        auto taken = log.take_dirty();
        if (!taken) return make_error(fmt::format("dirty log after round {}: {}", iteration - 1, taken.error().what));
        dirty = std::move(*taken);
        if (dirty.size() < policy.target_dirty_pages || iteration >= policy.max_iterations) break;
        if (auto st = timed_round(
                sender, iteration, false, dirty.size(), [&] { return sender.send_written(dirty); }, result, hooks);
            !st) {
            return st.error();
        }
    }

    // Stop and copy: what was still dirty, what was written since, then
    // the rest of the state, all while the guest cannot change any of it.
    if (auto st = hooks.pause(); !st) return make_error(fmt::format("pausing the guest: {}", st.error().what));
    const std::uint64_t paused_at = now_ns();
    auto fail = [&](Error e) -> Result<PrecopyResult> {
        if (hooks.resume_after_failure) hooks.resume_after_failure();
        return e;
    };
    auto last = log.take_dirty();
    if (!last) return fail(make_error(fmt::format("dirty log while paused: {}", last.error().what)));
    std::vector<std::uint64_t> logged, final_set;
    logged.reserve(dirty.size() + last->size());
    std::merge(dirty.begin(), dirty.end(), last->begin(), last->end(), std::back_inserter(logged));
    const std::vector<std::uint64_t> mapped = log.writably_mapped();
    final_set.reserve(logged.size() + mapped.size());
    std::merge(logged.begin(), logged.end(), mapped.begin(), mapped.end(), std::back_inserter(final_set));
    final_set.erase(std::unique(final_set.begin(), final_set.end()), final_set.end());
    const auto iteration = static_cast<unsigned>(result.rounds.size());
    if (auto st = timed_round(
            sender, iteration, true, final_set.size(), [&] { return sender.send_written(final_set); }, result, hooks);
        !st) {
        return fail(st.error());
    }
    if (auto st = hooks.send_paused_state(); !st) {
        return fail(make_error(fmt::format("sending the paused state: {}", st.error().what)));
    }
    const std::uint64_t end = now_ns();
    result.paused_ns = end - paused_at;
    result.total_ns = end - start;
    return result;
}

}  // namespace xenolith::save
