// xl create: parse the config (with key=value overrides), then ask
// xenolithd to build the domain; -c attaches the console before the guest
// runs, so no output is missed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "control/protocol.hpp"
#include "toolstack/config/domain_config.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/config/parser.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

std::string absolute(const std::string& path) {
    if (path.empty() || path[0] == '/') return path;
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) return path;
    return std::string(buf) + "/" + path;
}

// A vif whose bridge is not on this host could never be attached: `xl create`
// refuses it before anything is made; `xl create -n` only warns, since the
// config may be meant for another host. Bridges of a driver domain (backend=
// other than dom0) live there and are not checked. Returns false to refuse.
bool check_bridges(const config::DomainConfig& cfg, bool dryrun) {
    bool ok = true;
    std::set<std::string> checked;  // each bridge once, however many vifs name it
    for (const auto& nic : cfg.nics) {
        if (!nic.bridge) continue;
        const auto& backend = nic.backend_domain;
        if (backend && *backend != "Domain-0" && *backend != "0") continue;
        if (!checked.insert(*nic.bridge).second) continue;
        // bridge= was checked to be an interface name: no '/', so this stays in /sys/class/net.
        const std::string path = "/sys/class/net/" + *nic.bridge + "/bridge";
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        const auto& at = nic.bridge_pos;
        if (dryrun) {
            std::fprintf(stderr, "%s:%u: warning: vif: bridge \"%s\" does not exist on this host\n",
                         at.file.c_str(), at.line, nic.bridge->c_str());
        } else {
            std::fprintf(stderr,
                         "%s:%u:%u: vif: bridge \"%s\" does not exist on this host (no %s); "
                         "create it or name another bridge=\n",
                         at.file.c_str(), at.line, at.column, nic.bridge->c_str(), path.c_str());
            ok = false;
        }
    }
    return ok;
}

// cpus=/cpus_soft= resolved on the host's CPUs into the request's
// "vcpu_hard_affinity"/"vcpu_soft_affinity" (CPU numbers per vCPU). As xl
// (apply_global_affinity_masks), an empty hard affinity is refused.
bool add_affinity(const config::DomainConfig& cfg, const config::HostTopology* host,
                  nlohmann::json& req) {
    if (!host) return true;
    const std::pair<const char*, const config::VcpuAffinityConfig*> keys[] = {
        {"vcpu_hard_affinity", &cfg.vcpu_hard_affinity},
        {"vcpu_soft_affinity", &cfg.vcpu_soft_affinity}};
    for (auto [key, affinity] : keys) {
        if (affinity->empty()) continue;
        nlohmann::json out = nlohmann::json::array();
        std::optional<config::CpuMap> shared;  // a string: resolved once
        for (unsigned v = 0; v < cfg.max_vcpus; ++v) {
            const config::CpuList* list = affinity->for_vcpu(v);
            if (!list) break;
            const config::CpuMap map = shared ? *shared : config::resolve(*list, *host);
            if (affinity->same_for_every_vcpu) shared = map;
            if (affinity == &cfg.vcpu_hard_affinity && map.empty()) {
                std::fprintf(stderr, "vcpu hard affinity map is empty\n");
                return false;
            }
            out.push_back(map.cpus());
        }
        req[key] = std::move(out);
    }
    return true;
}

}  // namespace

bool host_for(const config::DomainConfig& cfg, std::optional<config::HostTopology>& host) {
    if (cfg.vcpu_hard_affinity.empty() && cfg.vcpu_soft_affinity.empty()) return true;
    host = host_topology();
    return host.has_value();
}

std::optional<config::DomainConfig> load_domain_config(const std::string& file,
                                                      const std::vector<std::string>& overrides) {
    auto parsed = config::parse_config_file(file);
    if (!parsed) {
        std::fprintf(stderr, "%s\n", parsed.error().what.c_str());
        return std::nullopt;
    }
    for (const auto& o : overrides) {
        if (auto st = config::apply_override(*parsed, o); !st) {
            std::fprintf(stderr, "%s\n", st.error().what.c_str());
            return std::nullopt;
        }
    }
    std::vector<config::Warning> warnings;
    auto cfg = config::build_domain_config(*parsed, warnings);
    for (const auto& w : warnings) std::fprintf(stderr, "%s\n", w.str().c_str());
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().what.c_str());
        return std::nullopt;
    }
    return std::move(*cfg);
}

