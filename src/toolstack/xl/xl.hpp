// xl: the command table and the helpers commands share. Each command
// family lives in its own file; output formats and exit codes follow Xen's
// xl (tools/xl).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::xl {

using Args = std::vector<std::string>;

struct Command {
    const char* name;
    int (*fn)(const Args& args);  // args[0] is the command name
    const char* summary;
    const char* usage;
};

// Connects to xenolithd; prints xl-style error and returns an invalid fd
// when the daemon is not running.
UniqueFd connect_daemon();
// Sends one request and returns the reply, or prints and returns nullopt.
std::optional<nlohmann::json> request(const nlohmann::json& req);
// Runs an "xl console"-style session on `fd` after a console request.
int run_console(UniqueFd fd);
// Looks a domain up by name or id in a "list" reply.
std::optional<nlohmann::json> find_domain(const std::string& name_or_id);

int print_usage(const char* name);

int cmd_create(const Args& a);
int cmd_list(const Args& a);
int cmd_domid(const Args& a);
int cmd_domname(const Args& a);
int cmd_uptime(const Args& a);
int cmd_destroy(const Args& a);
int cmd_shutdown(const Args& a);
int cmd_reboot(const Args& a);
int cmd_pause(const Args& a);
int cmd_unpause(const Args& a);
int cmd_console(const Args& a);
int cmd_info(const Args& a);
int cmd_dmesg(const Args& a);
int cmd_rename(const Args& a);
int cmd_trigger(const Args& a);
int cmd_sysrq(const Args& a);
int cmd_dump_core(const Args& a);
int cmd_config_update(const Args& a);

}  // namespace xenolith::xl
