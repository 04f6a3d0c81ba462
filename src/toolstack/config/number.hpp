// Numbers as xl reads them: libxlu's xlu_cfg_get_long() is strtol(text, 0)
// over the whole text. So "0x20" is 32, "010" is octal 8, "08" is invalid,
// surrounding text is invalid, and leading blanks and a sign are accepted
// (they can only come from a quoted string, e.g. memory="512").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace xenolith::config {

struct ParsedNumber {
    enum class Status { ok, invalid, out_of_range };
    Status status = Status::invalid;
    std::int64_t value = 0;
    bool octal = false;  // written with a leading 0 (so "0100" means 64)
};

ParsedNumber parse_xl_long(std::string_view text);

// Plain decimal digits (no sign, no blanks, not empty) up to `max`, as the
// device specs' numeric fields are written; nullopt otherwise.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max);

}  // namespace xenolith::config
