#include "xenstore/transaction.hpp"

namespace xenolith::xenstore {

Transaction::Transaction(std::uint32_t id, Store& store, std::uint32_t max_nodes)
    : id_(id), store_(store), max_nodes_(max_nodes) {}

Transaction::Entry& Transaction::touch(std::string_view path) {
    auto it = entries_.find(path);
    if (it != entries_.end()) return it->second;
    Entry e;
    e.current = store_.get(path);
    e.base_generation = e.current.generation;
    if (e.current) e.first_perms = e.current->perms;
    auto [pos, inserted] = entries_.emplace(std::string(path), std::move(e));
    (void)inserted;
    order_.push_back(&pos->first);
    return pos->second;
}

XsResult<NodeRef> Transaction::get(std::string_view path) {
    auto it = entries_.find(path);
    if (it != entries_.end()) return it->second.current;
    if (max_nodes_ != 0 && entries_.size() >= max_nodes_) return XsErr::nospc;
    return touch(path).current;
}

void Transaction::replace_current(Entry& e, std::string_view path, NodeRef next) {
    if (e.current) {
        --node_delta_[e.current->owner()];
        if (e.modified) bytes_ -= charged_bytes(path, *e.current);
    } else {
        created_ = true;
    }
    if (next) {
        ++node_delta_[next->owner()];
        bytes_ += charged_bytes(path, *next);
    }
    e.current = std::move(next);
    e.modified = true;
}

void Transaction::put(std::string_view path, NodePtr node) {
    Entry& e = touch(path);
    replace_current(e, path, NodeRef{std::move(node), store_.next_generation()});
}

void Transaction::erase(std::string_view path) {
    Entry& e = touch(path);
    replace_current(e, path, NodeRef{});
}

void Transaction::changed(Change change) {
    Entry& e = touch(change.path);
    if (!e.fire || change.match == Match::subtree) e.match = change.match;
    e.fire = true;
}

std::uint32_t Transaction::nodes_owned(domid_t domid) const {
    std::int64_t n = store_.usage(domid).nodes;
    if (auto it = node_delta_.find(domid); it != node_delta_.end()) n += it->second;
    return n < 0 ? 0 : static_cast<std::uint32_t>(n);
}

XsResult<std::vector<Change>> Transaction::commit(
    const std::function<std::uint32_t(domid_t)>& node_limit) {
    for (const std::string* path : order_) {
        if (store_.get(*path).generation != entries_.find(*path)->second.base_generation)
            return XsErr::again;
    }
    if (created_) {
        for (const auto& [domid, delta] : node_delta_) {
            std::uint32_t limit = node_limit(domid);
            if (delta > 0 && limit != 0 && store_.usage(domid).nodes + delta > limit)
                return XsErr::nospc;
        }
    }
    std::vector<Change> changes;
    for (const std::string* path : order_) {
        Entry& e = entries_.find(*path)->second;
        if (e.modified) {
            if (e.current) store_.put(*path, e.current.node);
            else store_.erase(*path);
        }
        if (e.fire) changes.push_back(Change{*path, e.match, std::move(e.first_perms), {}});
    }
    entries_.clear();
    order_.clear();
    return changes;
}

}  // namespace xenolith::xenstore
