#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "control/libxl_compat.hpp"
#include "control/protocol.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

bool dryrun_only = false;
bool progress_use_cr = false;
bool timestamps = false;
int verbose_count = 0;

namespace {

const Command kCommands[] = {
    {"create", cmd_create, "Create a domain from config file <filename>",
     "<ConfigFile> [options] [vars]\n\n"
     "Options:\n\n"
     "-c                      Connect to the console after the domain is created.\n"
     "-d                      Enable debug messages.\n"
     "-e                      Do not wait in the background for the death of the domain.\n"
     "-F                      Run in foreground until death of the domain.\n"
     "-f FILE, --defconfig=FILE\n                     Use the given configuration file.\n"
     "-h                      Print this help.\n"
     "-n, --dryrun            Dry run - prints the resulting configuration\n"
     "                         (deprecated in favour of global -N option).\n"
     "-p                      Leave the domain paused after it is created.\n"
     "-q, --quiet             Quiet.\n"
     "-V, --vncviewer         Connect to the VNC display after the domain is created.\n"
     "-A, --vncviewer-autopass\n"
     "                        Pass VNC password to viewer via stdin.\n"
     "--ignore-global-affinity-masks Ignore global masks in xl.conf.", true, true},
    {"config-update", cmd_config_update,
     "Update a running domain's saved configuration, used when rebuilding the domain after "
     "reboot.\nWARNING: xl now has better capability to manage domain configuration, avoid "
     "using this command when possible",
     "<Domain> <ConfigFile> [options] [vars]\n\n"
     "Options:\n\n"
     "-h                      Print this help.\n"
     "-f FILE, --defconfig=FILE\n                     Use the given configuration file.\n"
     "-d                      Enable debug messages.\n", true, true},
    {"list", cmd_list, "List information about all/some domains",
     "[options] [Domain]\n\n\n"  // Xen's usage line ends in "\n" too
     "Options:\n\n"
     "-l, --long              Output all VM details\n"
     "-v, --verbose           Prints out UUIDs and security context\n"
     "-Z, --context           Prints out security context\n"
     "-c, --cpupool           Prints the cpupool the domain is in\n"
     "-n, --numa              Prints out NUMA node affinity"},
    {"destroy", cmd_destroy, "Terminate a domain immediately",
     "[options] <Domain>\n\n\n"
     "Options:\n\n"
     "-f                      Permit destroying domain 0, which will only succeed\n"
     "                        when run from disaggregated toolstack domain with a\n"
     "                        hardware domain distinct from domain 0.", false, true},
    {"shutdown", cmd_shutdown, "Issue a shutdown signal to a domain",
     "[options] <-a|Domain>\n\n"
     "Options:\n\n"
     "-a, --all               Shutdown all guest domains.\n"
     "-h                      Print this help.\n"
     "-F                      Fallback to ACPI power event for HVM guests with\n"
     "                        no PV drivers.\n"
     "-w, --wait              Wait for guest(s) to shutdown.\n", false, true},
    {"reboot", cmd_reboot, "Issue a reboot signal to a domain",
     "[options] <-a|Domain>\n\n"
     "Options:\n\n"
     "-a, --all               Shutdown all guest domains.\n"
     "-h                      Print this help.\n"
     "-F                      Fallback to ACPI reset event for HVM guests with\n"
     "                        no PV drivers.\n"
     "-w, --wait              Wait for guest(s) to reboot.\n", false, true},
    {"pause", cmd_pause, "Pause execution of a domain", "<Domain>", false, true},
    {"unpause", cmd_unpause, "Unpause a paused domain", "<Domain>", false, true},
    {"console", cmd_console, "Attach to domain's console",
     "[options] <Domain>\n"
     "-t <type>       console type, pv , serial or vuart\n"
     "-n <number>     console number"},
    {"save", cmd_save, "Save a domain state to restore later",
     "[options] <Domain> <CheckpointFile> [<ConfigFile>]\n\n"
     "Options:\n\n"
     "-h  Print this help.\n"
     "-c  Leave domain running after creating the snapshot.\n"
     "-p  Leave domain paused after creating the snapshot.\n"
     "-D  Store the domain id in the configuration.", false, true},
    {"migrate", cmd_migrate, "Migrate a domain to another host",
     "[options] <Domain> <host>\n\n"
     "Options:\n\n"
     "-h              Print this help.\n"
     "-C <config>     Send <config> instead of config file from creation.\n"
     "-s <sshcommand> Use <sshcommand> instead of ssh.  String will be passed\n"
     "                to sh. If empty, run <host> instead of ssh <host> xl\n"
     "                migrate-receive [-d -e]\n"
     "-e              Do not wait in the background (on <host>) for the death\n"
     "                of the domain.\n"
     "--debug         Print huge (!) amount of debug during the migration process.\n"
     "-p              Do not unpause domain after migrating it.\n"
     "-D              Preserve the domain id", false, true},
    {"restore", cmd_restore, "Restore a domain from a saved state",
     "[options] [<ConfigFile>] <CheckpointFile>\n\n"
     "Options:\n\n"
     "-h                       Print this help.\n"
     "-p                       Do not unpause domain after restoring it.\n"
     "-e                       Do not wait in the background for the death of the domain.\n"
     "-d                       Enable debug messages.\n"
     "-V, --vncviewer          Connect to the VNC display after the domain is created.\n"
     "-A, --vncviewer-autopass Pass VNC password to viewer via stdin.", false, true},
    {"migrate-receive", cmd_migrate_receive, "Restore a domain from a saved state",
     "- for internal use only", false, true},
    {"domid", cmd_domid, "Convert a domain name to domain id", "<DomainName>"},
    {"domname", cmd_domname, "Convert a domain id to domain name", "<DomainId>"},
    {"uptime", cmd_uptime, "Print uptime for all/some domains",
     "[-s] [Domain]"},
    {"info", cmd_info, "Get information about Xen host",
     "-n, --numa         List host NUMA topology information"},
    {"dmesg", cmd_dmesg, "Read and/or clear dmesg buffer",
     "[-c]\n\nOptions:\n\n  -c                        Clear dmesg buffer as well as printing it"},
    {"top", cmd_top, "Monitor a host and the domains in real time", ""},
    {"vcpu-list", cmd_vcpu_list, "List the VCPUs for all/some domains", "[Domain, ...]"},
    {"vcpu-pin", cmd_vcpu_pin, "Set which CPUs a VCPU can use",
     "[option] <Domain> <VCPU|all> <Hard affinity|-|all> <Soft affinity|-|all>\n\n"
     "Options:\n\n"
     "-f, --force        undo an override pinning done by the kernel\n"
     "--ignore-global-affinity-masks Ignore global masks in xl.conf", true, true},
    {"vcpu-set", cmd_vcpu_set, "Set the number of active VCPUs allowed for the domain",
     "[option] <Domain> <vCPUs>\n\n"
     "Options:\n\n"
     "-i, --ignore-host  Don't limit the vCPU based on the host CPU count", false, true},
    {"cd-insert", cmd_cd_insert, "Insert a cdrom into a guest's cd drive",
     "<Domain> <VirtualDevice> <path>", true, true},
    {"cd-eject", cmd_cd_eject, "Eject a cdrom from a guest's cd drive",
     "<Domain> <VirtualDevice>", true, true},
    {"mem-max", cmd_mem_max, "Set the maximum amount reservation for a domain",
     "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>", false, true},
    {"mem-set", cmd_mem_set, "Set the current memory usage for a domain",
     "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>", false, true},
    {"rename", cmd_rename, "Rename a domain", "<Domain> <NewDomainName>", false, true},
    {"trigger", cmd_trigger, "Send a trigger to a domain",
     "<Domain> <nmi|reset|init|power|sleep|s3resume> [<VCPU>]", false, true},
    {"sysrq", cmd_sysrq, "Send a sysrq to a domain", "<Domain> <letter>", false, true},
    {"dump-core", cmd_dump_core, "Core dump a domain", "<Domain> <filename>", false, true},
    {"network-attach", cmd_network_attach, "Create a new virtual network device",
     "<Domain> [type=<type>] [mac=<mac>] [bridge=<bridge>] [ip=<ip>] [script=<script>] "
     "[backend=<BackDomain>] [vifname=<name>] [rate=<rate>] [model=<model>] [accel=<accel>] "
     "[mtu=<mtu>]",
     true, true},
    {"network-list", cmd_network_list, "List virtual network interfaces for a domain",
     "<Domain(s)>"},
    {"network-detach", cmd_network_detach, "Destroy a domain's virtual network device",
     "<Domain> <DevId|mac>", false, true},
    {"block-attach", cmd_block_attach, "Create a new virtual block device",
     "<Domain> <disk-spec-component(s)>...", true, true},
    {"block-list", cmd_block_list, "List virtual block devices for a domain", "<Domain(s)>"},
    {"block-detach", cmd_block_detach, "Destroy a domain's virtual block device",
     "[option] <Domain> <DevId>\n\nOptions:\n\n"
     "-f, --force        do not wait for the domain to release the device", false, true},
};

// xl's help(NULL): the usage and the command list, on stdout.
void help_all() {
    std::printf("Usage xl [-vfNtT] <subcommand> [args]\n\nxl full list of subcommands:\n\n");
    for (const auto& c : kCommands) {
        std::printf(" %-19s ", c.name);
        if (std::strlen(c.name) > 19) std::printf("\n %-19s ", "");
        std::printf("%s\n", c.summary);
    }
}

}  // namespace