std::optional<nlohmann::json> create_request_for(const config::DomainConfig& cfg,
                                                 const std::string& file) {
    std::optional<std::string> kernel = cfg.kernel;
    if (cfg.type == config::DomainType::hvm) {
        // Xen's test framework boots PVH-capable ELFs as HVM firmware.
        if (!cfg.firmware_override) {
            std::fprintf(stderr, "%s: type=\"hvm\" needs firmware_override= naming a "
                                 "PVH-capable ELF (HVM firmware is not supported yet)\n",
                         file.c_str());
            return std::nullopt;
        }
        kernel = cfg.firmware_override;
    } else if (cfg.type == config::DomainType::pv) {
        std::fprintf(stderr, "%s: PV guests are not supported by xenolith; use type=\"pvh\"\n",
                     file.c_str());
        return std::nullopt;
    }
    if (!kernel) {
        std::fprintf(stderr, "%s: kernel: no kernel given (bootloaders are not supported yet)\n",
                     file.c_str());
        return std::nullopt;
    }
    std::optional<config::HostTopology> host;
    if (!host_for(cfg, host)) return std::nullopt;
    const config::HostTopology* h = host ? &*host : nullptr;
    nlohmann::json req = {{"name", cfg.name},
                          {"kernel", absolute(*kernel)},
                          {"ramdisk", cfg.ramdisk ? absolute(*cfg.ramdisk) : ""},
                          {"cmdline", cfg.cmdline.value_or("")},
                          {"memory_kib", cfg.memory_mib * 1024},
                          {"maxmem_kib", cfg.maxmem_mib * 1024},
                          {"vcpus", cfg.vcpus},
                          {"max_vcpus", cfg.max_vcpus},
                          {"max_event_channels", cfg.max_event_channels},
                          {"max_grant_frames", cfg.max_grant_frames},
                          {"max_maptrack_frames", cfg.max_maptrack_frames},
                          {"on_poweroff", config::to_config_name(cfg.on_poweroff)},
                          {"on_reboot", config::to_config_name(cfg.on_reboot)},
                          {"on_watchdog", config::to_config_name(cfg.on_watchdog)},
                          {"on_crash", config::to_config_name(cfg.on_crash)},
                          {"on_soft_reset", config::to_config_name(cfg.on_soft_reset)},
                          {"global_virqs", cfg.global_virqs},
                          {"config", config::to_json(cfg, h)}};
    if (cfg.uuid) req["uuid"] = cfg.uuid->bytes;
    // Each disk as written, with where: the daemon parses it again and
    // names the place in its errors.
    nlohmann::json disks = nlohmann::json::array();
    for (const auto& d : cfg.disks)
        disks.push_back({{"spec", d.spec},
                         {"file", d.where.file},
                         {"line", d.where.line},
                         {"column", d.where.column}});
    if (!disks.empty()) req["disks"] = std::move(disks);
    // Each vif likewise, with the devid xl gave it (its place in vif=
    // unless devid= says otherwise).
    nlohmann::json nics = nlohmann::json::array();
    for (const auto& n : cfg.nics)
        nics.push_back({{"spec", n.spec},
                        {"devid", n.devid},
                        {"file", n.where.file},
                        {"line", n.where.line},
                        {"column", n.where.column}});
    if (!nics.empty()) req["nics"] = std::move(nics);
    if (!add_affinity(cfg, h, req)) return std::nullopt;
    return req;
}

bool config_file_readable(const std::string& file) {
    // libxl_read_file_contents: open, then read; a directory opens but
    // cannot be read. O_NONBLOCK: a FIFO must not hold xl here.
    errno = 0;
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    char byte;
    if (fd.valid() && ::read(fd.get(), &byte, 1) >= 0) return true;
    if (errno == EAGAIN) return true;  // an empty FIFO: readable, later
    std::fprintf(stderr, "Failed to read config file: %s: %s\n", file.c_str(),
                 std::strerror(errno));
    return false;
}

