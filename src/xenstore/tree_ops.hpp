// The node operations behind READ, WRITE, MKDIR, RM, DIRECTORY(_PART),
// GET_PERMS and SET_PERMS, with C xenstored's permission, inheritance and
// quota rules. Each is atomic: it checks everything before changing the view.
// Paths are already canonical (path.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "xenstore/errors.hpp"
#include "xenstore/perms.hpp"
#include "xenstore/view.hpp"

namespace xenolith::xenstore {

// Who runs an operation and what they may still consume. Unprivileged
// callers are limited; a limit of 0 means "no limit".
struct Caller {
    Identity who;
    std::uint32_t max_nodes = 0;      // "nodes": per owning domain
    std::uint32_t max_node_size = 0;  // "node-size": Node::size()
    std::uint64_t memory_budget = ~std::uint64_t{0};  // bytes left of "memory"
    // Out: largest node this caller wrote (for the max-seen statistics).
    std::size_t largest_node = 0;
};

// The node at `path` if the caller has all of `need` (kPerm* bits). Errors
// do not leak existence: ENOENT only if the nearest existing ancestor grants
// some of `need`, EACCES otherwise (C xenstored's errno_from_parents()).
XsResult<NodeRef> get_checked(TreeView& view, const Caller& caller, std::string_view path,
                              unsigned need);

// WRITE: sets the value, creating the node and missing ancestors (empty,
// permissions inherited from the parent; an unprivileged creator becomes
// the owner).
XsErr write_value(TreeView& view, Caller& caller, std::string_view path, std::string_view value);
// MKDIR: like WRITE with an empty value, but an existing node is untouched.
XsErr make_dir(TreeView& view, Caller& caller, std::string_view path);
// RM: removes the node and its subtree. Absent node: fine if its parent
// exists, ENOENT otherwise. Removing "/" is EINVAL.
XsErr remove_tree(TreeView& view, Caller& caller, std::string_view path);
// SET_PERMS: needs write and ownership; only privileged callers may change
// the owner (EPERM).
XsErr set_perms(TreeView& view, Caller& caller, std::string_view path, Perms perms);

// DIRECTORY_PART reply: "<generation>\0" then whole child entries from byte
// `offset` of the child list as fit in XENSTORE_PAYLOAD_MAX, then a final
// "\0" once the list is complete.
std::string directory_part(const NodeRef& node, std::size_t offset);

}  // namespace xenolith::xenstore
