#include "host/cpus.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace xenolith::host {
namespace {

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

std::optional<std::vector<unsigned>> parse_linux_cpulist(std::string_view text) {
    std::vector<unsigned> out;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t comma = text.find(',', pos);
        if (comma == std::string_view::npos) comma = text.size();
        const std::string_view part = text.substr(pos, comma - pos);
        pos = comma + 1;
        unsigned first = 0, last = 0;
        const char* end = part.data() + part.size();
        auto r = std::from_chars(part.data(), end, first);
        if (r.ec != std::errc()) return std::nullopt;
        last = first;
        if (r.ptr != end) {
            if (*r.ptr != '-') return std::nullopt;
            r = std::from_chars(r.ptr + 1, end, last);
            if (r.ec != std::errc() || r.ptr != end || last < first) return std::nullopt;
        }
        if (last >= 65536) return std::nullopt;  // beyond any Linux NR_CPUS
        for (unsigned c = first; c <= last; ++c) out.push_back(c);
    }
    return out;
}

HostCpus read_host_cpus(const std::string& sysfs_root) {
    HostCpus h;
    if (auto possible = parse_linux_cpulist(read_text(sysfs_root + "/cpu/possible"));
        possible && !possible->empty())
        h.nr_cpus = possible->back() + 1;
    else
        h.nr_cpus = static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_CONF)));
    if (auto online = parse_linux_cpulist(read_text(sysfs_root + "/cpu/online")))
        for (unsigned c : *online)
            if (c < h.nr_cpus) h.online.push_back(c);
    // Nodes: node<N> directories; a host without NUMA sysfs has one node.
    if (DIR* dir = opendir((sysfs_root + "/node").c_str())) {
        while (dirent* e = readdir(dir)) {
            unsigned id = 0;
            const std::string_view name = e->d_name;
            if (!name.starts_with("node")) continue;
            auto r = std::from_chars(name.data() + 4, name.data() + name.size(), id);
            if (r.ec != std::errc() || r.ptr != name.data() + name.size() || id >= 4096) continue;
            if (h.node_cpus.size() <= id) h.node_cpus.resize(id + 1);
            if (auto cpus = parse_linux_cpulist(
                    read_text(fmt::format("{}/node/{}/cpulist", sysfs_root, name))))
                for (unsigned c : *cpus)
                    if (c < h.nr_cpus) h.node_cpus[id].push_back(c);
        }
        closedir(dir);
    }
    if (h.node_cpus.empty()) h.node_cpus.push_back(h.online);
    return h;
}

unsigned host_cpu_count() {
    static const unsigned count = read_host_cpus().nr_cpus;
    return count;
}

}  // namespace xenolith::host
