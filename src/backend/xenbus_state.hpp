// The XenbusState machine of a split device (xen/io/xenbus.h), as pure
// functions: which states a back-end may move to, and what a front-end's
// "state" node says. The front-end is untrusted: its node may hold any
// bytes, an unknown number or a state that goes backwards.
#pragma once

#include <optional>
#include <string_view>

extern "C" {
#include <xen/io/xenbus.h>
}

namespace xenolith::backend {

using XenbusState = enum xenbus_state;

// "Initialising", "Connected", ... (Linux's xenbus_strstate names); "Invalid"
// for numbers outside the enum.
std::string_view xenbus_state_name(int state);

// Whether a back-end may go from `from` to `to`. Staying put is allowed (a
// switch to the current state is a no-op). A back-end goes Initialising ->
// InitWait (ready, waiting for the front-end) -> Connected, may close from
// anywhere (Closing, Closed), and from Closed serves a front-end that
// resets and reconnects by going to InitWait again. Reconfiguring and
// Reconfigured belong to other device classes (pvSCSI, vif) and are never
// legal for a vbd.
bool backend_transition_legal(XenbusState from, XenbusState to);

// The verdict on a front-end's state node.
enum class FrontendVerdict {
    ok,           // a legal move (or no change)
    malformed,    // not a plain decimal number
    unknown,      // a number that names no XenbusState
    unsupported,  // Reconfiguring/Reconfigured: not a vbd state
    backwards,    // e.g. Connected -> Initialised without closing first
};

struct FrontendState {
    FrontendVerdict verdict = FrontendVerdict::malformed;
    XenbusState state = XenbusStateUnknown;  // meaningful when verdict is ok
};

// Parses the front-end's "state" value (as read from xenstore, at most a few
// digits, no sign, no spaces) and judges the move from `previous`, the last
// state it was seen in. A removed node reads as Unknown (the front-end is
// gone), which is always acceptable. Closed -> Initialising is a front-end
// resetting (kexec, module reload, soft reset) and is legal.
FrontendState check_frontend_state(std::string_view value, XenbusState previous);

}  // namespace xenolith::backend
