#include "daemon/requests.hpp"

#include <poll.h>
#include <unistd.h>

#include "console/console_backend.hpp"
#include "control/libxl_compat.hpp"
#include "control/protocol.hpp"
#include "daemon/request_util.hpp"

namespace xenolith::daemon {

using nlohmann::json;

json handle_request(Hypervisor& hv, const json& req) {
    const std::string cmd =
        req.contains("cmd") && req["cmd"].is_string() ? req["cmd"].get<std::string>() : "";
    for (auto family : {domain_requests(), host_requests(), vcpu_requests(), memory_requests(),
                        manage_requests(), device_requests(),
                        transfer_requests()})
        for (const RequestHandler& h : family)
            if (h.cmd == cmd) {
                // A field of the wrong type must not take the daemon down.
                try {
                    return h.fn(hv, req);
                } catch (const json::exception& e) {
                    return fail("malformed '" + cmd + "' request: " + e.what());
                }
            }
    return fail("unknown request '" + cmd + "'");
}

namespace {

// An optional boolean field; anything but `true` is false.
bool flag(const json& req, const char* key) {
    return req.contains(key) && req[key].is_boolean() && req[key].get<bool>();
}

}  // namespace

void serve_wait(Hypervisor& hv, int fd, const json& req) {
    const auto requested = request_domid(req);
    if (!requested) {
        (void)control::send_message(fd, fail("wait: no domid"));
        return;
    }
    // A domid no guest can have waits on nothing (never on its 16-bit wrap).
    const auto domid = static_cast<domid_t>(
        control::is_guest_domid(*requested) ? *requested : control::kDomidFirstReserved);
    const bool death = flag(req, "death");
    // Armed before xl asks the guest to shut down, so that a guest which
    // powers off at once is still seen shutting down, not just gone.
    auto d = hv.domains().get(domid);
    if (!control::send_message(fd, {{"ok", true}, {"armed", d != nullptr}})) return;
    for (;;) {
        // Gone first, then shut down: a domain destroyed after a shutdown was
        // reported shut down by then (Services::on_shutdown runs before the
        // toolstack's death handler sees it), so -w reports the shutdown, as xl would.
        const bool gone = !d || hv.domains().get(domid) != d;
        if (!death && d && hv.shutdown_reported(domid)) {
            (void)control::send_message(
                fd, {{"ok", true}, {"event", "shutdown"}, {"reason", d->shutdown_reason()}});
            return;
        }
        if (gone) {
            (void)control::send_message(fd, {{"ok", true}, {"event", "destroyed"}});
            return;
        }
        pollfd p{fd, POLLIN | POLLRDHUP, 0};
        if (::poll(&p, 1, 20) > 0) return;  // the client left (or spoke out of turn)
    }
}

void serve_console(Hypervisor& hv, int fd, const json& req) {
    const bool unpause = flag(req, "unpause");  // read before anything is attached
    auto d = find_domain(hv, req);
    if (!d || !d->console()) {
        (void)control::send_message(fd, fail("invalid domain identifier", 2));
        return;
    }
    if (!control::send_message(fd, {{"ok", true}, {"domid", d->domid()}})) return;
    console::ConsoleBackend* con = d->console();
    con->attach(fd);
    if (unpause) d->unpause();
    char buf[256];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        con->input(buf, static_cast<std::size_t>(n));
    }
    con->detach(fd);
}

}  // namespace xenolith::daemon
