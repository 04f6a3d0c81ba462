#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "control/protocol.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

const Command kCommands[] = {
    {"create", cmd_create, "Create a domain from config file <filename>",
     "<ConfigFile> [options] [vars]\n\n"
     "Options:\n\n"
     "-c                      Connect to the console after the domain is created.\n"
     "-f FILE, --defconfig=FILE\n                     Use the given configuration file.\n"
     "-h                      Print this help.\n"
     "-n, --dryrun            Dry run - prints the resulting configuration\n"
     "                         in JSON but does not create the domain.\n"
     "-p                      Leave the domain paused after it is created.\n"
     "-q, --quiet             Quiet.", true, true},
    {"list", cmd_list, "List information about all/some domains",
     "[options] [Domain]\n\n"
     "Options:\n\n"
     "-l, --long              Output all VM details\n"
     "-v, --verbose           Prints out UUIDs and security context"},
    {"destroy", cmd_destroy, "Terminate a domain immediately",
     "[options] <Domain>\n\n"
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
    {"domid", cmd_domid, "Convert a domain name to domain id", "<DomainName>"},
    {"domname", cmd_domname, "Convert a domain id to domain name", "<DomainId>"},
    {"uptime", cmd_uptime, "Print uptime for all/some domains",
     "[-s] [Domain]"},
    {"info", cmd_info, "Get information about Xen host",
     "-n, --numa         List host NUMA topology information"},
    {"dmesg", cmd_dmesg, "Read and/or clear dmesg buffer",
     "[-c]\n  -c                        Clear dmesg buffer as well as printing it"},
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
    {"mem-max", cmd_mem_max, "Set the maximum amount reservation for a domain",
     "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>", false, true},
    {"mem-set", cmd_mem_set, "Set the current memory usage for a domain",
     "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>", false, true},
    {"rename", cmd_rename, "Rename a domain", "<Domain> <NewDomainName>", false, true},
    {"trigger", cmd_trigger, "Send a trigger to a domain",
     "<Domain> <nmi|reset|init|power|sleep|s3resume> [<VCPU>]", false, true},
    {"sysrq", cmd_sysrq, "Send a sysrq to a domain", "<Domain> <letter>", false, true},
    {"dump-core", cmd_dump_core, "Core dump a domain", "<Domain> <filename>", false, true},
    {"config-update", cmd_config_update,
     "Update a running domain's saved configuration, used when rebuilding the domain after "
     "reboot.\nWARNING: xl now has better capability to manage domain configuration, avoid "
     "using this command when possible",
     "<Domain> <ConfigFile> [options] [vars]\n\n"
     "Options:\n\n"
     "-h                      Print this help.\n"
     "-f FILE, --defconfig=FILE\n                     Use the given configuration file.\n"
     "-d                      Enable debug messages.\n", true, true},
};

int help(bool to_stderr) {
    FILE* out = to_stderr ? stderr : stdout;
    std::fprintf(out, "Usage xl [-vfNtT] <subcommand> [args]\n\nxl full list of subcommands:\n\n");
    for (const auto& c : kCommands) {
        std::fprintf(out, " %-19s ", c.name);
        if (std::strlen(c.name) > 19) std::fprintf(out, "\n %-19s ", "");
        std::fprintf(out, "%s\n", c.summary);
    }
    return to_stderr ? 1 : 0;
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
    if (q.find_first_not_of("0123456789") == std::string::npos)
        return static_cast<std::uint32_t>(std::strtoul(q.c_str(), nullptr, 10));
    auto d = find_domain(q);
    if (!d) std::exit(EXIT_FAILURE);  // no daemon: already said so
    if (d->is_null()) {
        std::fprintf(stderr, "%s is an invalid domain identifier (rc=-6)\n", q.c_str());
        std::exit(EXIT_FAILURE);
    }
    return (*d)["domid"].get<std::uint32_t>();
}

std::optional<nlohmann::json> find_domain(const std::string& name_or_id) {
    auto reply = request({{"cmd", "list"}, {"config", false}});
    if (!reply) return std::nullopt;
    for (const auto& d : (*reply)["domains"]) {
        if (d["name"] == name_or_id) return d;
        if (std::to_string(d["domid"].get<unsigned>()) == name_or_id) return d;
    }
    return nlohmann::json();  // null: not found
}

}  // namespace xenolith::xl

int main(int argc, char** argv) {
    using namespace xenolith::xl;
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '-') ++i;  // -v -f -N -t -T: accepted
    if (i >= argc) return help(true);
    const std::string_view name = argv[i];
    if (name == "help" || name == "--help")
        return i + 1 < argc ? print_usage(argv[i + 1]) : help(false);
    Args args(argv + i, argv + argc);
    for (const auto& c : kCommands) {
        if (name == c.name) {
            for (const auto& a : args)
                if (a == "-h" || a == "--help") return print_usage(c.name);
            return c.fn(args);
        }
    }
    std::fprintf(stderr, "command not implemented\n");
    return 1;
}
