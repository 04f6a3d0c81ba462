// Node permissions (docs/misc/xenstore.txt "Permissions"): the first entry
// names the owner, whose rights are total, and gives the default access of
// every domain not listed later; later entries grant per-domain access.
// Privileged connections (dom0, the host socket) have all rights; a domain
// with a target (SET_TARGET, stub domains) has its target's rights too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/types.hpp"

namespace xenolith::xenstore {

inline constexpr unsigned kPermNone = 0;
inline constexpr unsigned kPermRead = 1;
inline constexpr unsigned kPermWrite = 2;
inline constexpr unsigned kPermOwner = 4;  // only in access_for() results
inline constexpr unsigned kPermAll = kPermRead | kPermWrite | kPermOwner;

struct Perm {
    domid_t domid = 0;
    std::uint8_t access = kPermNone;  // kPermRead | kPermWrite
    bool operator==(const Perm&) const = default;
};
using Perms = std::vector<Perm>;

// Who is asking.
struct Identity {
    domid_t domid = 0;
    bool privileged = false;
    std::optional<domid_t> target;
};

// The rights (kPerm* bits) `who` has on a node with `perms`.
unsigned access_for(const Identity& who, const Perms& perms);

// "r5", "w0", "b12", "n3" -> Perm; nullopt for anything else (the domid is
// decimal and at most 65535).
std::optional<Perm> parse_perm(std::string_view s);

// Appends "b5\0" etc.: the GET_PERMS payload format.
void append_perm(std::string& out, const Perm& p);
std::string perms_to_wire(const Perms& perms);

}  // namespace xenolith::xenstore
