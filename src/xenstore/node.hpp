// One node of the tree. Node contents are immutable once stored and shared
// by pointer (NodePtr): a transaction that reads a node keeps the version it
// saw for free, and a write builds a new Node. The generation lives beside
// the pointer (NodeRef) so committing a transaction's node needs no copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "xenstore/perms.hpp"
#include "xenstore/types.hpp"

namespace xenolith::xenstore {

struct Node {
    std::string value;     // arbitrary bytes
    std::string children;  // child names, each NUL-terminated, in creation
                           // order: exactly the DIRECTORY reply payload
    Perms perms;           // never empty; [0] is the owner

    domid_t owner() const { return perms.empty() ? domid_t{0} : perms[0].domid; }
    // Size for the "node-size" quota: C xenstored's record size (16-byte
    // header, 8 bytes per permission, value, child list).
    std::size_t size() const { return 16 + 8 * perms.size() + value.size() + children.size(); }
};
using NodePtr = std::shared_ptr<const Node>;

// A node as some view sees it, with its generation (bumped on every change;
// kNoGeneration when absent).
struct NodeRef {
    NodePtr node;
    std::uint64_t generation = kNoGeneration;

    explicit operator bool() const { return node != nullptr; }
    const Node* operator->() const { return node.get(); }
    const Node& operator*() const { return *node; }
};

// Bytes charged to the owner for the "memory" quota.
inline std::size_t charged_bytes(std::string_view path, const Node& n) {
    return path.size() + n.size();
}

// Child-list editing; names never contain NUL or '/'.
void add_child(std::string& children, std::string_view name);
bool remove_child(std::string& children, std::string_view name);

template <class F>
void for_each_child(std::string_view children, F&& f) {
    std::size_t pos = 0;
    while (pos < children.size()) {
        std::size_t end = children.find('\0', pos);
        if (end == std::string_view::npos) end = children.size();
        f(children.substr(pos, end - pos));
        pos = end + 1;
    }
}

}  // namespace xenolith::xenstore
