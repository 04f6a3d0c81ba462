#include "xenstore/path.hpp"

#include <algorithm>
#include <cstdint>

extern "C" {
#include <xen/io/xs_wire.h>
}

namespace xenolith::xenstore {

namespace {

constexpr std::string_view kLocalDomain = "/local/domain/";

bool path_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '/' || c == '_' || c == '@';
}

}  // namespace

std::string domain_path(domid_t domid) {
    std::string p(kLocalDomain);
    p += std::to_string(domid);
    return p;
}

bool valid_path_chars(std::string_view path) {
    return std::all_of(path.begin(), path.end(), path_char);
}

XsResult<std::string> canonicalize(std::string_view raw, domid_t home, bool allow_special,
                                   std::size_t rel_max) {
    if (raw.empty() || !valid_path_chars(raw)) return XsErr::inval;
    if (is_special(raw) && !allow_special) return XsErr::inval;
    // Reject before building anything from an over-long input.
    if (raw.size() > XENSTORE_ABS_PATH_MAX) return XsErr::inval;

    std::string abs;
    if (raw[0] == '/' || raw[0] == '@') {
        abs.assign(raw);
    } else {
        abs = domain_path(home);
        abs += '/';
        abs += raw;
    }
    if (abs.size() > 1 && abs.back() == '/') return XsErr::inval;
    if (abs.find("//") != std::string::npos) return XsErr::inval;
    if (abs.size() > XENSTORE_ABS_PATH_MAX) return XsErr::inval;
    if (rel_max != 0 && relative_length(abs) > rel_max) return XsErr::inval;
    return abs;
}

std::size_t relative_length(std::string_view path) {
    if (!path.starts_with(kLocalDomain)) return path.size();
    std::size_t i = kLocalDomain.size();
    std::size_t digits = 0;
    while (i < path.size() && path[i] >= '0' && path[i] <= '9' && digits < 5) {
        ++i;
        ++digits;
    }
    if (digits == 0 || i >= path.size() || path[i] != '/') return path.size();
    return path.size() - (i + 1);
}

std::string_view parent_of(std::string_view path) {
    std::size_t slash = path.rfind('/');
    if (slash == std::string_view::npos || slash == 0) return "/";
    return path.substr(0, slash);
}

std::string_view basename_of(std::string_view path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string child_path(std::string_view parent, std::string_view name) {
    std::string p;
    p.reserve(parent.size() + 1 + name.size());
    p += parent;
    if (parent != "/") p += '/';
    p += name;
    return p;
}

bool path_matches(std::string_view event, std::string_view watch, int depth) {
    std::string_view rest;
    if (watch == "/") {
        if (event.empty() || event[0] != '/') return false;
        rest = event.substr(1);
    } else {
        if (!event.starts_with(watch)) return false;
        if (event.size() == watch.size()) return true;
        if (event[watch.size()] != '/') return false;
        rest = event.substr(watch.size() + 1);
    }
    if (rest.empty() || depth < 0) return true;
    auto levels = 1 + std::count(rest.begin(), rest.end(), '/');
    return levels <= depth;
}

}  // namespace xenolith::xenstore
