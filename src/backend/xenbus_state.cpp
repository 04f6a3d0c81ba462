#include "backend/xenbus_state.hpp"

#include <array>
#include <charconv>

namespace xenolith::backend {

namespace {

constexpr std::array<std::string_view, 9> kNames = {
    "Unknown",   "Initialising", "InitWait",      "Initialised", "Connected",
    "Closing",   "Closed",       "Reconfiguring", "Reconfigured",
};

bool is_vbd_state(int s) { return s >= XenbusStateUnknown && s <= XenbusStateClosed; }

// A front-end moves forward through Initialising -> Initialised -> Connected
// and may start closing at any point; after Closed it may begin again.
bool frontend_move_legal(XenbusState from, XenbusState to) {
    if (from == to || to == XenbusStateUnknown) return true;
    if (to == XenbusStateClosing || to == XenbusStateClosed) return true;
    switch (from) {
    case XenbusStateUnknown:
    case XenbusStateClosed:
        // A fresh or reset front-end starts over; a quick one may skip steps.
        return to == XenbusStateInitialising || to == XenbusStateInitialised ||
               to == XenbusStateConnected;
    case XenbusStateInitialising:
        return to == XenbusStateInitialised || to == XenbusStateConnected;
    case XenbusStateInitialised:
        return to == XenbusStateConnected;
    case XenbusStateInitWait:  // a back-end state; a front-end claiming it is odd
    case XenbusStateConnected:
    case XenbusStateClosing:
    default:
        return false;
    }
}

}  // namespace

std::string_view xenbus_state_name(int state) {
    if (state < 0 || static_cast<std::size_t>(state) >= kNames.size()) return "Invalid";
    return kNames[static_cast<std::size_t>(state)];
}

bool backend_transition_legal(XenbusState from, XenbusState to) {
    if (!is_vbd_state(from) || !is_vbd_state(to)) return false;
    if (from == to) return true;
    if (to == XenbusStateClosing || to == XenbusStateClosed) return from != XenbusStateClosed ||
                                                                     to == XenbusStateClosed;
    switch (from) {
    case XenbusStateInitialising:
        return to == XenbusStateInitWait;
    case XenbusStateInitWait:
        return to == XenbusStateConnected;
    case XenbusStateClosed:
        return to == XenbusStateInitWait;  // the front-end reset: serve it again
    default:
        return false;
    }
}

FrontendState check_frontend_state(std::string_view value, XenbusState previous) {
    // Xen's own readers use strtoul; here anything but plain digits is
    // refused, and a long string of digits is "unknown", never an overflow.
    if (value.empty() || value.size() > 10) {
        return {value.empty() ? FrontendVerdict::malformed : FrontendVerdict::unknown,
                XenbusStateUnknown};
    }
    unsigned long n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || end != value.data() + value.size()) {
        return {FrontendVerdict::malformed, XenbusStateUnknown};
    }
    if (n > XenbusStateReconfigured) return {FrontendVerdict::unknown, XenbusStateUnknown};
    auto state = static_cast<XenbusState>(n);
    if (!is_vbd_state(state)) return {FrontendVerdict::unsupported, state};
    if (!frontend_move_legal(previous, state)) return {FrontendVerdict::backwards, state};
    return {FrontendVerdict::ok, state};
}

}  // namespace xenolith::backend
