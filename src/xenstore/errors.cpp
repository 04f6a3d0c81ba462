#include "xenstore/errors.hpp"

#include <cerrno>  // xs_wire.h defines xsd_errors only once EINVAL is known
#include <cstdint>

extern "C" {
#include <xen/io/xs_wire.h>
}

namespace xenolith::xenstore {

std::string_view error_name(XsErr e) {
    for (const auto& entry : xsd_errors) {
        if (entry.errnum == static_cast<int>(e)) return entry.errstring;
    }
    return xsd_errors[0].errstring;  // EINVAL
}

}  // namespace xenolith::xenstore
