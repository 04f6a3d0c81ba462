// A transaction: a TreeView that records every node it touches with the
// generation it had at first access, keeps its own versions of the nodes it
// changes, and at commit fails with EAGAIN only if one of those nodes has
// since changed in the committed store (C xenstored's rule). Nothing is
// copied up front: the first access of a path takes the committed version,
// which is shared, not copied.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xenstore/view.hpp"

namespace xenolith::xenstore {

class Transaction final : public TreeView {
public:
    // `max_nodes`: "transaction-nodes" quota (0: unlimited).
    Transaction(std::uint32_t id, Store& store, std::uint32_t max_nodes);

    std::uint32_t id() const { return id_; }

    XsResult<NodeRef> get(std::string_view path) override;
    void put(std::string_view path, NodePtr node) override;
    void erase(std::string_view path) override;
    void changed(Change change) override;
    std::uint32_t nodes_owned(domid_t domid) const override;

    // Nodes touched so far.
    std::size_t accessed() const { return entries_.size(); }
    // Charged bytes of the node versions this transaction holds ("memory").
    std::uint64_t bytes() const { return bytes_; }

    // Applies the transaction to the store and returns the watch changes to
    // fire. EAGAIN: a node it touched changed meanwhile. ENOSPC: it created
    // nodes and a domain would now exceed `node_limit(domid)` (0: no limit).
    // Either way the transaction is finished.
    XsResult<std::vector<Change>> commit(const std::function<std::uint32_t(domid_t)>& node_limit);

private:
    struct Entry {
        std::uint64_t base_generation = kNoGeneration;  // committed, at first access
        NodeRef current;                                // as this transaction sees it
        std::optional<Perms> first_perms;               // perms at first access
        bool modified = false;
        bool fire = false;
        Match match = Match::exact;
    };

    Entry& touch(std::string_view path);
    void replace_current(Entry& e, std::string_view path, NodeRef next);

    std::uint32_t id_;
    Store& store_;
    std::uint32_t max_nodes_;
    std::unordered_map<std::string, Entry, PathHash, std::equal_to<>> entries_;
    std::vector<const std::string*> order_;  // keys, in first-access order
    std::unordered_map<domid_t, std::int64_t> node_delta_;
    std::uint64_t bytes_ = 0;
    bool created_ = false;
};

}  // namespace xenolith::xenstore
