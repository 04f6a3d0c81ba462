// Parser of the xl.cfg language, following libxlu's grammar (libxlu_cfg_y.y):
//
//   file       := { stmt } [ assignment ]      the last line needs no newline
//   stmt       := assignment end | end
//   end        := NEWLINE | ';'
//   assignment := IDENT '=' value | IDENT '+=' value
//   value      := STRING | NUMBER | '[' nl* [ value nl* { ',' nl* value nl* } [ ',' nl* ] ] ']'
//
// A key set twice keeps the last value, as in xl, and produces a warning
// naming both lines. `key += value` appends to the previous value of the
// key: strings are concatenated, lists joined; mixing the two is an error.
// Lists may hold lists (vnuma=, vsnd=), but no deeper.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "toolstack/config/value.hpp"

namespace xenolith::config {

// Larger inputs are refused before parsing: an xl.cfg file is a few KiB.
inline constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

// A list may contain lists (depth 2) but those may not contain lists.
inline constexpr int kMaxListNesting = 2;

// The name overrides report as their file.
inline constexpr std::string_view kCommandLineSource = "<command line>";

// Parses xl.cfg text. `source_name` names the input in positions and
// messages. Errors read "file:line:column: what was expected".
Result<ParsedConfig> parse_config(std::string_view text, std::string_view source_name);

// Reads and parses a file, refusing files larger than kMaxConfigBytes.
Result<ParsedConfig> parse_config_file(const std::string& path);

// Applies one `xl create cfg key=value` argument. xl appends such arguments
// to the file text, so the value grammar is the same, the last setting wins
// (without a duplicate warning: overriding is the point) and `key+=value`
// appends to the file's value. On error `cfg` is left unchanged.
Status apply_override(ParsedConfig& cfg, std::string_view key_equals_value);

}  // namespace xenolith::config
