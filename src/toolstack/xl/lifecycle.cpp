// xl destroy, shutdown, reboot, pause, unpause.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "control/libxl_compat.hpp"
#include "control/protocol.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

// What libxl logs when destroy, pause or unpause names a domid no domain
// has (libxl_domain_destroy, libxl_domain_pause, libxl_domain_unpause in
// Xen 4.17), and the exit status xl then has: destroy fails, while xl
// ignores what pause and unpause return.
int no_such_domain(std::string_view cmd, std::uint32_t domid) {
    if (cmd == "pause") {
        libxl_log("error", "libxl_domain.c:587:libxl_domain_pause", domid,
                  std::string("Pausing domain: ") + std::strerror(ESRCH));
        return EXIT_SUCCESS;
    }
    if (cmd == "unpause") {
        libxl_log("error", "libxl_dom.c:37:libxl__domain_type", control::kNoDomid,
                  "unable to get domain type for domid=" + std::to_string(domid));
        return EXIT_SUCCESS;
    }
    libxl_log("error", "libxl_xshelp.c:154:libxl__xs_get_dompath", domid,
              std::string("Failed to get dompath: ") + std::strerror(ENOENT));
    libxl_log("error", "libxl_domain.c:1183:libxl__destroy_domid", domid, "Non-existant domain");
    libxl_log("error", "libxl_domain.c:1137:domain_destroy_callback", domid,
              "Unable to destroy guest");
    libxl_log("error", "libxl_domain.c:1064:domain_destroy_cb", domid,
              "Destruction of domain failed");
    std::fprintf(stderr, "destroy failed (rc=%d)\n", kLibxlErrorDomainNotFound);
    return EXIT_FAILURE;
}

