// Small vocabulary shared by the xenstore core.
#pragma once

#include <cstdint>

extern "C" {
#include <xen/xen.h>
}

namespace xenolith::xenstore {

// Identifies a client connection for the lifetime of the Server (never reused).
using ConnId = std::uint64_t;

// Generation of a node that does not exist (transaction bookkeeping).
inline constexpr std::uint64_t kNoGeneration = ~std::uint64_t{0};

}  // namespace xenolith::xenstore
