#include "toolstack/autostart/order.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace xenolith::autostart {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// The dependency graph: deps[i] are the indices domain i starts after.
struct Graph {
    std::vector<std::vector<std::size_t>> deps;
    std::vector<bool> active;  // false: a duplicate name, left out
};

// Names each domain's dependencies by index; names outside `domains` are
// reported to `missing` (and otherwise ignored).
Graph build_graph(const std::vector<AutoDomain>& domains, const std::map<std::string, std::size_t>& index,
                  std::vector<std::pair<std::size_t, std::string>>* missing) {
    Graph g;
    g.deps.resize(domains.size());
    g.active.assign(domains.size(), false);
    for (const auto& [name, i] : index) g.active[i] = true;
    for (std::size_t i = 0; i < domains.size(); ++i) {
        if (!g.active[i]) continue;
        for (const std::string& dep : domains[i].start_after) {
            auto it = index.find(dep);
            if (it != index.end())
                g.deps[i].push_back(it->second);
            else if (missing)
                missing->emplace_back(i, dep);
        }
    }
    return g;
}

// Kahn's algorithm, one level at a time. `placed` marks what got a level;
// the rest is on or behind a cycle.
Levels start_levels(const Graph& g, std::vector<bool>& placed) {
    Levels levels;
    placed.assign(g.deps.size(), false);
    for (;;) {
        std::vector<std::size_t> level;
        for (std::size_t i = 0; i < g.deps.size(); ++i) {
            if (!g.active[i] || placed[i]) continue;
            if (std::all_of(g.deps[i].begin(), g.deps[i].end(),
                            [&](std::size_t d) { return placed[d]; }))
                level.push_back(i);
        }
        if (level.empty()) return levels;
        for (std::size_t i : level) placed[i] = true;
        levels.push_back(std::move(level));
    }
}

// For the domains left without a level: the cycles, each as
// "a -> b -> a", and the domains that wait on one.
std::vector<std::string> describe_cycles(const std::vector<AutoDomain>& domains, const Graph& g,
                                         const std::vector<bool>& placed) {
    std::vector<std::string> lines;
    std::vector<bool> seen(g.deps.size(), false);
    std::vector<std::string> blocked;
    for (std::size_t start = 0; start < g.deps.size(); ++start) {
        if (!g.active[start] || placed[start] || seen[start]) continue;
        // Every unplaced domain has an unplaced dependency, so following
        // the first one ends on a cycle or on a domain walked before.
        std::vector<std::size_t> path;
        std::size_t at = start;
        while (at != kNone && !seen[at] && std::find(path.begin(), path.end(), at) == path.end()) {
            path.push_back(at);
            std::size_t next = kNone;
            for (std::size_t d : g.deps[at]) {
                if (!placed[d]) {
                    next = d;
                    break;
                }
            }
            at = next;
        }
        const auto cycle_start =
            at == kNone || seen[at] ? path.end() : std::find(path.begin(), path.end(), at);
        if (cycle_start != path.end()) {
            std::string chain, files;
            for (auto it = cycle_start; it != path.end(); ++it) {
                chain += domains[*it].name + " -> ";
                files += (files.empty() ? "" : ", ") + domains[*it].file;
            }
            chain += domains[at].name;
            lines.push_back(fmt::format("start_after forms a cycle: {} ({})", chain, files));
        }
        for (auto it = path.begin(); it != path.end(); ++it) {
            seen[*it] = true;
            if (it < cycle_start) blocked.push_back(domains[*it].name);
        }
    }
    if (!blocked.empty()) {
        std::sort(blocked.begin(), blocked.end());
        std::string names;
        for (const std::string& n : blocked) names += (names.empty() ? "" : ", ") + n;
        lines.push_back(fmt::format("waiting on a cycle, so they cannot start either: {}", names));
    }
    return lines;
}

}  // namespace

Result<Levels> plan_start(const std::vector<AutoDomain>& domains,
                          const std::set<std::string>& running, const std::string& auto_dir) {
    std::vector<std::string> errors;
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < domains.size(); ++i) {
        auto [it, fresh] = index.emplace(domains[i].name, i);
        if (!fresh)
            errors.push_back(fmt::format("{} and {} both define domain '{}'",
                                         domains[it->second].file, domains[i].file,
                                         domains[i].name));
    }
    std::vector<std::pair<std::size_t, std::string>> missing;
    const Graph g = build_graph(domains, index, &missing);
    for (const auto& [i, dep] : missing) {
        if (running.count(dep)) continue;
        errors.push_back(fmt::format("{}:{}: {}: '{}' is neither a domain in {} nor running",
                                     domains[i].file, domains[i].start_after_line, kStartAfterKey,
                                     dep, auto_dir));
    }
    std::vector<bool> placed;
    Levels levels = start_levels(g, placed);
    for (std::string& line : describe_cycles(domains, g, placed)) errors.push_back(std::move(line));
    if (!errors.empty()) {
        std::string all;
        for (const std::string& e : errors) all += (all.empty() ? "" : "\n") + e;
        return make_error(all);
    }
    return levels;
}

Levels plan_stop(const std::vector<AutoDomain>& domains, const std::set<std::string>& running,
                 std::vector<std::string>& warnings) {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < domains.size(); ++i) {
        auto [it, fresh] = index.emplace(domains[i].name, i);
        if (!fresh)
            warnings.push_back(fmt::format("{} and {} both define domain '{}'; using {}",
                                           domains[it->second].file, domains[i].file,
                                           domains[i].name, domains[it->second].file));
    }
    const Graph g = build_graph(domains, index, nullptr);
    // Peel off, level by level, the domains no remaining domain depends on.
    std::vector<bool> stopped(domains.size(), false);
    Levels all;
    for (;;) {
        std::vector<std::size_t> dependents(domains.size(), 0);
        bool any_left = false;
        for (std::size_t i = 0; i < domains.size(); ++i) {
            if (!g.active[i] || stopped[i]) continue;
            any_left = true;
            for (std::size_t d : g.deps[i]) ++dependents[d];
        }
        if (!any_left) break;
        std::vector<std::size_t> level;
        for (std::size_t i = 0; i < domains.size(); ++i)
            if (g.active[i] && !stopped[i] && dependents[i] == 0) level.push_back(i);
        if (level.empty()) {
            std::string names;
            for (std::size_t i = 0; i < domains.size(); ++i) {
                if (!g.active[i] || stopped[i]) continue;
                level.push_back(i);
                names += (names.empty() ? "" : ", ") + domains[i].name;
            }
            warnings.push_back(fmt::format(
                "start_after forms a cycle; stopping these together: {}", names));
        }
        for (std::size_t i : level) stopped[i] = true;
        all.push_back(std::move(level));
    }
    Levels out;
    for (auto& level : all) {
        std::vector<std::size_t> up;
        for (std::size_t i : level)
            if (running.count(domains[i].name)) up.push_back(i);
        if (!up.empty()) out.push_back(std::move(up));
    }
    return out;
}

}  // namespace xenolith::autostart
