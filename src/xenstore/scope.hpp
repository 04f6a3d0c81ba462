// A confined connection's view of the store: the back-end of one device
// acts as its domain, but may touch only the subtrees of that device
// (ARCHITECTURE.md "Back-ends", docs/xenstore.md "Scoped connections").
// Prefixes match whole path components: /a/b covers /a/b and /a/b/c, not
// /a/bc. Paths are compared after the server's canonicalisation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/errors.hpp"
#include "xenstore/types.hpp"

namespace xenolith::xenstore {

struct Scope {
    domid_t domid = 0;                  // the connection acts as this domain
    std::vector<std::string> writable;  // read, write, mkdir, rm, set_perms, watch
    std::vector<std::string> readable;  // read, directory, get_perms, watch
};

// Is `path` (canonical, absolute) `prefix` or below it?
bool path_within(std::string_view path, std::string_view prefix);

// Every prefix must be a canonical absolute path (EINVAL otherwise).
XsErr validate_scope(const Scope& scope);

// May a scoped connection reach `path` (canonical) for writing, or for
// reading? "@" names are in no scope.
bool scope_allows(const Scope& scope, std::string_view path, bool write);

// Message types a scoped connection may send at all (the node operations,
// watches, transactions and GET_DOMAIN_PATH); everything else is EACCES.
bool scope_admits_type(std::uint32_t type);
// Types whose path argument needs a writable prefix.
bool scope_type_writes(std::uint32_t type);

}  // namespace xenolith::xenstore
