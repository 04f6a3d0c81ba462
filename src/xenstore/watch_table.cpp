#include "xenstore/watch_table.hpp"

#include <algorithm>
#include <utility>

#include "xenstore/path.hpp"

namespace xenolith::xenstore {

namespace {

bool can_read(const Connection& c, const Perms& perms) {
    return (access_for(c.identity(), perms) & kPermRead) != 0;
}

// May `c` hear about `change`? The node before the change, the node now, or
// its parent must be readable.
bool may_see(const Connection& c, const Change& change, const Store& store) {
    if (c.privileged) return true;
    if (change.old_perms && can_read(c, *change.old_perms)) return true;
    NodeRef node = store.get(change.path);
    if (node) {
        if (can_read(c, node->perms)) return true;
        if (change.parent_perms) return can_read(c, *change.parent_perms);
        if (change.path == "/") return false;
        NodeRef parent = store.get(parent_of(change.path));
        return parent && can_read(c, parent->perms);
    }
    return change.parent_perms && can_read(c, *change.parent_perms);
}

}  // namespace

const Watch& WatchTable::add(Connection& conn, Watch w) {
    conn.watch_bytes += w.path.size() + w.token.size();
    conn.watches.push_back(std::move(w));
    const Watch& stored = conn.watches.back();
    by_path_[stored.path].push_back(Ref{&conn, &stored});
    ++count_;
    return stored;
}

const Watch* WatchTable::find(const Connection& conn, std::string_view path,
                              std::string_view token) {
    for (const auto& w : conn.watches) {
        if (w.path == path && w.token == token) return &w;
    }
    return nullptr;
}

bool WatchTable::remove(Connection& conn, std::string_view path, std::string_view token) {
    auto it = std::find_if(conn.watches.begin(), conn.watches.end(),
                           [&](const Watch& w) { return w.path == path && w.token == token; });
    if (it == conn.watches.end()) return false;
    auto idx = by_path_.find(path);
    if (idx != by_path_.end()) {
        auto& refs = idx->second;
        std::erase_if(refs, [&](const Ref& r) { return r.watch == &*it; });
        if (refs.empty()) by_path_.erase(idx);
    }
    conn.watch_bytes -= it->path.size() + it->token.size();
    conn.watches.erase(it);
    --count_;
    return true;
}

void WatchTable::remove_all(Connection& conn) {
    while (!conn.watches.empty()) {
        const Watch& w = conn.watches.front();
        std::string path = w.path;
        std::string token = w.token;
        remove(conn, path, token);
    }
}

void WatchTable::deliver(const Ref& r, std::string_view event_path, Outbox& out) const {
    // A confined connection's watches are inside its scope, and so are the
    // paths they match; checked again here so that no event ever leaks.
    if (r.conn->scope && !scope_allows(*r.conn->scope, event_path, false)) return;
    std::string_view p = event_path;
    if (r.watch->prefix_len <= p.size()) p.remove_prefix(r.watch->prefix_len);
    out.push(*r.conn, p, r.watch->token);
}

void WatchTable::fire(const Change& change, const Store& store, Outbox& out) const {
    if (count_ == 0) return;
    // Visibility is per connection; remember answers within this change.
    std::vector<std::pair<const Connection*, bool>> seen;
    auto visible = [&](const Connection& c) {
        for (const auto& [conn, ok] : seen) {
            if (conn == &c) return ok;
        }
        bool ok = may_see(c, change, store);
        seen.emplace_back(&c, ok);
        return ok;
    };
    auto visit = [&](std::string_view watched, bool exact) {
        auto it = by_path_.find(watched);
        if (it == by_path_.end()) return;
        for (const Ref& r : it->second) {
            if (!exact && !path_matches(change.path, watched, r.watch->depth)) continue;
            if (visible(*r.conn)) deliver(r, change.path, out);
        }
    };

    std::string_view p = change.path;
    visit(p, true);
    if (change.match == Match::exact) return;
    while (p != "/") {
        p = parent_of(p);
        visit(p, false);
    }
}

void WatchTable::fire_special(std::string_view name, domid_t domid, bool plain, bool with_domid,
                              const Store& store, Outbox& out) const {
    NodeRef node = store.get(name);
    if (!node || count_ == 0) return;
    auto readable = [&](const Connection& c) { return c.privileged || can_read(c, node->perms); };
    std::string name_dom(name);
    name_dom += '/';
    name_dom += std::to_string(domid);

    if (auto it = by_path_.find(name); it != by_path_.end()) {
        for (const Ref& r : it->second) {
            if (!readable(*r.conn)) continue;
            if (plain && r.watch->depth < 0) deliver(r, name, out);
            if (with_domid && r.watch->depth > 0) deliver(r, name_dom, out);
        }
    }
    if (!with_domid) return;
    if (auto it = by_path_.find(name_dom); it != by_path_.end()) {
        for (const Ref& r : it->second) {
            if (readable(*r.conn)) deliver(r, name_dom, out);
        }
    }
}

}  // namespace xenolith::xenstore