// main_create: the file may come first, then options ("AFVcdef:inpq"),
// then more operands: key=value settings and, once, the file.
int cmd_create(const Args& a) {
    bool paused = false, console = false, quiet = false, debug = false;
    std::string file;
    bool have_file = false;
    std::vector<std::string> overrides;
    std::size_t i = 1;
    if (i < a.size() && !a[i].starts_with("-") && a[i].find('=') == std::string::npos) {
        file = a[i++];
        have_file = true;
    }
    auto unsupported = [](char c) {
        std::fputs("option `", stderr);
        std::fputc(c, stderr);
        std::fputs("' not supported.\n", stderr);
        return 2;
    };
    std::vector<std::string> operands;
    bool operands_only = false;
    for (; i < a.size(); ++i) {
        const std::string& s = a[i];
        if (operands_only || s.size() < 2 || s[0] != '-') {
            operands.push_back(s);
        } else if (s == "--") {
            operands_only = true;
        } else if (s.starts_with("--")) {
            const std::string opt = s.substr(2);
            if (opt == "dryrun") dryrun_only = true;
            else if (opt == "quiet") quiet = true;
            else if (opt.starts_with("defconfig=")) file = opt.substr(10), have_file = true;
            else if (opt == "defconfig" && i + 1 < a.size()) file = a[++i], have_file = true;
            else if (opt == "ignore-global-affinity-masks" || opt == "vncviewer" ||
                     opt == "vncviewer-autopass") continue;
            else return unsupported('\0');
        } else {
            for (std::size_t k = 1; k < s.size(); ++k) {
                const char c = s[k];
                if (c == 'f') {  // f: takes the rest of the word, or the next one
                    if (k + 1 < s.size()) file = s.substr(k + 1);
                    else if (i + 1 < a.size()) file = a[++i];
                    else return unsupported('f');
                    have_file = true;
                    break;
                }
                switch (c) {
                case 'p': paused = true; break;
                case 'c': console = true; break;
                case 'n': dryrun_only = true; break;
                case 'q': quiet = true; break;
                case 'd': debug = true; break;
                case 'A': case 'F': case 'V': case 'e': case 'i': break;  // no effect here
                default: return unsupported(c);
                }
            }
        }
    }
    for (const std::string& s : operands) {
        if (s.find('=') != std::string::npos) {
            overrides.push_back(s);
        } else if (!have_file) {
            file = s;
            have_file = true;
        } else {
            print_usage("create");
            return 2;
        }
    }
    const bool dryrun = dryrun_only;
    if (!have_file) {
        // create_domain, with neither a file nor a saved image: ERROR_INVAL.
        std::fprintf(stderr, "Config file not specified and none in save file\n");
        return -kLibxlErrorInval;
    }
    if (file != "/dev/null" && !config_file_readable(file)) return -kLibxlErrorFail;
    if (!quiet) std::fprintf(stderr, "Parsing config from %s\n", file.c_str());
    auto cfg = load_domain_config(file, overrides);
    if (!cfg) return 1;
    if (!check_bridges(*cfg, dryrun)) return 1;
    if (!cfg->uuid) cfg->uuid = config::Uuid::random();  // as xl: libxl_uuid_generate
    if (dryrun || debug) {
        // xl prints the config to stdout for a dry run, to stderr with -d.
        std::optional<config::HostTopology> host;
        if (!host_for(*cfg, host)) return 1;
        std::FILE* out = dryrun ? stdout : stderr;
        std::fputs(config::to_libxl_json(*cfg, host ? &*host : nullptr).c_str(), out);
        std::fflush(out);
        if (dryrun) return 0;
    }

    auto req = create_request_for(*cfg, file);
    if (!req) return 1;
    (*req)["cmd"] = "create";
    (*req)["paused"] = paused || console;
    auto reply = request(*req);
    if (!reply) return 1;
    if (!(*reply)["ok"].get<bool>()) {
        std::fprintf(stderr, "libxl: error: %s\n", (*reply)["error"].get<std::string>().c_str());
        return 1;
    }
    if (!console) return 0;

    UniqueFd fd = connect_daemon();
    if (!fd.valid()) return 1;
    const nlohmann::json creq = {{"cmd", "console"},
                                 {"domain", std::to_string((*reply)["domid"].get<unsigned>())},
                                 {"unpause", !paused}};
    if (!control::send_message(fd.get(), creq)) return 1;
    return run_console(std::move(fd));
}

}  // namespace xenolith::xl
