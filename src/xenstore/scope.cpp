#include "xenstore/scope.hpp"

#include <algorithm>

extern "C" {
#include <xen/io/xs_wire.h>
}

#include "xenstore/path.hpp"

namespace xenolith::xenstore {

bool path_within(std::string_view path, std::string_view prefix) {
    if (prefix == "/") return !path.empty() && path[0] == '/';
    if (!path.starts_with(prefix)) return false;
    return path.size() == prefix.size() || path[prefix.size()] == '/';
}

XsErr validate_scope(const Scope& scope) {
    auto valid = [](const std::string& p) {
        if (p.empty() || p[0] != '/') return false;
        auto c = canonicalize(p, 0, false, 0);
        return c && *c == p;
    };
    if (!std::all_of(scope.writable.begin(), scope.writable.end(), valid) ||
        !std::all_of(scope.readable.begin(), scope.readable.end(), valid))
        return XsErr::inval;
    return XsErr::ok;
}

bool scope_allows(const Scope& scope, std::string_view path, bool write) {
    auto covers = [&](const std::vector<std::string>& prefixes) {
        return std::any_of(prefixes.begin(), prefixes.end(),
                           [&](const std::string& p) { return path_within(path, p); });
    };
    if (covers(scope.writable)) return true;
    return !write && covers(scope.readable);
}

bool scope_admits_type(std::uint32_t type) {
    switch (type) {
    case XS_READ:
    case XS_WRITE:
    case XS_MKDIR:
    case XS_RM:
    case XS_DIRECTORY:
    case XS_DIRECTORY_PART:
    case XS_GET_PERMS:
    case XS_SET_PERMS:
    case XS_WATCH:
    case XS_UNWATCH:
    case XS_TRANSACTION_START:
    case XS_TRANSACTION_END:
    case XS_GET_DOMAIN_PATH:
        return true;
    default:
        return false;
    }
}

bool scope_type_writes(std::uint32_t type) {
    return type == XS_WRITE || type == XS_MKDIR || type == XS_RM || type == XS_SET_PERMS;
}

}  // namespace xenolith::xenstore
