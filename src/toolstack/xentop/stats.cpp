#include "toolstack/xentop/stats.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "control/protocol.hpp"

namespace xenolith::xentop {
namespace {

using nlohmann::json;

std::uint64_t seconds_to_ns(double s) {
    return std::isfinite(s) && s > 0 ? static_cast<std::uint64_t>(std::llround(s * 1e9)) : 0;
}

Result<DomainSample> parse_domain(const json& d) {
    DomainSample s;
    try {
        s.domid = d.at("domid").get<unsigned>();
        s.name = d.at("name").get<std::string>();
        s.dying = d.at("dying").get<bool>();
        const bool shut = d.at("shutdown").get<bool>();
        const bool crash = shut && d.at("shutdown_reason").get<unsigned>() == 3;  // SHUTDOWN_crash
        s.shutdown = shut && !crash;
        s.crashed = crash;
        s.blocked = d.at("blocked").get<bool>();
        s.paused = d.at("paused").get<bool>();
        s.running = d.at("running").get<bool>();
        s.cpu_ns = seconds_to_ns(d.at("cpu_time").get<double>());
        s.cur_mem_bytes = d.at("current_memkb").get<std::uint64_t>() * 1024;
        // Domain 0 is the host, which no hypervisor limit applies to: as on
        // Xen without dom0_mem=max:, it has "no limit".
        if (s.domid != 0) s.max_mem_bytes = d.at("max_memkb").get<std::uint64_t>() * 1024;
        if (d.contains("vcpus") && d["vcpus"].is_array()) {
            for (const auto& v : d["vcpus"])
                s.vcpus.push_back({v.at("online").get<bool>(),
                                   seconds_to_ns(v.at("cpu_time").get<double>())});
        } else {
            // Domain 0's entry lists no vCPUs: its CPUs, all online, timed
            // by Source::sample from /proc/stat.
            s.vcpus.assign(d.at("vcpu_max_id").get<unsigned>() + 1, {true, 0});
        }
        s.ssid = d.value("ssidref", 0u);
    } catch (const json::exception& e) {
        return make_error(std::string("malformed domain entry: ") + e.what());
    }
    return s;
}

}  // namespace

const DomainSample* NodeSample::find(unsigned domid) const {
    for (const auto& d : domains)
        if (d.domid == domid) return &d;
    return nullptr;
}

Result<NodeSample> parse_node(const json& info, const json& list) {
    NodeSample n;
    try {
        n.xen_version = std::to_string(info.at("xen_major").get<unsigned>()) + "." +
                        std::to_string(info.at("xen_minor").get<unsigned>()) +
                        info.at("xen_extra").get<std::string>();
        n.tot_mem_bytes = info.at("total_memory_kib").get<std::uint64_t>() * 1024;
        n.free_mem_bytes = info.at("free_memory_kib").get<std::uint64_t>() * 1024;
        n.num_cpus = info.at("nr_cpus").get<unsigned>();
        n.cpu_hz = info.at("cpu_khz").get<std::uint64_t>() * 1000;
        for (const auto& d : list.at("domains")) {
            auto s = parse_domain(d);
            if (!s) return s.error();
            n.domains.push_back(std::move(*s));
        }
    } catch (const json::exception& e) {
        return make_error(std::string("malformed reply: ") + e.what());
    }
    return n;
}

Status Source::connect() {
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = control::socket_path();
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        const std::string why = std::strerror(errno);
        fd_.reset();
        return make_error("cannot connect to xenolithd at " + path + ": " + why);
    }
    return ok_status();
}

Result<json> Source::ask(const json& req) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!fd_.valid())
            if (auto st = connect(); !st) return st.error();
        if (control::send_message(fd_.get(), req)) {
            auto reply = control::recv_message(fd_.get());
            if (reply && *reply) {
                if (!(**reply).value("ok", false))
                    return make_error("xenolithd: " + (**reply).value("error", std::string("error")));
                return std::move(**reply);
            }
        }
        fd_.reset();  // the daemon closed the connection: reconnect once
    }
    return make_error("no reply from xenolithd");
}

Result<NodeSample> Source::sample() {
    auto info = ask({{"cmd", "info"}});
    if (!info) return info.error();
    auto list = ask({{"cmd", "list"}, {"config", false}});
    if (!list) return list.error();
    auto node = parse_node(*info, *list);
    if (!node) return node;
    const auto host = host_cpu_times();
    for (auto& d : node->domains) {
        if (d.domid != 0 || !host) continue;
        for (std::size_t i = 0; i < d.vcpus.size() && i < host->size(); ++i)
            d.vcpus[i].cpu_ns = (*host)[i].busy_us * 1000;
    }
    return node;
}

std::optional<std::vector<HostCpuTime>> host_cpu_times() {
    std::ifstream f("/proc/stat");
    if (!f) return std::nullopt;
    const double us_per_tick = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
    const auto us = [&](std::uint64_t ticks) {
        return static_cast<std::uint64_t>(static_cast<double>(ticks) * us_per_tick);
    };
    std::vector<HostCpuTime> cpus;
    std::string line;
    while (std::getline(f, line)) {
        // "cpuN user nice system idle iowait ...": idle and iowait are idle.
        if (line.rfind("cpu", 0) != 0 || line.size() < 4 || !std::isdigit(line[3])) continue;
        std::istringstream in(line);
        std::string cpu;
        std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0;
        in >> cpu >> user >> nice >> system >> idle >> iowait;
        cpus.push_back({us(user + nice + system), us(idle + iowait)});
    }
    if (cpus.empty()) return std::nullopt;
    return cpus;
}

}  // namespace xenolith::xentop
