// The committed tree: path -> node, a global generation counter, the
// per-owner accounting the "nodes" and "memory" quotas read, and an index
// of the nodes whose permissions name each domain (what its destruction
// must look at, so that costs what the domain has, not what the store
// holds). The Store does no permission checks; tree_ops.hpp does, over a
// TreeView.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/result.hpp"
#include "xenstore/node.hpp"

namespace xenolith::xenstore {

struct OwnerUsage {
    std::uint32_t nodes = 0;
    std::uint64_t bytes = 0;
};

// Heterogeneous lookup: find by string_view without building a string.
struct PathHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

class Store {
public:
    // The initial tree, as C xenstored: "/", "/tool", "/tool/xenstored" and
    // the special nodes "@introduceDomain" and "@releaseDomain", all owned by
    // `priv_domid` with no access for others.
    explicit Store(domid_t priv_domid = 0);

    NodeRef get(std::string_view path) const;
    bool exists(std::string_view path) const { return nodes_.find(path) != nodes_.end(); }

    // Stores `node` at `path` under a fresh generation.
    void put(std::string_view path, NodePtr node);
    void erase(std::string_view path);

    // The counter behind every generation (also used for transaction nodes).
    std::uint64_t next_generation() { return ++generation_; }
    std::uint64_t generation() const { return generation_; }

    OwnerUsage usage(domid_t owner) const;
    std::size_t size() const { return nodes_.size(); }

    // The paths of the nodes whose permissions name `domid`, as owner or in
    // a later entry, in no particular order. Proportional to their number.
    std::vector<std::string> paths_naming(domid_t domid) const;

    template <class F>
    void for_each(F&& f) const {
        for (const auto& [path, slot] : nodes_) f(path, slot);
    }

    // Consistency check (CONTROL "check", fuzzing): parents list their
    // children exactly once, every listed child exists, accounting adds up.
    Status check() const;

private:
    void account(domid_t owner, std::int64_t nodes, std::int64_t bytes);
    // Index maintenance: `path` (a key of nodes_) goes from `before` to
    // `after` (either may be null: created, erased).
    void reindex(const std::string& path, const Node* before, const Node* after);

    std::unordered_map<std::string, NodeRef, PathHash, std::equal_to<>> nodes_;
    std::unordered_map<domid_t, OwnerUsage> usage_;
    // domid -> keys of nodes_ whose perms name it (keys are stable: nodes_
    // is node-based, and an entry leaves the index before its node goes).
    std::unordered_map<domid_t, std::unordered_set<const std::string*>> naming_;
    std::uint64_t generation_ = 0;
};

}  // namespace xenolith::xenstore
