// xl: the command table and the helpers commands share. Each command
// family lives in its own file; output formats and exit codes follow Xen's
// xl (tools/xl).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
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

// xl's global options (main's getopt "+vftTN"): -N asks every command
// that implements a dry run (Command::can_dryrun) to act without changing
// anything; main refuses -N for the others.
extern bool dryrun_only;
// -t (progress with carriage returns), -T (timestamps) and the number of
// -v's: only xl migrate uses them, to pass them on to the receiver.
extern bool progress_use_cr;
extern bool timestamps;
extern int verbose_count;

// libxl's ERROR_* codes that xl prints or exits with.
inline constexpr int kLibxlErrorFail = -3;
inline constexpr int kLibxlErrorInval = -6;
inline constexpr int kLibxlErrorDomainNotFound = -21;

// The parsed command line of a SWITCH_FOREACH_OPT command.
struct Options {
    std::vector<char> flags;        // short letters seen, long ones mapped
    std::vector<std::string> args;  // operands, in order
};

struct LongOption {
    const char* name;
    char letter;
};

// getopt_long as xl's def_getopt uses it: options may follow operands, "--"
// ends them; unknown ones exit 2 ("option `x' not supported."); too few
// operands print the usage and exit 2. nullopt with `exit_code` set when
// the command must stop.
std::optional<Options> parse_options(const Args& a, const char* cmd, std::string_view letters,
                                     std::initializer_list<LongOption> longs, std::size_t required,
                                     int& exit_code);
bool has_flag(const Options& o, char c);

// Prints one libxl log line to stderr (control::libxl_log_line).
void libxl_log(const char* level, const char* where, std::uint32_t domid, const std::string& text);

// A domain as xl's find_domain resolves a qualifier: `domid` as given for
// digits (control::qualifier_domid), the named domain's otherwise;
// `entry` is its "list" entry, null when no domain has that domid.
struct Target {
    std::uint32_t domid = 0;
    nlohmann::json entry;
};
// nullopt, with xl's message printed and `exit_code` set, when a name names
// no domain ("<q> is an invalid domain identifier (rc=-6)", exit 1) or the
// daemon cannot be reached.
std::optional<Target> find_target(const std::string& q, int& exit_code);

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
// Looks a domain up by qualifier, as find_domain reads it, in a "list"
// reply (without configs): null when no domain matches.
std::optional<nlohmann::json> find_domain(const std::string& name_or_id);
// A device command's reply onto stderr as xl prints libxl's log: the
// daemon's log lines, else its error when the request failed.
void print_log(const nlohmann::json& reply);

int print_usage(const char* name);

int cmd_create(const Args& a);
// Whether libxl_read_file_contents could read `file`; if not, prints xl's
// "Failed to read config file: <file>: <why>".
bool config_file_readable(const std::string& file);
// Reads `file`, applies the `key=value` overrides and builds the typed
// configuration, printing warnings and errors as xl create does.
std::optional<config::DomainConfig> load_domain_config(const std::string& file,
                                                      const std::vector<std::string>& overrides);
// The create request for `cfg` (without "cmd" and "paused"), as xl create
// and config-update send it; nullopt, with the reason printed, when
// xenolith cannot build such a domain.
std::optional<nlohmann::json> create_request_for(const config::DomainConfig& cfg,
                                                 const std::string& file);
// The host's topology when `cfg` has CPU affinities to resolve (left
// empty otherwise); false, with xl's message printed, when it is needed
// and xenolithd cannot give it.
bool host_for(const config::DomainConfig& cfg, std::optional<config::HostTopology>& host);
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
// xl_parse.c parse_disk_config_multistring (block.cpp): the components as
// one disk spec; nullopt, with libxlu's message printed, for a bad one.
std::optional<config::DiskConfig> parse_disk_components(const std::vector<std::string>& parts);
int cmd_block_attach(const Args& a);
int cmd_block_list(const Args& a);
int cmd_block_detach(const Args& a);
int cmd_network_list(const Args& a);
int cmd_network_attach(const Args& a);
int cmd_network_detach(const Args& a);
int cmd_cd_insert(const Args& a);
int cmd_save(const Args& a);
int cmd_restore(const Args& a);
int cmd_migrate(const Args& a);
int cmd_migrate_receive(const Args& a);
int cmd_cd_eject(const Args& a);

}  // namespace xenolith::xl
