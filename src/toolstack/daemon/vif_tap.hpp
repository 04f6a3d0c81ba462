// The host side of a vif as the toolstack makes it: a multi-queue TAP
// (backend/net/tap.hpp), created here, where CAP_NET_ADMIN is, and named
// as the hotplug scripts expect. Its queue fds go to the back-end; the
// toolstack keeps one copy so the interface outlives the back-end until the
// `offline` script has unplugged it (the TAP disappears with its last fd).
#pragma once

#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::toolstack {

// How many queues a vif's back-end offers (multi-queue-max-queues), and so
// how many fds its TAP gets: one per host CPU, at most 8, as Linux netback's
// default (xenvif_max_queues = num_online_cpus, capped here).
unsigned vif_queue_count();

// Creates TAP `name` with `queues` queue fds. Refused when an interface of
// that name already exists on the host: attaching to it would hand this
// guest someone else's traffic. Errors start "tap <name>: ".
Result<std::vector<UniqueFd>> create_vif_tap(const std::string& name, unsigned queues);

// Whether an interface `name` exists in this network namespace.
bool host_interface_exists(const std::string& name);

}  // namespace xenolith::toolstack