// main_destroy, main_pause, main_unpause: the domain as find_domain reads
// it (a number is a domid, whether or not a domain has it), then the
// libxl call.
int simple(const char* cmd, const Args& a) {
    const bool destroy = std::string_view(cmd) == "destroy";
    int rc = 0;
    auto o = parse_options(a, cmd, destroy ? "f" : "", {}, 1, rc);
    if (!o) return rc;
    auto t = find_target(o->args[0], rc);
    if (!t) return rc;
    if (t->domid == 0) {
        if (destroy && !has_flag(*o, 'f')) {
            std::fprintf(stderr, "Not destroying domain 0; use -f to force.\n"
                                 "This can only be done when using a disaggregated "
                                 "hardware domain and toolstack.\n\n");
        } else {
            std::fprintf(stderr, "%s: cannot %s domain 0 (the host)\n", cmd, cmd);
        }
        return EXIT_FAILURE;
    }
    if (t->entry.is_null()) return no_such_domain(cmd, t->domid);
    auto reply = request({{"cmd", cmd}, {"domain", std::to_string(t->domid)}});
    if (!reply) return EXIT_FAILURE;
    if (!(*reply)["ok"].get<bool>()) {
        if ((*reply)["rc"] == 2) return no_such_domain(cmd, t->domid);  // gone meanwhile
        std::fprintf(stderr, "%s\n", (*reply)["error"].get<std::string>().c_str());
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

// libxl_domain_shutdown / libxl_domain_reboot through xenolithd, which
// writes ~/control/shutdown and waits for the guest's acknowledgement.
// Exits like xl's shutdown_domain()/reboot_domain() on failure.
void pv_control(unsigned domid, bool reboot) {
    std::fprintf(stderr, "%s domain %u\n", reboot ? "Rebooting" : "Shutting down", domid);
    nlohmann::json req = {{"cmd", "shutdown"},
                          {"domain", std::to_string(domid)},
                          {"action", reboot ? "reboot" : "poweroff"}};
    // Not an xl option: lets tests shorten libxl's 60 s acknowledgement wait.
    if (const char* t = std::getenv("XENOLITH_PVCONTROL_TIMEOUT_MS"))
        req["timeout_ms"] = std::strtoull(t, nullptr, 10);
    auto reply = request(req);
    if (!reply) std::exit(EXIT_FAILURE);
    if ((*reply)["ok"].get<bool>()) return;
    const int rc = reply->value("libxl_rc", -3);
    if (rc == -10) {  // ERROR_NOPARAVIRT
        std::fprintf(stderr, reboot ? "PV control interface not available: external graceful "
                                      "reboot not possible.\n"
                                      "Use \"-F\" to fallback to ACPI reset event.\n"
                                    : "PV control interface not available: external graceful "
                                      "shutdown not possible.\n"
                                      "Use \"-F\" to fallback to ACPI power event.\n");
    } else {
        const std::string log = reply->value("log", reply->value("error", std::string()));
        if (!log.empty()) std::fprintf(stderr, "%s\n", log.c_str());
    }
    std::fprintf(stderr, "%s failed (rc=%d)\n", reboot ? "reboot" : "shutdown", rc);
    std::exit(EXIT_FAILURE);
}

// xl's libxl_evenable_domain_death: one connection per domain, armed
// before the request so that a guest that powers off at once is not missed.
UniqueFd arm_wait(unsigned domid, bool shutdown_is_enough) {
    UniqueFd fd = connect_daemon();
    if (!fd.valid()) std::exit(EXIT_FAILURE);
    const nlohmann::json req = {{"cmd", "wait"}, {"domid", domid}, {"death", !shutdown_is_enough}};
    if (!control::send_message(fd.get(), req)) std::exit(EXIT_FAILURE);
    auto r = control::recv_message(fd.get());
    if (!r || !*r) {
        std::fprintf(stderr, "wait for death failed (evgen, rc=-3)\n");
        std::exit(EXIT_FAILURE);
    }
    return fd;
}

// xl's wait_for_domain_deaths: -w is satisfied by a shutdown, -ww only by
// the domain's destruction. Messages go to stderr, as xl's LOG().
void wait_for_deaths(const std::vector<unsigned>& domids, std::vector<UniqueFd>& fds) {
    std::fprintf(stderr, "Waiting for %zu domains\n", domids.size());
    for (std::size_t i = 0; i < domids.size(); ++i) {
        auto r = control::recv_message(fds[i].get());
        if (!r || !*r) {
            std::fprintf(stderr, "Failed to get event, quitting (rc=-3)\n");
            std::exit(EXIT_FAILURE);
        }
        const nlohmann::json& reply = **r;
        if (reply.value("event", "") == "shutdown")
            std::fprintf(stderr, "Domain %u has been shut down, reason code %d\n", domids[i],
                         reply.value("reason", 0));
        else
            std::fprintf(stderr, "Domain %u has been destroyed\n", domids[i]);
    }
}

int shutdown_or_reboot(bool reboot, const Args& a) {
    const char* what = reboot ? "reboot" : "shutdown";
    bool all = false;
    int wait = 0;
    std::string dom;
    for (std::size_t i = 1; i < a.size(); ++i) {
        const std::string& s = a[i];
        if (s == "-a" || s == "--all") {
            all = true;
        } else if (s == "-w" || s == "--wait") {
            ++wait;
        } else if (s == "-F") {
            // ACPI fallback: only for HVM guests without PV drivers.
        } else if (s.size() > 1 && s[0] == '-' && s[1] != '-' &&
                   s.find_first_not_of("awF", 1) == std::string::npos) {
            for (char c : s.substr(1)) {
                if (c == 'a') all = true;
                if (c == 'w') ++wait;
            }
        } else if (s[0] == '-') {
            return print_usage(what), 2;
        } else if (dom.empty()) {
            dom = s;
        }
    }
    if (dom.empty() && !all) {
        std::fprintf(stderr, "You must specify -a or a domain id.\n\n");
        return EXIT_FAILURE;
    }
    std::vector<unsigned> domids;
    if (all) {
        auto reply = request({{"cmd", "list"}});
        if (!reply) return EXIT_FAILURE;
        for (const auto& d : (*reply)["domains"])
            if (d["domid"].get<unsigned>() != 0) domids.push_back(d["domid"].get<unsigned>());
    } else {
        int rc = 0;
        auto t = find_target(dom, rc);
        if (!t) return rc;
        const std::uint32_t domid = t->domid;
        if (t->entry.is_null()) {
            // libxl_domain_shutdown/reboot of a domid nobody has: the type
            // lookup fails first (ERROR_FAIL).
            std::fprintf(stderr, "%s domain %u\n", reboot ? "Rebooting" : "Shutting down", domid);
            libxl_log("error", "libxl_dom.c:37:libxl__domain_type", control::kNoDomid,
                      "unable to get domain type for domid=" + std::to_string(domid));
            std::fprintf(stderr, "%s failed (rc=%d)\n", what, kLibxlErrorFail);
            return EXIT_FAILURE;
        }
        if (domid == 0) {
            std::fprintf(stderr, "%s: cannot %s domain 0 (the host)\n", what, what);
            return EXIT_FAILURE;
        }
        domids.push_back(domid);
    }
    std::vector<UniqueFd> waits;
    if (wait)
        for (unsigned domid : domids) waits.push_back(arm_wait(domid, wait == 1));
    for (unsigned domid : domids) pv_control(domid, reboot);
    if (wait && !domids.empty()) wait_for_deaths(domids, waits);
    return EXIT_SUCCESS;
}

}  // namespace

int cmd_destroy(const Args& a) { return simple("destroy", a); }
int cmd_shutdown(const Args& a) { return shutdown_or_reboot(false, a); }
int cmd_reboot(const Args& a) { return shutdown_or_reboot(true, a); }
int cmd_pause(const Args& a) { return simple("pause", a); }
int cmd_unpause(const Args& a) { return simple("unpause", a); }

}  // namespace xenolith::xl
