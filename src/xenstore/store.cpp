#include "xenstore/store.hpp"

#include <fmt/format.h>

#include <map>

#include "xenstore/path.hpp"

namespace xenolith::xenstore {

Store::Store(domid_t priv_domid) {
    auto make = [&](std::string children) {
        auto n = std::make_shared<Node>();
        n->children = std::move(children);
        n->perms = {Perm{priv_domid, kPermNone}};
        return n;
    };
    using namespace std::string_literals;
    put("/", make("tool\0"s));
    put("/tool", make("xenstored\0"s));
    put("/tool/xenstored", make(""));
    put("@introduceDomain", make(""));
    put("@releaseDomain", make(""));
}

NodeRef Store::get(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? NodeRef{} : it->second;
}

void Store::account(domid_t owner, std::int64_t nodes, std::int64_t bytes) {
    auto& u = usage_[owner];
    u.nodes = static_cast<std::uint32_t>(static_cast<std::int64_t>(u.nodes) + nodes);
    u.bytes = static_cast<std::uint64_t>(static_cast<std::int64_t>(u.bytes) + bytes);
    if (u.nodes == 0 && u.bytes == 0) usage_.erase(owner);
}

void Store::put(std::string_view path, NodePtr node) {
    const auto bytes = static_cast<std::int64_t>(charged_bytes(path, *node));
    const domid_t owner = node->owner();
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
        nodes_.emplace(std::string(path), NodeRef{std::move(node), next_generation()});
    } else {
        const Node& old = *it->second.node;
        account(old.owner(), -1, -static_cast<std::int64_t>(charged_bytes(path, old)));
        it->second = NodeRef{std::move(node), next_generation()};
    }
    account(owner, 1, bytes);
}

void Store::erase(std::string_view path) {
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return;
    const Node& old = *it->second.node;
    account(old.owner(), -1, -static_cast<std::int64_t>(charged_bytes(path, old)));
    nodes_.erase(it);
}

OwnerUsage Store::usage(domid_t owner) const {
    auto it = usage_.find(owner);
    return it == usage_.end() ? OwnerUsage{} : it->second;
}

Status Store::check() const {
    if (!exists("/")) return make_error("xenstore: root node missing");
    std::map<domid_t, OwnerUsage> recount;
    for (const auto& entry : nodes_) {
        const std::string& path = entry.first;  // lambdas below cannot capture bindings (clang 14)
        const Node& n = *entry.second.node;
        if (n.perms.empty())
            return make_error(fmt::format("xenstore: {} has no permissions", path));
        if (!n.children.empty() && n.children.back() != '\0')
            return make_error(fmt::format("xenstore: {} has a torn child list", path));
        auto& u = recount[n.owner()];
        ++u.nodes;
        u.bytes += charged_bytes(path, n);
        std::map<std::string_view, int> seen;
        bool bad = false;
        for_each_child(n.children, [&](std::string_view c) {
            if (c.empty() || ++seen[c] > 1 || !exists(child_path(path, c))) bad = true;
        });
        if (bad) return make_error(fmt::format("xenstore: bad child list at {}", path));
        if (path == "/" || is_special(path)) continue;
        auto parent = get(parent_of(path));
        if (!parent) return make_error(fmt::format("xenstore: {} has no parent", path));
        std::size_t listed = 0;
        for_each_child(parent->children, [&](std::string_view c) {
            if (c == basename_of(path)) ++listed;
        });
        if (listed != 1)
            return make_error(fmt::format("xenstore: {} listed {} times", path, listed));
    }
    for (const auto& [owner, u] : recount) {
        auto have = usage(owner);
        if (have.nodes != u.nodes || have.bytes != u.bytes)
            return make_error(fmt::format("xenstore: accounting of dom{} is off", owner));
    }
    if (recount.size() != usage_.size()) return make_error("xenstore: stale accounting entries");
    return ok_status();
}

}  // namespace xenolith::xenstore
