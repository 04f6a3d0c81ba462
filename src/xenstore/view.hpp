// TreeView: the tree as one request sees it. DirectView works on the
// committed Store; a Transaction is a TreeView over its own overlay. The
// operations in tree_ops.hpp are written once against this interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xenstore/errors.hpp"
#include "xenstore/node.hpp"
#include "xenstore/store.hpp"

namespace xenolith::xenstore {

// How a change matches watches: `subtree` fires watches on the path and on
// its ancestors (depth permitting); `exact` only watches on the path itself
// (descendants removed along with an RM'd node).
enum class Match : std::uint8_t { exact, subtree };

// One change to report to watchers.
struct Change {
    std::string path;
    Match match = Match::subtree;
    // Permissions before the change (SET_PERMS, removals, transactions):
    // a watcher that could read the node before still hears about it.
    std::optional<Perms> old_perms;
    // For removals: the parent as it was, as it may be gone by firing time.
    std::optional<Perms> parent_perms;
};

class TreeView {
public:
    virtual ~TreeView() = default;

    // The node at `path` (null NodeRef if absent). A transaction records the
    // access and fails with ENOSPC past its "transaction-nodes" quota.
    virtual XsResult<NodeRef> get(std::string_view path) = 0;
    // Only after get() of the same path in the same request.
    virtual void put(std::string_view path, NodePtr node) = 0;
    virtual void erase(std::string_view path) = 0;
    virtual void changed(Change change) = 0;
    // Nodes owned by `domid` as this view sees them ("nodes" quota).
    virtual std::uint32_t nodes_owned(domid_t domid) const = 0;
};

// Changes go straight to the store; watch changes are collected for firing
// once the request succeeds.
class DirectView final : public TreeView {
public:
    explicit DirectView(Store& store) : store_(store) {}

    XsResult<NodeRef> get(std::string_view path) override { return store_.get(path); }
    void put(std::string_view path, NodePtr node) override { store_.put(path, std::move(node)); }
    void erase(std::string_view path) override { store_.erase(path); }
    void changed(Change change) override { changes_.push_back(std::move(change)); }
    std::uint32_t nodes_owned(domid_t domid) const override { return store_.usage(domid).nodes; }

    std::vector<Change>& changes() { return changes_; }

private:
    Store& store_;
    std::vector<Change> changes_;
};

}  // namespace xenolith::xenstore
