// The control requests xenolithd serves, one handler per xl operation.
#pragma once

#include <nlohmann/json.hpp>

#include "daemon/hypervisor.hpp"

namespace xenolith::daemon {

// Runs one request; the reply always has "ok" and, on failure, "error"
// (the message xl prints) and "rc".
nlohmann::json handle_request(Hypervisor& hv, const nlohmann::json& req);

// "console": attaches `fd` to the domain's console and pumps keystrokes
// from it until the client or the domain goes away.
void serve_console(Hypervisor& hv, int fd, const nlohmann::json& req);

// "wait": replies at once ("armed"), then blocks until the domain has shut
// down (or, with "death", is gone), as xl's wait_for_domain_deaths, and
// sends the event. Gives up when the client goes away.
void serve_wait(Hypervisor& hv, int fd, const nlohmann::json& req);

// "save" and "restore": validate, reply {"ok":true,"send_fd":true}, take
// the client's descriptor (control/fd_passing.hpp), stream the domain to
// or from it with {"progress": line} messages, then the final reply
// (request_transfer.cpp).
void serve_transfer(Hypervisor& hv, int fd, const nlohmann::json& req);

}  // namespace xenolith::daemon
