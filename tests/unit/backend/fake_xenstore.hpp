// A xenstore for unit tests and fuzz targets: a flat map of paths, no
// permissions, and transactions that apply at once. Watches behave as
// xenstored's: one event when registered, then one per change at or below
// the watched path (or removal of an ancestor), signalled on an eventfd.
// `fail_commits` makes that many transaction_end calls answer EAGAIN.
#pragma once

#include <sys/eventfd.h>

#include <cerrno>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backend/services.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::testing {

class FakeXenstore final : public Xenstore {
public:
    std::map<std::string, std::string> nodes;
    unsigned fail_commits = 0;
    unsigned fail_writes = 0;  // the next N writes fail with EACCES

    std::pair<std::string, int> read(Tx, const std::string& path) override {
        auto it = nodes.find(path);
        return it == nodes.end() ? std::pair<std::string, int>{"", ENOENT} : std::pair{it->second, 0};
    }
    int write(Tx, const std::string& path, const std::string& value) override {
        if (fail_writes > 0) {
            --fail_writes;
            return EACCES;
        }
        nodes[path] = value;
        changed(path);
        return 0;
    }
    int mkdir(Tx, const std::string& path) override {
        nodes.try_emplace(path, "");
        changed(path);
        return 0;
    }
    // Removes the node and everything below it, as xenstored does.
    int rm(Tx, const std::string& path) override {
        bool found = nodes.erase(path) != 0;
        std::string prefix = path + "/";
        for (auto it = nodes.lower_bound(prefix); it != nodes.end() && it->first.starts_with(prefix);) {
            it = nodes.erase(it);
            found = true;
        }
        if (found) changed(path);
        return found ? 0 : ENOENT;
    }
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
    int transaction_end(Tx, bool) override {
        if (fail_commits > 0) {
            --fail_commits;
            return EAGAIN;
        }
        return 0;
    }
    int watch(const std::string& path, const std::string& token) override {
        watches_.emplace_back(path, token);
        queue(path, token);
        return 0;
    }
    int unwatch(const std::string& path, const std::string& token) override {
        for (auto it = watches_.begin(); it != watches_.end(); ++it) {
            if (it->first == path && it->second == token) {
                watches_.erase(it);
                return 0;
            }
        }
        return ENOENT;
    }
    int watch_fd() const override { return efd_.get(); }
    std::optional<WatchEvent> next_watch_event() override {
        if (events_.empty()) {
            eventfd_t n;
            (void)::eventfd_read(efd_.get(), &n);
            return std::nullopt;
        }
        WatchEvent e = std::move(events_.front());
        events_.pop_front();
        return e;
    }

    std::size_t watch_count() const { return watches_.size(); }

private:
    void queue(const std::string& path, const std::string& token) {
        events_.push_back(WatchEvent{path, token});
        (void)::eventfd_write(efd_.get(), 1);
    }
    void changed(const std::string& path) {
        for (const auto& [w, token] : watches_) {
            if (path == w || path.starts_with(w + "/")) queue(path, token);
            else if (w.starts_with(path + "/")) queue(w, token);
        }
    }

    UniqueFd efd_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    std::vector<std::pair<std::string, std::string>> watches_;
    std::deque<WatchEvent> events_;
};

}  // namespace xenolith::backend::testing
