// A xenstore for unit tests: a flat map of paths, no permissions, and
// transactions that apply at once. Enough for code that reads and writes
// keys through the Xenstore service.
#pragma once

#include <cerrno>
#include <map>
#include <string>

#include "backend/services.hpp"

namespace xenolith::backend::testing {

class FakeXenstore final : public Xenstore {
public:
    std::map<std::string, std::string> nodes;

    std::pair<std::string, int> read(Tx, const std::string& path) override {
        auto it = nodes.find(path);
        return it == nodes.end() ? std::pair<std::string, int>{"", ENOENT} : std::pair{it->second, 0};
    }
    int write(Tx, const std::string& path, const std::string& value) override {
        nodes[path] = value;
        return 0;
    }
    int mkdir(Tx, const std::string& path) override {
        nodes.try_emplace(path, "");
        return 0;
    }
    int rm(Tx, const std::string& path) override { return nodes.erase(path) ? 0 : ENOENT; }
    std::pair<std::vector<std::string>, int> directory(Tx, const std::string& path) override {
        std::vector<std::string> out;
        std::string prefix = path + "/";
        for (const auto& [k, v] : nodes)
            if (k.starts_with(prefix) && k.find('/', prefix.size()) == std::string::npos)
                out.push_back(k.substr(prefix.size()));
        return {out, 0};
    }
    int set_perms(Tx, const std::string& path, std::span<const XsPerm>) override {
        return nodes.count(path) ? 0 : ENOENT;
    }
    std::pair<Tx, int> transaction_start() override { return {1, 0}; }
    int transaction_end(Tx, bool) override { return 0; }
    int watch(const std::string&, const std::string&) override { return 0; }
    int unwatch(const std::string&, const std::string&) override { return 0; }
    int watch_fd() const override { return -1; }
    std::optional<WatchEvent> next_watch_event() override { return std::nullopt; }
};

}  // namespace xenolith::backend::testing
