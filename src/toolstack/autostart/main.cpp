// xenolith-domains: starts the domains of the auto directory at boot, in
// start_after order, and shuts them down at host shutdown in the reverse
// order, destroying what does not stop in time. The actions, settings and
// reports follow Xen's xendomains script; the ordering is xenolith's.
// See ARCHITECTURE.md ("Autostart") and dist/systemd/.
#include <getopt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "toolstack/autostart/auto_domains.hpp"
#include "toolstack/autostart/daemon_client.hpp"
#include "toolstack/autostart/order.hpp"
#include "toolstack/autostart/settings.hpp"
#include "toolstack/autostart/xl_process.hpp"

namespace {

using namespace xenolith;
using namespace xenolith::autostart;
using Clock = std::chrono::steady_clock;

// Exit codes: the LSB init-script ones, which systemd reports by name.
constexpr int kOk = 0;
constexpr int kFailed = 1;           // some domain failed to start or to shut down
constexpr int kBadUsage = 2;         // invalid option
constexpr int kUnknownAction = 3;    // as xendomains (status: not running)
constexpr int kStatusNotRunning = 3;
constexpr int kStatusUnknown = 4;
constexpr int kNotInstalled = 5;     // xl not found
constexpr int kNotConfigured = 6;    // settings or configs wrong: nothing done
constexpr int kDaemonNotRunning = 7;

constexpr const char* kProgram = "xenolith-domains";

void usage(std::FILE* out) {
    std::fprintf(out,
                 "Usage: %s [--config FILE] [--auto-dir DIR] {start|stop|restart|reload|status}\n"
                 "  start    create the domains of the auto directory in start_after order,\n"
                 "           skipping those already running\n"
                 "  stop     shut domains down, dependents first; destroy those still running\n"
                 "           after XENDOMAINS_STOP_MAXWAIT seconds\n"
                 "  restart  stop, then start (reload: the same, as in xendomains)\n"
                 "  status   which auto domains run; exit 0 when all of them do\n"
                 "  --config FILE   settings (default %s)\n"
                 "  --auto-dir DIR  the auto directory (default XENDOMAINS_AUTO, %s)\n",
                 kProgram, std::string(kDefaultSettingsFile).c_str(),
                 std::string(kDefaultAutoDir).c_str());
}

void error_lines(const std::string& text) {
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t nl = text.find('\n', pos);
        std::fprintf(stderr, "%s: %s\n", kProgram,
                     text.substr(pos, nl == std::string::npos ? nl : nl - pos).c_str());
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
}

std::map<std::string, DomainInfo> by_name(const std::vector<DomainInfo>& list) {
    std::map<std::string, DomainInfo> m;
    for (const DomainInfo& d : list) m.emplace(d.name, d);
    return m;
}

std::string joined(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

// ---- start -------------------------------------------------------------

int start(const Settings& settings) {
    if (settings.auto_dir.empty()) {
        std::printf("Starting auto Xen domains: none (XENDOMAINS_AUTO is empty)\n");
        return kOk;
    }
    AutoDirScan scan = scan_auto_dir(settings.auto_dir);
    if (!scan.errors.empty()) {
        for (const std::string& e : scan.errors) error_lines(e);
        error_lines("no domain started");
        return kNotConfigured;
    }
    if (!scan.dir_exists) {
        std::printf("Starting auto Xen domains: none (%s does not exist)\n",
                    settings.auto_dir.c_str());
        return kOk;
    }
    if (scan.domains.empty()) {
        std::printf("Starting auto Xen domains: none in %s\n", settings.auto_dir.c_str());
        return kOk;
    }
    auto list = list_domains();
    if (!list) {
        error_lines(list.error().what + "\nno domain started");
        return kDaemonNotRunning;
    }
    std::map<std::string, DomainInfo> existing = by_name(*list);
    std::set<std::string> existing_names;
    for (const auto& [name, info] : existing) existing_names.insert(name);
    auto levels = plan_start(scan.domains, existing_names, settings.auto_dir);
    if (!levels) {
        error_lines(levels.error().what + "\nno domain started");
        return kNotConfigured;
    }
    std::size_t to_create = 0;
    for (const auto& level : *levels)
        for (std::size_t i : level) to_create += existing.count(scan.domains[i].name) ? 0 : 1;
    std::string xl;
    if (to_create > 0) {
        auto found = find_xl(settings.xl);
        if (!found) {
            error_lines(found.error().what + "\nno domain started");
            return kNotInstalled;
        }
        xl = *found;
    }

    std::printf("Starting auto Xen domains:\n");
    std::fflush(stdout);
    std::set<std::string> up;  // running now, so its dependents may start
    for (const auto& [name, info] : existing)
        if (!info.shut_down) up.insert(name);
    int rc = kOk;
    std::size_t created = 0;
    for (const auto& level : *levels) {
        for (std::size_t i : level) {
            const AutoDomain& d = scan.domains[i];
            if (auto it = existing.find(d.name); it != existing.end()) {
                std::printf(" %s(skip): %s (domid %u)\n", d.name.c_str(),
                            it->second.shut_down ? "exists, shut down" : "already running",
                            it->second.domid);
                if (it->second.shut_down) rc = kFailed;
                std::fflush(stdout);
                continue;
            }
            std::vector<std::string> not_up;
            for (const std::string& dep : d.start_after)
                if (!up.count(dep)) not_up.push_back(dep);
            if (!not_up.empty()) {
                std::printf(" %s: not started: start_after %s, which did not start\n",
                            d.name.c_str(), joined(not_up).c_str());
                rc = kFailed;
                std::fflush(stdout);
                continue;
            }
            auto run = run_xl(xl, {"create", "--quiet", d.file});
            ++created;
            if (!run || run->exit_code != 0) {
                if (run)
                    std::printf(" %s: failed: xl create %s exited with %d:\n", d.name.c_str(),
                                d.file.c_str(), run->exit_code);
                else
                    std::printf(" %s: failed:\n", d.name.c_str());
                const std::string out = run ? run->output : run.error().what;
                std::size_t pos = 0;
                while (pos < out.size()) {
                    const std::size_t nl = out.find('\n', pos);
                    const std::size_t end = nl == std::string::npos ? out.size() : nl;
                    std::printf("   %s\n", out.substr(pos, end - pos).c_str());
                    pos = end + 1;
                }
                rc = kFailed;
                std::fflush(stdout);
                continue;
            }
            // xl create says nothing on success; the list has the domid.
            std::optional<DomainInfo> created_domain;
            if (auto now = list_domains(); now) {
                for (const DomainInfo& info : *now)
                    if (info.name == d.name && !info.shut_down) created_domain = info;
            }
            if (!created_domain) {
                std::printf(" %s: created, but no longer running (see its console log)\n",
                            d.name.c_str());
                rc = kFailed;
                std::fflush(stdout);
                continue;
            }
            up.insert(d.name);
            std::printf(" %s: started (domid %u)\n", d.name.c_str(), created_domain->domid);
            std::fflush(stdout);
            // xendomains' pause, so guests do not all boot at once; none
            // after the last one.
            if (created < to_create && settings.create_pause.count() > 0)
                std::this_thread::sleep_for(settings.create_pause);
        }
    }
    std::printf("  [%s]\n", rc == kOk ? "done" : "failed");
    return rc;
}

// ---- stop --------------------------------------------------------------

std::string seconds(std::chrono::duration<double> d) { return fmt::format("{:.1f} s", d.count()); }

int stop(const Settings& settings) {
    auto list = list_domains();
    if (!list) {
        std::printf("Shutting down Xen domains: none (%s)\n", list.error().what.c_str());
        return kOk;  // no daemon, no domains
    }
    for (const std::string& note : settings.notes) error_lines(note);
    AutoDirScan scan;
    if (!settings.auto_dir.empty()) scan = scan_auto_dir(settings.auto_dir);
    for (const std::string& e : scan.errors)
        error_lines(e + " (its domain is stopped like any other)");

    std::set<std::string> up;
    for (const DomainInfo& d : *list)
        if (!d.shut_down) up.insert(d.name);
    std::vector<std::string> warnings;
    const Levels auto_levels = plan_stop(scan.domains, up, warnings);
    for (const std::string& w : warnings) error_lines(w);

    const std::map<std::string, DomainInfo> running = by_name(*list);
    std::vector<std::vector<StopTarget>> levels;
    std::set<std::string> in_auto;
    for (const AutoDomain& d : scan.domains) in_auto.insert(d.name);
    for (const auto& level : auto_levels) {
        std::vector<StopTarget> targets;
        for (std::size_t i : level) {
            const DomainInfo& info = running.at(scan.domains[i].name);
            targets.push_back({info.name, info.domid});
        }
        levels.push_back(std::move(targets));
    }
    // Other domains may use the auto ones (a guest on netdd's network), so
    // they go with the first level, unless told to leave them running.
    std::vector<StopTarget> others;
    for (const DomainInfo& d : *list)
        if (!d.shut_down && !in_auto.count(d.name)) others.push_back({d.name, d.domid});

    std::printf("Shutting down Xen domains:\n");
    if (settings.stop_only_auto) {
        for (const StopTarget& t : others)
            std::printf(" %s(skip): not an auto domain (XENDOMAINS_AUTO_ONLY)\n", t.name.c_str());
    } else if (!others.empty()) {
        if (levels.empty()) levels.emplace_back();
        levels.front().insert(levels.front().end(), others.begin(), others.end());
    }
    if (levels.empty()) {
        std::printf(" none running\n  [done]\n");
        return kOk;
    }
    std::fflush(stdout);

    // XENDOMAINS_STOP_MAXWAIT bounds the whole stop: each level may use the
    // time left divided by the levels left, so a level that stops quickly
    // hands its share down and a hung one cannot starve the rest.
    std::optional<Clock::time_point> overall;
    if (settings.stop_max_wait.count() > 0) overall = Clock::now() + settings.stop_max_wait;
    int rc = kOk;
    for (std::size_t l = 0; l < levels.size(); ++l) {
        std::optional<Clock::time_point> deadline;
        std::chrono::duration<double> share{};
        if (overall) {
            const auto now = Clock::now();
            share = std::max(Clock::duration::zero(), *overall - now) /
                    static_cast<long>(levels.size() - l);
            deadline = now + std::chrono::duration_cast<Clock::duration>(share);
        }
        // xendomains: the sysrq keys first, to each domain of the level.
        for (const StopTarget& t : levels[l]) {
            for (char key : settings.sysrq_keys) {
                if (Status s = send_sysrq(t.domid, key); s)
                    std::printf(" %s: sysrq %c\n", t.name.c_str(), key);
                else
                    std::printf(" %s: sysrq %c failed: %s\n", t.name.c_str(), key,
                                s.error().what.c_str());
                std::this_thread::sleep_for(settings.sysrq_pause);
            }
        }
        const std::vector<StopResult> results = stop_together(levels[l], deadline);
        for (std::size_t k = 0; k < results.size(); ++k) {
            const StopTarget& t = levels[l][k];
            const StopResult& r = results[k];
            using O = StopResult::Outcome;
            switch (r.outcome) {
            case O::shut_down:
                std::printf(" %s: shut down (domid %u, %s)\n", t.name.c_str(), t.domid,
                            seconds(r.took).c_str());
                break;
            case O::destroyed:
                std::printf(" %s: did not shut down within %s (%s): destroyed (domid %u)\n",
                            t.name.c_str(), seconds(share).c_str(),
                            r.acknowledged ? "it acknowledged the request"
                                           : "the request was not acknowledged",
                            t.domid);
                rc = kFailed;
                break;
            case O::destroyed_no_pv:
                std::printf(" %s: cannot be asked to shut down (%s): destroyed (domid %u)\n",
                            t.name.c_str(), r.detail.c_str(), t.domid);
                rc = kFailed;
                break;
            case O::gone:
                std::printf(" %s: gone meanwhile, destroyed elsewhere%s (domid %u)\n",
                            t.name.c_str(), r.detail.empty() ? "" : (" (" + r.detail + ")").c_str(),
                            t.domid);
                break;
            case O::destroy_failed:
                std::printf(" %s: still running: %s (domid %u)\n", t.name.c_str(),
                            r.detail.c_str(), t.domid);
                rc = kFailed;
                break;
            }
        }
        std::fflush(stdout);
    }
    std::printf("  [%s]\n", rc == kOk ? "done" : "failed");
    return rc;
}

// ---- status ------------------------------------------------------------

int status(const Settings& settings) {
    AutoDirScan scan;
    if (!settings.auto_dir.empty()) scan = scan_auto_dir(settings.auto_dir);
    for (const std::string& e : scan.errors) error_lines(e);
    auto list = list_domains();
    if (!list) error_lines(list.error().what);
    const std::map<std::string, DomainInfo> existing =
        list ? by_name(*list) : std::map<std::string, DomainInfo>{};
    std::set<std::string> names;
    for (const auto& [name, info] : existing) names.insert(name);

    // In start order when the configs allow one, else in file order.
    std::vector<std::size_t> order;
    if (auto levels = plan_start(scan.domains, names, settings.auto_dir); levels) {
        for (const auto& level : *levels) order.insert(order.end(), level.begin(), level.end());
    } else {
        error_lines(levels.error().what);
        for (std::size_t i = 0; i < scan.domains.size(); ++i) order.push_back(i);
    }
    std::printf("Checking for xenolith-domains (%s):\n", settings.auto_dir.c_str());
    std::size_t missing = 0;
    for (std::size_t i : order) {
        const AutoDomain& d = scan.domains[i];
        const auto it = existing.find(d.name);
        std::string state = "not running";
        if (it != existing.end())
            state = fmt::format("{} (domid {})",
                                it->second.shut_down ? "shut down"
                                : it->second.paused  ? "paused"
                                                     : "running",
                                it->second.domid);
        if (it == existing.end() || it->second.shut_down) ++missing;
        std::printf(" %s: %s%s\n", d.name.c_str(), state.c_str(),
                    d.start_after.empty() ? ""
                                          : (", after " + joined(d.start_after)).c_str());
    }
    if (scan.domains.empty()) std::printf(" no auto domains\n");
    if (!list) {  // no daemon: nothing runs
        std::printf("  [not running]\n");
        return kStatusNotRunning;
    }
    if (!scan.errors.empty()) {
        std::printf("  [unknown]\n");
        return kStatusUnknown;
    }
    std::printf("  [%s]\n", missing ? "not running" : "running");
    return missing ? kStatusNotRunning : kOk;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_file(kDefaultSettingsFile);
    bool config_given = false;
    std::optional<std::string> auto_dir;
    static const option longopts[] = {{"config", required_argument, nullptr, 'c'},
                                      {"auto-dir", required_argument, nullptr, 'a'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    for (int c; (c = getopt_long(argc, argv, "c:a:h", longopts, nullptr)) != -1;) {
        switch (c) {
        case 'c':
            config_file = optarg;
            config_given = true;
            break;
        case 'a': auto_dir = optarg; break;
        case 'h': usage(stdout); return kOk;
        default: usage(stderr); return kBadUsage;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return optind == argc ? kUnknownAction : kBadUsage;
    }
    const std::string_view action = argv[optind];
    if (action != "start" && action != "stop" && action != "restart" && action != "reload" &&
        action != "status") {
        usage(stderr);
        return kUnknownAction;
    }

    auto settings = load_settings(config_file, !config_given);
    if (!settings) {
        error_lines(settings.error().what);
        // Nothing to undo on stop; a wrong file must not keep the host up.
        if (action == "stop") {
            error_lines("stopping with the default settings");
            settings = Settings{};
        } else {
            return action == "status" ? kStatusUnknown : kNotConfigured;
        }
    }
    if (auto_dir) settings->auto_dir = *auto_dir;

    if (action == "start") return start(*settings);
    if (action == "stop") return stop(*settings);
    if (action == "status") return status(*settings);
    // restart and reload: as xendomains, stop everything, then start.
    const int stopped = stop(*settings);
    const int started = start(*settings);
    return started != kOk ? started : stopped;
}