int print_usage(const char* name) {
    for (const auto& c : kCommands) {
        if (std::string_view(c.name) == name) {
            // xl's help(): the usage line, the summary, then the options.
            const std::string_view usage = c.usage;
            constexpr std::string_view kOptions = "\n\nOptions:\n\n";
            const std::size_t at = usage.find(kOptions);
            const std::string line(usage.substr(0, at));
            std::printf("Usage: xl [-vtT%s%s] %s %s\n\n%s.\n\n", c.modifies ? "f" : "",
                        c.can_dryrun ? "N" : "", c.name, line.c_str(), c.summary);
            if (at != std::string_view::npos)
                std::printf("Options:\n\n%s\n",
                            std::string(usage.substr(at + kOptions.size())).c_str());
            return 0;
        }
    }
    std::printf("command \"%s\" not implemented\n", name);
    return 0;
}

UniqueFd connect_daemon() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = control::socket_path();
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        std::fprintf(stderr,
                     "xl: cannot connect to xenolithd at %s: %s\n"
                     "Is xenolithd running? (start it, or set XENOLITH_RUN_DIR)\n",
                     path.c_str(), std::strerror(errno));
        return UniqueFd();
    }
    return fd;
}

std::optional<nlohmann::json> request(const nlohmann::json& req) {
    UniqueFd fd = connect_daemon();
    if (!fd.valid()) return std::nullopt;
    if (auto st = control::send_message(fd.get(), req); !st) {
        std::fprintf(stderr, "xl: %s\n", st.error().what.c_str());
        return std::nullopt;
    }
    auto reply = control::recv_message(fd.get());
    if (!reply || !*reply) {
        std::fprintf(stderr, "xl: no reply from xenolithd\n");
        return std::nullopt;
    }
    return **reply;
}

