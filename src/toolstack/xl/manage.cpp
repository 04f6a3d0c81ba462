// xl rename, trigger, sysrq, dump-core and config-update (Xen 4.17's
// tools/xl/xl_misc.c): argument handling, messages and exit statuses as
// xl's, the work done by xenolithd (src/daemon/request_manage.cpp), which
// returns the lines libxl would have logged.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <strings.h>

#include "toolstack/config/domain_config.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/config/parser.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

// xl's help(command): to stdout.
void help(const char* cmd) { print_usage(cmd); }

// def_getopt with no options but -h (handled by main): any other option
// is refused; then at least `required` arguments. Returns the positional
// arguments, or exits as xl does.
std::vector<std::string> positional(const Args& a, const char* cmd, std::size_t required) {
    std::vector<std::string> out;
    bool only_positional = false;
    for (std::size_t i = 1; i < a.size(); ++i) {
        const std::string& s = a[i];
        if (!only_positional && s == "--") {
            only_positional = true;
        } else if (!only_positional && s.size() > 1 && s[0] == '-') {
            std::fprintf(stderr, "option `%c' not supported.\n", s[1] == '-' ? '?' : s[1]);
            std::exit(2);
        } else {
            out.push_back(s);
        }
    }
    if (out.size() < required) {
        std::fprintf(stderr, "'xl %s' requires at least %zu argument%s.\n\n", cmd, required,
                     required > 1 ? "s" : "");
        help(cmd);
        std::exit(2);
    }
    return out;
}

// Sends a management request; prints the lines libxl would have logged.
std::optional<nlohmann::json> manage(const nlohmann::json& req) {
    auto reply = request(req);
    if (!reply) return std::nullopt;
    if (reply->contains("log") && (*reply)["log"].is_array())
        for (const auto& line : (*reply)["log"])
            if (line.is_string() && !line.get<std::string>().empty())
                std::fprintf(stderr, "%s\n", line.get<std::string>().c_str());
    if (!reply->value("ok", false) && !reply->contains("log"))
        std::fprintf(stderr, "%s\n", reply->value("error", std::string()).c_str());
    return reply;
}

std::string absolute(const std::string& path) {
    if (path.empty() || path[0] == '/') return path;
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) return path;
    return std::string(buf) + "/" + path;
}

}  // namespace

int cmd_rename(const Args& a) {
    const auto args = positional(a, "rename", 2);
    const std::uint32_t domid = domain_qualifier(args[0]);
    auto reply = manage({{"cmd", "rename"}, {"domid", domid}, {"name", args[1]}});
    if (!reply || !reply->value("ok", false)) {
        std::fprintf(stderr, "Can't rename domain '%s'.\n", args[0].c_str());
        return 1;
    }
    return 0;
}

// xl ignores libxl_send_trigger's result: failures are logged, status 0.
int cmd_trigger(const Args& a) {
    const auto args = positional(a, "trigger", 2);
    const std::uint32_t domid = domain_qualifier(args[0]);
    static const char* const kTriggers[] = {"unknown", "power", "sleep", "nmi",
                                            "init",    "reset", "s3resume"};
    const char* trigger = nullptr;
    for (const char* t : kTriggers)
        if (strcasecmp(t, args[1].c_str()) == 0) trigger = t;  // libxl matches any case
    if (!trigger) {
        std::fprintf(stderr, "Invalid trigger \"%s\"\n", args[1].c_str());
        return EXIT_FAILURE;
    }
    int vcpu = 0;
    if (args.size() > 2) {
        char* end = nullptr;
        vcpu = static_cast<int>(std::strtol(args[2].c_str(), &end, 10));
        if (vcpu == 0 && end == args[2].c_str())
            std::fprintf(stderr, "Invalid vcpuid, using default vcpuid=0.\n\n");
    }
    (void)manage({{"cmd", "trigger"}, {"domid", domid}, {"trigger", trigger}, {"vcpu", vcpu}});
    return EXIT_SUCCESS;
}

