// The request dispatcher: one table names each xsd_sockmsg_type, its
// handler and its privilege (C xenstored's wire_funcs).
#pragma once

#include <cstdint>
#include <string_view>

#include "xenstore/core.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore {

// Handles one request and returns its reply (ERROR with a name from
// xs_wire.h on failure). Unknown types and the daemon-only WATCH_EVENT and
// ERROR get ENOSYS; privileged types from an unprivileged connection EACCES;
// a tx_id naming no open transaction ENOENT.
Reply dispatch(Core& core, Connection& conn, const Message& msg);

// "READ", "WRITE", ...; "UNKNOWN" for anything else.
std::string_view message_type_name(std::uint32_t type);
bool message_type_privileged(std::uint32_t type);

}  // namespace xenolith::xenstore
