// Request payload parsing: NUL-terminated strings, decimal numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "xenstore/types.hpp"

namespace xenolith::xenstore {

// The NUL-terminated strings at the start of `payload`; trailing bytes with
// no NUL are ignored (C xenstored's get_strings()).
std::vector<std::string_view> split_strings(std::string_view payload);
std::size_t count_nuls(std::string_view payload);

// The argument of a one-string request: the payload must be exactly
// "<arg>\0" (one NUL, at the end).
std::optional<std::string_view> one_arg(std::string_view payload);

// Unsigned decimal, digits only, at most `max`.
std::optional<std::uint64_t> parse_decimal(std::string_view s, std::uint64_t max);
// A domid 0..65535.
std::optional<domid_t> parse_domid(std::string_view s);

}  // namespace xenolith::xenstore