int cmd_sysrq(const Args& a) {
    const auto args = positional(a, "sysrq", 2);
    const std::uint32_t domid = domain_qualifier(args[0]);
    if (args[1].size() != 1) {
        std::fprintf(stderr, "Invalid sysrq.\n\n");
        help("sysrq");
        return EXIT_FAILURE;
    }
    (void)manage({{"cmd", "sysrq"}, {"domid", domid}, {"key", args[1]}});
    return EXIT_SUCCESS;
}

int cmd_dump_core(const Args& a) {
    const auto args = positional(a, "dump-core", 2);
    const std::uint32_t domid = domain_qualifier(args[0]);
    auto reply = manage({{"cmd", "dump_core"}, {"domid", domid}, {"path", absolute(args[1])}});
    if (!reply || !reply->value("ok", false)) {
        std::fprintf(stderr, "core dump failed (rc=%d)\n", reply ? reply->value("libxl_rc", -3)
                                                                 : -3);
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

// xl config-update (main_config_update): the domain comes first, then an
// optional file name, then -d/-f/-q and key=value overrides.
int cmd_config_update(const Args& a) {
    if (a.size() < 2) {
        std::fprintf(stderr, "xl config-update requires a domain argument\n");
        help("config-update");
        std::exit(1);
    }
    std::fprintf(stderr, "WARNING: xl now has better capability to manage domain "
                         "configuration, avoid using this command when possible\n");
    const std::uint32_t domid = domain_qualifier(a[1]);
    std::string file;
    std::size_t i = 2;
    if (i < a.size() && !a[i].empty() && a[i][0] != '-' && a[i].find('=') == std::string::npos)
        file = a[i++];
    bool debug = false;
    std::vector<std::string> extra;
    for (; i < a.size(); ++i) {
        const std::string& s = a[i];
        if (s == "-d") {
            debug = true;
        } else if (s == "-q") {
        } else if (s == "-f" || s == "--defconfig") {
            if (i + 1 >= a.size()) {
                std::fprintf(stderr, "option `f' not supported.\n");
                std::exit(2);
            }
            file = a[++i];
        } else if (s.rfind("--defconfig=", 0) == 0) {
            file = s.substr(12);
        } else if (s.size() > 1 && s[0] == '-') {
            std::fprintf(stderr, "option `%c' not supported.\n", s[1] == '-' ? '?' : s[1]);
            std::exit(2);
        } else if (s.find('=') != std::string::npos) {
            extra.push_back(s);
        } else if (file.empty()) {
            file = s;
        } else {
            help("create");
            return 2;
        }
    }
    if (file.empty()) {
        std::fprintf(stderr, "Config file not specified\n");
        std::exit(1);
    }
    if (!config_file_readable(file)) return kLibxlErrorFail;  // xl's exit status: 253
    auto cfg = load_domain_config(file, extra);
    if (!cfg) return 1;
    if (debug || dryrun_only) {  // xl's printf_info: {"domid": null, "config": ...}
        std::optional<config::HostTopology> host;
        if (!host_for(*cfg, host)) return 1;
        nlohmann::json info = {{"domid", nullptr},
                               {"config", config::to_json(*cfg, host ? &*host : nullptr)}};
        std::fputs(config::libxl_json_text(info).c_str(), stdout);
    }
    if (dryrun_only) return 0;  // xl -N: shown, not stored
    auto create = create_request_for(*cfg, file);
    if (!create) return 1;
    std::fprintf(stderr, "setting dom%u configuration\n", domid);
    auto reply = manage({{"cmd", "config_update"}, {"domid", domid}, {"request", *create}});
    if (!reply || !reply->value("ok", false)) {
        std::fprintf(stderr, "failed to update configuration\n");
        std::exit(1);
    }
    return 0;
}

}  // namespace xenolith::xl
