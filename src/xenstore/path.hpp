// Xenstore path syntax (docs/misc/xenstore.txt): absolute "/a/b", relative
// "a/b" under /local/domain/<domid>, and "@special" watch names. Paths are
// plain strings; these helpers validate and take them apart.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "xenstore/errors.hpp"
#include "xenstore/types.hpp"

namespace xenolith::xenstore {

// "/local/domain/<domid>": a domain's home, the base of its relative paths.
std::string domain_path(domid_t domid);

// Only ASCII alphanumerics and "-/_@".
bool valid_path_chars(std::string_view path);

inline bool is_special(std::string_view path) { return !path.empty() && path[0] == '@'; }

// Resolves `raw` as sent by a client whose home is /local/domain/<home> into
// an absolute path, or EINVAL: bad characters, '@' when `allow_special` is
// false, empty, trailing or doubled '/', longer than XENSTORE_ABS_PATH_MAX,
// or (when rel_max != 0) a part below any /local/domain/<n>/ longer than
// rel_max (the "path-max" quota, XENSTORE_REL_PATH_MAX by default).
XsResult<std::string> canonicalize(std::string_view raw, domid_t home, bool allow_special,
                                   std::size_t rel_max);

// Length of `path` below a "/local/domain/<n>/" prefix, else its full length.
std::size_t relative_length(std::string_view path);

// "/a/b" -> "/a"; "/a" -> "/"; "@x" -> "/". Not for "/".
std::string_view parent_of(std::string_view path);
// "/a/b" -> "b". Not for "/".
std::string_view basename_of(std::string_view path);
// ("/", "a") -> "/a"; ("/x", "a") -> "/x/a".
std::string child_path(std::string_view parent, std::string_view name);

// Watch matching: is `event` equal to `watch` or below it, at most `depth`
// levels down (depth < 0: any depth)?
bool path_matches(std::string_view event, std::string_view watch, int depth);

}  // namespace xenolith::xenstore
