// A domain's handle as Xen tools print it: 8-4-4-4-12 lower-case hex.
#pragma once

#include <string>

#include <fmt/format.h>

#include "domain/domain.hpp"

namespace xenolith::daemon {

inline std::string uuid_string(const domain::Uuid& u) {
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                       "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                       u[12], u[13], u[14], u[15]);
}

}  // namespace xenolith::daemon
