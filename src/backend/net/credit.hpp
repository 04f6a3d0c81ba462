// A vif's transmit rate limit (libxl's `rate` node, "<bytes>,<usecs>"):
// credit-based as Linux's netback does it. Each window of `window` grants
// `bytes` of credit; a guest packet is sent when its size fits the
// credit left and waits for the next window otherwise. Unused credit does
// not pile up beyond one window's worth, so a quiet guest cannot save a
// burst. A packet larger than a whole window's credit would never fit: it
// is let through at the start of a window with the full credit in hand,
// and takes all of it (at most one such packet per window), so the average
// still holds.
//
// Netback consults it through QueueConfig::tx_credit before copying a
// packet out; a refused packet stays on the ring (not consumed, not
// answered) until next_window(). Not thread-safe: one back-end thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace xenolith::backend::net {

struct RateLimit {
    std::uint64_t bytes = 0;          // credit per window
    std::chrono::microseconds window{0};
};

// "<bytes>,<usecs>" as libxl writes it: decimal digits only, bytes and
// usecs above zero, usecs within 32 bits; nullopt otherwise (Linux then
// runs unlimited, and so does the caller).
std::optional<RateLimit> parse_rate(std::string_view value);

class CreditLimiter {
public:
    using Clock = std::chrono::steady_clock;

    // Starts with a full window of credit at `now`.
    CreditLimiter(RateLimit limit, Clock::time_point now);

    // Takes `size` bytes of credit for one packet: true to send it now,
    // false to hold it until next_window().
    bool take(std::uint64_t size, Clock::time_point now);
    // When a held packet may be tried again.
    Clock::time_point next_window() const { return window_start_ + limit_.window; }
    // Milliseconds from `now` until next_window() (rounded up; 0 if past).
    int wait_ms(Clock::time_point now) const;

    // A new limit (the `rate` node changed): applies from the next window.
    void set_limit(RateLimit limit);
    const RateLimit& limit() const { return limit_; }
    std::uint64_t remaining() const { return remaining_; }
    std::uint64_t refused() const { return refused_; }

private:
    void refill(Clock::time_point now);

    RateLimit limit_;
    std::uint64_t remaining_;
    Clock::time_point window_start_;
    std::uint64_t refused_ = 0;
};

}  // namespace xenolith::backend::net
