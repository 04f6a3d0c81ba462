// What xenolith-domains asks xenolithd, over the control socket as xl does:
// the domain list, destroy, and shutting a group of domains down together
// (xl shutdown's request through ~/control/shutdown and xl shutdown -w's
// wait, for every domain of the group at once, under one deadline).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace xenolith::autostart {

struct DomainInfo {
    std::string name;
    unsigned domid = 0;
    bool shut_down = false;  // shut down and preserved (xl list's 's' or 'c')
    bool paused = false;
};

// The guests (not domain 0). Errors say that xenolithd cannot be reached.
Result<std::vector<DomainInfo>> list_domains();

// `xl destroy`: an error carries xenolithd's message.
Status destroy_domain(unsigned domid);

struct StopTarget {
    std::string name;
    unsigned domid = 0;
};

struct StopResult {
    enum class Outcome {
        shut_down,        // the guest shut itself down
        destroyed,        // did not shut down in time: destroyed
        destroyed_no_pv,  // cannot be asked (HVM without PV drivers): destroyed at once
        gone,             // destroyed by someone else meanwhile
        destroy_failed,   // still there: the destroy request failed
    };
    Outcome outcome = Outcome::shut_down;
    bool acknowledged = false;  // the guest cleared control/shutdown
    std::chrono::duration<double> took{};
    std::string detail;  // what failed, for the report
};

// `xl sysrq`: writes `key` to the domain's control/sysrq.
Status send_sysrq(unsigned domid, char key);

// Asks every target to power off at once, waits until each has shut down
// or `deadline` passes (none: wait as long as it takes), then destroys the
// ones still there. One result per target, in order.
std::vector<StopResult> stop_together(
    const std::vector<StopTarget>& targets,
    std::optional<std::chrono::steady_clock::time_point> deadline);

}  // namespace xenolith::autostart
