// Xen system time: nanoseconds of the host's monotonic clock. Deadlines the
// guest passes (set_timer_op, singleshot timers, poll) are in this time.
#pragma once

#include <chrono>
#include <cstdint>

namespace xenolith::hypercall {

inline std::chrono::steady_clock::time_point system_time_to_deadline(std::uint64_t ns) {
    // Clamp far-future values instead of overflowing the clock's range.
    constexpr std::uint64_t kMax = std::uint64_t{1} << 62;
    return std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(static_cast<std::int64_t>(ns < kMax ? ns : kMax)));
}

inline std::uint64_t system_time_now() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace xenolith::hypercall
