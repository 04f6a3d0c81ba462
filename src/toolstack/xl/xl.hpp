// xl: the command table and the helpers commands share. Each command
// family lives in its own file; output formats and exit codes follow Xen's
// xl (tools/xl).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "toolstack/config/cpulist.hpp"
#include "toolstack/config/domain_config.hpp"

namespace xenolith::xl {

using Args = std::vector<std::string>;

struct Command {
    const char* name;
    int (*fn)(const Args& args);  // args[0] is the command name
    const char* summary;
    const char* usage;       // the usage line, then "\n\nOptions:\n\n" and the options
    bool can_dryrun = false;  // xl_cmdtable.c's flags, shown by `xl help CMD` as N
    bool modifies = false;    // and f
};

// Connects to xenolithd; prints xl-style error and returns an invalid fd
// when the daemon is not running.
UniqueFd connect_daemon();
// Sends one request and returns the reply, or prints and returns nullopt.
std::optional<nlohmann::json> request(const nlohmann::json& req);
// Runs an "xl console"-style session on `fd` after a console request.
int run_console(UniqueFd fd);
// xl's find_domain (libxl_domain_qualifier_to_domid): all digits is a
// domid, existing or not; anything else must name a domain, else xl's
// "invalid domain identifier (rc=-6)" and exit 1.
std::uint32_t domain_qualifier(const std::string& q);
// Looks a domain up by name or id in a "list" reply (without configs).
std::optional<nlohmann::json> find_domain(const std::string& name_or_id);

int print_usage(const char* name);

int cmd_create(const Args& a);
// Reads `file`, applies the `key=value` overrides and builds the typed
// configuration, printing warnings and errors as xl create does.
std::optional<config::DomainConfig> load_domain_config(const std::string& file,
                                                      const std::vector<std::string>& overrides);
// The create request for `cfg` (without "cmd" and "paused"), as xl create
// and config-update send it; nullopt, with the reason printed, when
// xenolith cannot build such a domain.
std::optional<nlohmann::json> create_request_for(const config::DomainConfig& cfg,
                                                 const std::string& file);
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
int cmd_top(const Args& a);
int cmd_vcpu_list(const Args& a);
int cmd_vcpu_pin(const Args& a);
int cmd_vcpu_set(const Args& a);
// The host's CPUs and NUMA nodes from xenolithd (vcpu.cpp); prints
// "libxl_physinfo failed." when it cannot.
std::optional<config::HostTopology> host_topology();
int cmd_mem_set(const Args& a);
int cmd_mem_max(const Args& a);
int cmd_rename(const Args& a);
int cmd_trigger(const Args& a);
int cmd_sysrq(const Args& a);
int cmd_dump_core(const Args& a);
int cmd_config_update(const Args& a);

}  // namespace xenolith::xl
