#include "toolstack/daemon/vif_tap.hpp"

#include <net/if.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "backend/net/tap.hpp"

namespace xenolith::toolstack {

namespace {
constexpr unsigned kMaxVifQueues = 8;
}

unsigned vif_queue_count() {
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    return std::clamp<unsigned>(cpus > 0 ? static_cast<unsigned>(cpus) : 1u, 1u, kMaxVifQueues);
}

bool host_interface_exists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

Result<std::vector<UniqueFd>> create_vif_tap(const std::string& name, unsigned queues) {
    // TUNSETIFF on an existing TAP attaches to it: check first. The window
    // between the check and the create is another root process's to race;
    // the daemon's own vifs claim their names before they get here.
    if (host_interface_exists(name))
        return make_error(fmt::format("tap {}: an interface of that name already exists on this "
                                      "host",
                                      name));
    return backend::net::open_tap(name, queues);
}

}  // namespace xenolith::toolstack