std::uint32_t domain_qualifier(const std::string& q) {
    if (const auto domid = control::qualifier_domid(q)) return *domid;
    auto d = find_domain(q);
    if (!d) std::exit(EXIT_FAILURE);  // no daemon: already said so
    if (d->is_null()) {
        std::fprintf(stderr, "%s is an invalid domain identifier (rc=%d)\n", q.c_str(),
                     kLibxlErrorInval);
        std::exit(EXIT_FAILURE);
    }
    return (*d)["domid"].get<std::uint32_t>();
}

void print_log(const nlohmann::json& reply) {
    if (reply.contains("log") && reply["log"].is_array()) {
        for (const auto& line : reply["log"])
            if (line.is_string() && !line.get<std::string>().empty())
                std::fprintf(stderr, "%s\n", line.get<std::string>().c_str());
    } else if (!reply.value("ok", false)) {
        std::fprintf(stderr, "%s\n", reply.value("error", std::string()).c_str());
    }
}

std::optional<nlohmann::json> find_domain(const std::string& name_or_id) {
    auto reply = request({{"cmd", "list"}, {"config", false}});
    if (!reply) return std::nullopt;
    const auto domid = control::qualifier_domid(name_or_id);
    for (const auto& d : (*reply)["domains"]) {
        if (domid ? d["domid"] == *domid : d["name"] == name_or_id) return d;
    }
    return nlohmann::json();  // null: not found
}

