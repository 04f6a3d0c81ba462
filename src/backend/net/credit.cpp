#include "backend/net/credit.hpp"

#include <charconv>
#include <limits>

namespace xenolith::backend::net {

namespace {

bool parse_u64(std::string_view s, std::uint64_t& out) {
    if (s.empty() || s.size() > 20) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
    return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace

std::optional<RateLimit> parse_rate(std::string_view value) {
    auto comma = value.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    std::uint64_t bytes = 0, usecs = 0;
    if (!parse_u64(value.substr(0, comma), bytes) || !parse_u64(value.substr(comma + 1), usecs)) return std::nullopt;
    if (bytes == 0 || usecs == 0 || usecs > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    return RateLimit{bytes, std::chrono::microseconds(usecs)};
}

CreditLimiter::CreditLimiter(RateLimit limit, Clock::time_point now)
    : limit_(limit), remaining_(limit.bytes), window_start_(now) {}

void CreditLimiter::set_limit(RateLimit limit) {
    limit_ = limit;
    if (remaining_ > limit_.bytes) remaining_ = limit_.bytes;
}

// A new window: one window's credit on top of what is left, capped at one
// window's worth (no saving up across idle windows), so simply a full one.
void CreditLimiter::refill(Clock::time_point now) {
    remaining_ = limit_.bytes;
    window_start_ = now;
}

bool CreditLimiter::take(std::uint64_t size, Clock::time_point now) {
    // The window is renewed first: a window that ran out while the guest
    // was quiet starts now, so an idle spell buys no double burst.
    if (now >= next_window()) refill(now);
    if (size <= remaining_) {
        remaining_ -= size;
        return true;
    }
    // Larger than a whole window: let it through on a full window's credit,
    // which it uses up.
    if (size > limit_.bytes && remaining_ == limit_.bytes) {
        remaining_ = 0;
        return true;
    }
    ++refused_;
    return false;
}

int CreditLimiter::wait_ms(Clock::time_point now) const {
    auto at = next_window();
    if (now >= at) return 0;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(at - now).count();
    return static_cast<int>((us + 999) / 1000);
}

}  // namespace xenolith::backend::net
