// READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART, GET_PERMS, SET_PERMS.
#include <cstdint>

#include "xenstore/args.hpp"
#include "xenstore/path.hpp"
#include "xenstore/request.hpp"

namespace xenolith::xenstore {

namespace {

// Requests whose only argument is a path; `read` gets the checked node.
template <class F>
XsErr read_node(Request& r, bool allow_special, F&& read) {
    auto arg = one_arg(r.payload());
    if (!arg) return XsErr::inval;
    auto path = r.path(*arg, allow_special);
    if (!path) return path.error();
    return r.in_view([&](TreeView& v) {
        auto n = get_checked(v, r.caller, *path, kPermRead);
        if (!n) return n.error();
        read(n.value());
        return XsErr::ok;
    });
}

template <class F>
XsErr modify_node(Request& r, F&& op) {
    auto arg = one_arg(r.payload());
    if (!arg) return XsErr::inval;
    auto path = r.path(*arg, false);
    if (!path) return path.error();
    XsErr e = r.in_view([&](TreeView& v) { return op(v, *path); });
    if (e == XsErr::ok) r.ack();
    return e;
}

}  // namespace

XsErr do_read(Request& r) {
    return read_node(r, false, [&](const NodeRef& n) { r.reply = n->value; });
}

XsErr do_directory(Request& r) {
    return read_node(r, false, [&](const NodeRef& n) { r.reply = n->children; });
}

XsErr do_get_perms(Request& r) {
    return read_node(r, true, [&](const NodeRef& n) { r.reply = perms_to_wire(n->perms); });
}

XsErr do_directory_part(Request& r) {
    if (count_nuls(r.payload()) != 2) return XsErr::inval;
    auto args = split_strings(r.payload());
    auto offset = parse_decimal(args[1], UINT32_MAX);
    if (!offset) return XsErr::inval;
    auto path = r.path(args[0], false);
    if (!path) return path.error();
    return r.in_view([&](TreeView& v) {
        auto n = get_checked(v, r.caller, *path, kPermRead);
        if (!n) return n.error();
        r.reply = directory_part(n.value(), *offset);
        return XsErr::ok;
    });
}

XsErr do_write(Request& r) {
    const std::string_view payload = r.payload();
    const std::size_t nul = payload.find('\0');
    if (nul == std::string_view::npos) return XsErr::inval;
    auto path = r.path(payload.substr(0, nul), false);
    if (!path) return path.error();
    const std::string_view value = payload.substr(nul + 1);
    XsErr e = r.in_view([&](TreeView& v) { return write_value(v, r.caller, *path, value); });
    if (e == XsErr::ok) r.ack();
    return e;
}

XsErr do_mkdir(Request& r) {
    return modify_node(r, [&](TreeView& v, const std::string& p) {
        return make_dir(v, r.caller, p);
    });
}

XsErr do_rm(Request& r) {
    return modify_node(r, [&](TreeView& v, const std::string& p) {
        return remove_tree(v, r.caller, p);
    });
}

XsErr do_set_perms(Request& r) {
    auto args = split_strings(r.payload());
    if (args.size() < 2) return XsErr::inval;
    const std::size_t count = args.size() - 1;
    if (!r.conn.privileged) {
        r.core.maxima.note(r.conn.domid, false, Quota::node_permissions, count);
        if (exceeds(r.core.quotas.hard(Quota::node_permissions), count)) return XsErr::nospc;
    }
    Perms perms;
    perms.reserve(count);
    for (std::size_t i = 1; i < args.size(); ++i) {
        auto p = parse_perm(args[i]);
        if (!p) return XsErr::inval;
        perms.push_back(*p);
    }
    auto path = r.path(args[0], true);
    if (!path) return path.error();
    XsErr e = r.in_view(
        [&](TreeView& v) { return set_perms(v, r.caller, *path, std::move(perms)); });
    if (e == XsErr::ok) r.ack();
    return e;
}

}  // namespace xenolith::xenstore