std::optional<Target> find_target(const std::string& q, int& exit_code) {
    auto d = find_domain(q);
    if (!d) {
        exit_code = EXIT_FAILURE;
        return std::nullopt;
    }
    Target t;
    if (const auto domid = control::qualifier_domid(q)) {
        t.domid = *domid;
    } else if (d->is_null()) {
        std::fprintf(stderr, "%s is an invalid domain identifier (rc=%d)\n", q.c_str(),
                     kLibxlErrorInval);
        exit_code = EXIT_FAILURE;
        return std::nullopt;
    } else {
        t.domid = (*d)["domid"].get<std::uint32_t>();
    }
    t.entry = std::move(*d);
    return t;
}

void libxl_log(const char* level, const char* where, std::uint32_t domid, const std::string& text) {
    std::fprintf(stderr, "%s\n", control::libxl_log_line(level, where, domid, text).c_str());
}

std::optional<Options> parse_options(const Args& a, const char* cmd, std::string_view letters,
                                     std::initializer_list<LongOption> longs, std::size_t required,
                                     int& exit_code) {
    // def_getopt prints optopt with %c: 0 (a NUL byte) for an unknown long option.
    auto unsupported = [&](char c) {
        std::fputs("option `", stderr);
        std::fputc(c, stderr);
        std::fputs("' not supported.\n", stderr);
        exit_code = 2;
        return std::nullopt;
    };
    Options o;
    bool operands_only = false;
    for (std::size_t i = 1; i < a.size(); ++i) {
        const std::string& s = a[i];
        if (operands_only || s.size() < 2 || s[0] != '-') {
            o.args.push_back(s);
        } else if (s == "--") {
            operands_only = true;
        } else if (s.starts_with("--")) {
            const std::string name = s.substr(2);
            char letter = 0;
            for (const LongOption& l : longs)
                if (name == l.name) letter = l.letter;
            if (!letter) return unsupported('\0');
            o.flags.push_back(letter);
        } else {
            for (char c : s.substr(1)) {
                if (letters.find(c) == std::string_view::npos) return unsupported(c);
                o.flags.push_back(c);
            }
        }
    }
    if (o.args.size() < required) {
        std::fprintf(stderr, "'xl %s' requires at least %zu argument%s.\n\n", cmd, required,
                     required > 1 ? "s" : "");
        print_usage(cmd);
        exit_code = 2;
        return std::nullopt;
    }
    return o;
}

bool has_flag(const Options& o, char c) {
    for (char f : o.flags)
        if (f == c) return true;
    return false;
}

}  // namespace xenolith::xl

int main(int argc, char** argv) {
    using namespace xenolith::xl;
    // xl's own getopt: "+" stops at the subcommand; glibc reports an
    // unknown letter ("xl: invalid option -- 'x'") before xl's line.
    // -v, -t and -T only tune xl's logger (verbosity, progress, timestamps).
    int opt;
    while ((opt = ::getopt(argc, argv, "+vftTN")) >= 0) {
        switch (opt) {
        case 'N': dryrun_only = true; break;
        case 'v': ++verbose_count; break;
        case 't': progress_use_cr = true; break;
        case 'T': timestamps = true; break;
        case 'f': break;
        default:
            std::fprintf(stderr, "unknown global option\n");
            return EXIT_FAILURE;
        }
    }
    if (optind >= argc) {
        help_all();
        return EXIT_FAILURE;
    }
    const std::string_view name = argv[optind];
    Args args(argv + optind, argv + argc);
    for (const auto& c : kCommands) {
        if (name == c.name) {
            if (dryrun_only && !c.can_dryrun) {
                std::fprintf(stderr, "command does not implement -N (dryrun) option\n");
                return EXIT_FAILURE;
            }
            for (const auto& a : args) {
                if (a == "--") break;
                if (a == "-h" || a == "--help") return print_usage(c.name);
            }
            return c.fn(args);
        }
    }
    if (name == "help") {
        if (args.size() > 1 && args[1] != "help") return print_usage(args[1].c_str());
        help_all();
        return EXIT_SUCCESS;
    }
    std::fprintf(stderr, "command not implemented\n");
    return EXIT_FAILURE;
}
