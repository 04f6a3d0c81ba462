#include "toolstack/daemon/hotplug_script.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "xenstore/xenstore_service.hpp"

extern char** environ;

namespace xenolith::toolstack {

namespace {

// The daemon's environment with `extra` set on top.
std::vector<std::string> merged_environment(const Environment& extra) {
    std::vector<std::string> out;
    for (char** e = environ; e && *e; ++e) {
        const std::string_view kv(*e);
        const auto eq = kv.find('=');
        const std::string_view key = kv.substr(0, eq);
        const bool overridden = std::any_of(extra.begin(), extra.end(),
                                            [&](const auto& p) { return p.first == key; });
        if (!overridden) out.emplace_back(kv);
    }
    for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
    return out;
}

Status wait_or_kill(pid_t pid, const std::string& what, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto nap = std::chrono::milliseconds(1);
    int status = 0;
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR)
            return make_error(fmt::format("{}: waitpid: {}", what, std::strerror(errno)));
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(-pid, SIGKILL);  // the script and whatever it started
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return make_error(fmt::format("{} [{}] timed out after {} ms; killed", what, pid,
                                          timeout.count()));
        }
        std::this_thread::sleep_for(nap);
        nap = std::min(nap * 2, std::chrono::milliseconds(50));
    }
    // libxl_report_child_exitstatus's wording.
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ok_status();
    if (WIFEXITED(status))
        return make_error(fmt::format("{} [{}] exited with error status {}", what, pid,
                                      WEXITSTATUS(status)));
    return make_error(fmt::format("{} [{}] died due to fatal signal {}", what, pid,
                                  strsignal(WTERMSIG(status))));
}

}  // namespace

Status run_hotplug_script(const HotplugScript& s) {
    const std::string what = s.script + " " + s.action;
    // Everything the child needs is built before posix_spawn: the daemon
    // is multi-threaded.
    std::vector<std::string> env = merged_environment(s.env);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string arg0 = s.script, arg1 = s.action;
    char* argv[] = {arg0.data(), arg1.data(), nullptr};

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);   // the daemon's threads block some
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, s.script.c_str(), &fa, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc) return make_error(fmt::format("{}: cannot run: {}", what, std::strerror(rc)));
    return wait_or_kill(pid, what, s.timeout);
}

namespace {

Environment device_hotplug_env(const DeviceNodes& nodes, const std::string& script,
                               const std::string& xenstore_socket) {
    // backend_path is /local/domain/<be>/backend/<kind>/<domid>/<devid>.
    const std::string home = "/local/domain/" + std::to_string(nodes.backend_domid) + "/";
    std::string relative = nodes.backend_path.substr(home.size());
    std::string kind = relative.substr(std::strlen("backend/"));
    kind.resize(kind.find('/'));
    Environment env{{"script", script},
                    {"XENBUS_TYPE", kind},
                    {"XENBUS_PATH", relative},
                    {"XENBUS_BASE_PATH", "backend"}};
    if (!xenstore_socket.empty()) env.emplace_back("XENSTORED_PATH", xenstore_socket);
    return env;
}

}  // namespace

Environment vbd_hotplug_env(const VbdNodes& nodes, const std::string& script,
                            const std::string& xenstore_socket) {
    return device_hotplug_env(nodes, script, xenstore_socket);
}

Environment vif_hotplug_env(const VifNodes& nodes, const std::string& script,
                            const std::string& gatewaydev, const std::string& xenstore_socket) {
    Environment env = device_hotplug_env(nodes, script, xenstore_socket);
    env.emplace_back("netdev", gatewaydev);
    env.emplace_back("vif", !nodes.ifname.empty()
                                ? nodes.ifname
                                : "vif" + std::to_string(nodes.frontend_domid) + "." +
                                      std::to_string(nodes.devid));
    return env;
}

HotplugReport run_hotplug_script_and_wait(xenstore::XenstoreService& store,
                                          const std::string& backend_path, const HotplugScript& s) {
    const auto started = std::chrono::steady_clock::now();
    HotplugReport r{run_hotplug_script(s), std::nullopt, std::nullopt};
    if (r.ran.ok()) {
        // Xen's scripts report through hotplug-status (what udev-run
        // scripts are waited for by): "connected", or "error" with
        // hotplug-error.
        store.wait_for_node(
            backend_path + "/hotplug-status",
            [&](const std::optional<std::string>& v) {
                r.status = v;
                return v && (*v == "connected" || *v == "error");
            },
            started + s.timeout);
    }
    if (!r.connected()) r.error = store.read(backend_path + "/hotplug-error");
    return r;
}

}  // namespace xenolith::toolstack
