#include "xenstore/tree_ops.hpp"

#include <algorithm>
#include <memory>
#include <vector>

extern "C" {
#include <xen/io/xs_wire.h>
}

#include "xenstore/path.hpp"

namespace xenolith::xenstore {

namespace {

// Growth of one node's charged bytes when `before` (maybe null) becomes `after`.
std::uint64_t growth(std::string_view path, const Node* before, const Node& after) {
    std::size_t b = before ? charged_bytes(path, *before) : 0;
    std::size_t a = charged_bytes(path, after);
    return a > b ? a - b : 0;
}

// Checks a node the caller is about to store against "node-size".
bool too_big(Caller& caller, const Node& n) {
    caller.largest_node = std::max(caller.largest_node, n.size());
    return caller.max_node_size != 0 && n.size() > caller.max_node_size;
}

std::shared_ptr<Node> copy_of(const NodeRef& ref) { return std::make_shared<Node>(*ref); }

// Creates `path` and its missing ancestors; `path` gets `value`.
XsErr create(TreeView& view, Caller& caller, std::string_view path, std::string_view value) {
    // missing[0] is `path`, missing.back() the topmost absent ancestor.
    std::vector<std::string_view> missing{path};
    std::string_view top = path;
    NodeRef existing;
    for (;;) {
        if (top == "/") return XsErr::io;  // the root always exists
        top = parent_of(top);
        auto r = view.get(top);
        if (!r) return r.error();
        if (r.value()) {
            existing = std::move(r.value());
            break;
        }
        missing.push_back(top);
    }

    if (!caller.who.privileged && caller.max_nodes != 0 &&
        view.nodes_owned(caller.who.domid) + missing.size() > caller.max_nodes)
        return XsErr::nospc;

    // Build everything first; store only once every check has passed.
    auto anchor = copy_of(existing);
    add_child(anchor->children, basename_of(missing.back()));
    std::vector<std::shared_ptr<Node>> made;
    made.reserve(missing.size());
    const Node* parent = anchor.get();
    for (std::size_t i = missing.size(); i-- > 0;) {
        auto n = std::make_shared<Node>();
        n->perms = parent->perms;
        if (!caller.who.privileged) n->perms[0].domid = caller.who.domid;
        if (i > 0) add_child(n->children, basename_of(missing[i - 1]));
        else n->value.assign(value);
        made.push_back(n);
        parent = n.get();
    }

    if (too_big(caller, *anchor)) return XsErr::nospc;
    std::uint64_t grown = growth(top, existing.node.get(), *anchor);
    for (std::size_t k = 0; k < made.size(); ++k) {
        if (too_big(caller, *made[k])) return XsErr::nospc;
        grown += growth(missing[missing.size() - 1 - k], nullptr, *made[k]);
    }
    if (grown > caller.memory_budget) return XsErr::nomem;

    view.put(top, std::move(anchor));
    for (std::size_t k = 0; k < made.size(); ++k)
        view.put(missing[missing.size() - 1 - k], std::move(made[k]));
    view.changed(Change{std::string(path), Match::subtree, {}, {}});
    return XsErr::ok;
}

// Replaces an existing node after size and memory checks.
XsErr replace(TreeView& view, Caller& caller, std::string_view path, const NodeRef& old,
              std::shared_ptr<Node> n) {
    if (too_big(caller, *n)) return XsErr::nospc;
    if (growth(path, old.node.get(), *n) > caller.memory_budget) return XsErr::nomem;
    view.put(path, std::move(n));
    return XsErr::ok;
}

}  // namespace

XsResult<NodeRef> get_checked(TreeView& view, const Caller& caller, std::string_view path,
                              unsigned need) {
    auto r = view.get(path);
    if (!r) return r.error();
    if (r.value()) {
        if ((access_for(caller.who, r.value()->perms) & need) == need) return std::move(r.value());
        return XsErr::acces;
    }
    std::string_view p = path;
    while (p != "/") {
        p = parent_of(p);
        auto a = view.get(p);
        if (!a) return a.error();
        if (a.value())
            return (access_for(caller.who, a.value()->perms) & need) ? XsErr::noent : XsErr::acces;
    }
    return XsErr::acces;
}

XsErr write_value(TreeView& view, Caller& caller, std::string_view path, std::string_view value) {
    auto r = get_checked(view, caller, path, kPermWrite);
    if (!r) {
        if (r.error() != XsErr::noent) return r.error();
        return create(view, caller, path, value);
    }
    auto n = copy_of(r.value());
    n->value.assign(value);
    if (auto e = replace(view, caller, path, r.value(), std::move(n)); e != XsErr::ok) return e;
    view.changed(Change{std::string(path), Match::subtree, {}, {}});
    return XsErr::ok;
}

XsErr make_dir(TreeView& view, Caller& caller, std::string_view path) {
    auto r = get_checked(view, caller, path, kPermWrite);
    if (r) return XsErr::ok;
    if (r.error() != XsErr::noent) return r.error();
    return create(view, caller, path, {});
}

XsErr remove_tree(TreeView& view, Caller& caller, std::string_view path) {
    auto r = get_checked(view, caller, path, kPermWrite);
    if (!r) {
        if (r.error() != XsErr::noent) return r.error();
        auto parent = view.get(parent_of(path));
        if (!parent) return parent.error();
        return parent.value() ? XsErr::ok : XsErr::noent;
    }
    if (path == "/") return XsErr::inval;

    auto parent = view.get(parent_of(path));
    if (!parent) return parent.error();
    if (!parent.value()) return XsErr::io;

    // Breadth-first list of the subtree; `up` indexes each item's parent.
    struct Item {
        std::string path;
        NodeRef node;
        std::size_t up;
    };
    constexpr std::size_t kNone = ~std::size_t{0};
    std::vector<Item> items;
    items.push_back(Item{std::string(path), std::move(r.value()), kNone});
    for (std::size_t i = 0; i < items.size(); ++i) {
        const NodePtr node = items[i].node.node;
        const std::string base = items[i].path;
        XsErr err = XsErr::ok;
        for_each_child(node->children, [&](std::string_view name) {
            if (err != XsErr::ok) return;
            std::string cp = child_path(base, name);
            auto c = view.get(cp);
            if (!c) err = c.error();
            else if (c.value()) items.push_back(Item{std::move(cp), std::move(c.value()), i});
        });
        if (err != XsErr::ok) return err;
    }

    auto new_parent = copy_of(parent.value());
    remove_child(new_parent->children, basename_of(path));
    const Perms parent_perms = parent.value()->perms;

    // Children before parents, as C xenstored fires them.
    for (std::size_t i = items.size(); i-- > 0;) {
        Item& it = items[i];
        view.erase(it.path);
        Change c;
        c.match = i == 0 ? Match::subtree : Match::exact;
        c.old_perms = it.node->perms;
        c.parent_perms = i == 0 ? parent_perms : items[it.up].node->perms;
        c.path = std::move(it.path);
        view.changed(std::move(c));
    }
    view.put(parent_of(path), std::move(new_parent));
    return XsErr::ok;
}

XsErr set_perms(TreeView& view, Caller& caller, std::string_view path, Perms perms) {
    auto r = get_checked(view, caller, path, kPermWrite | kPermOwner);
    if (!r) return r.error();
    if (!caller.who.privileged && perms[0].domid != r.value()->owner()) return XsErr::perm;
    auto n = copy_of(r.value());
    Perms old = std::move(n->perms);
    n->perms = std::move(perms);
    if (auto e = replace(view, caller, path, r.value(), std::move(n)); e != XsErr::ok) return e;
    view.changed(Change{std::string(path), Match::subtree, std::move(old), {}});
    return XsErr::ok;
}

std::string directory_part(const NodeRef& node, std::size_t offset) {
    std::string out = std::to_string(node.generation);
    out += '\0';
    const std::string& list = node->children;
    std::size_t pos = offset;
    while (pos < list.size()) {
        std::size_t end = list.find('\0', pos);
        if (end == std::string::npos) end = list.size() - 1;
        std::size_t len = end - pos + 1;
        // Keep room for the closing "\0".
        if (out.size() + len + 1 > XENSTORE_PAYLOAD_MAX) break;
        out.append(list, pos, len);
        pos = end + 1;
    }
    if (pos >= list.size()) out += '\0';
    return out;
}

}  // namespace xenolith::xenstore
