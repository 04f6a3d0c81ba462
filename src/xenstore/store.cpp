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

namespace {

bool names(const Perms& perms, domid_t domid) {
    for (const Perm& p : perms)
        if (p.domid == domid) return true;
    return false;
}

}  // namespace

void Store::reindex(const std::string& path, const Node* before, const Node* after) {
    if (before) {
        for (const Perm& p : before->perms) {
            if (after && names(after->perms, p.domid)) continue;
            auto it = naming_.find(p.domid);
            if (it == naming_.end()) continue;
            it->second.erase(&path);
            if (it->second.empty()) naming_.erase(it);
        }
    }
    if (after)
        for (const Perm& p : after->perms) naming_[p.domid].insert(&path);
}

void Store::put(std::string_view path, NodePtr node) {
    const auto bytes = static_cast<std::int64_t>(charged_bytes(path, *node));
    const domid_t owner = node->owner();
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
        it = nodes_.emplace(std::string(path), NodeRef{std::move(node), next_generation()}).first;
        reindex(it->first, nullptr, it->second.node.get());
    } else {
        const NodePtr old = std::move(it->second.node);
        account(old->owner(), -1, -static_cast<std::int64_t>(charged_bytes(path, *old)));
        it->second = NodeRef{std::move(node), next_generation()};
        reindex(it->first, old.get(), it->second.node.get());
    }
    account(owner, 1, bytes);
}

void Store::erase(std::string_view path) {
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return;
    const Node& old = *it->second.node;
    account(old.owner(), -1, -static_cast<std::int64_t>(charged_bytes(path, old)));
    reindex(it->first, &old, nullptr);
    nodes_.erase(it);
}

std::vector<std::string> Store::paths_naming(domid_t domid) const {
    std::vector<std::string> out;
    auto it = naming_.find(domid);
    if (it == naming_.end()) return out;
    out.reserve(it->second.size());
    for (const std::string* path : it->second) out.push_back(*path);
    return out;
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
    std::size_t indexed = 0;
    for (const auto& [domid, paths] : naming_) {
        for (const std::string* path : paths) {
            auto n = get(*path);
            if (!n || !names(n->perms, domid))
                return make_error(fmt::format("xenstore: stale index entry dom{} {}", domid, *path));
        }
        indexed += paths.size();
    }
    std::size_t expected = 0;
    for (const auto& entry : nodes_) {
        const Perms& perms = entry.second.node->perms;
        for (std::size_t i = 0; i < perms.size(); ++i) {
            bool first = true;  // a domid named twice is indexed once
            for (std::size_t j = 0; j < i; ++j) first = first && perms[j].domid != perms[i].domid;
            expected += first ? 1 : 0;
        }
    }
    if (indexed != expected) return make_error("xenstore: node index incomplete");
    return ok_status();
}

}  // namespace xenolith::xenstore
