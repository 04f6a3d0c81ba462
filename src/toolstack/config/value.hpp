// The parsed form of an xl.cfg file: settings with their source positions.
//
// libxlu keeps every atom as text: a NUMBER token and a quoted STRING are
// both strings to xl, and a number is only interpreted (strtol, base 0) when
// a key is read as a number. Value keeps the token kind for messages but the
// text is what counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::config {

// Where something was written. Lines and columns count from 1; columns count
// bytes. `file` is the name the caller gave (xl prints the path as typed),
// or "<command line>" for `xl create cfg key=value` overrides.
struct SourcePos {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};

struct Value {
    enum class Kind { string, number, list };

    Kind kind = Kind::string;
    std::string text;          // dequoted string or the number's text; empty for lists
    std::vector<Value> items;  // list elements; empty for atoms
    std::uint32_t line = 0;    // where the value starts
    std::uint32_t column = 0;

    static Value string(std::string text, std::uint32_t line = 0, std::uint32_t column = 0);
    static Value number(std::string text, std::uint32_t line = 0, std::uint32_t column = 0);
    static Value list(std::vector<Value> items, std::uint32_t line = 0, std::uint32_t column = 0);

    bool is_list() const { return kind == Kind::list; }
    // A string or a number: what xl calls a single value.
    bool is_atom() const { return kind != Kind::list; }

    // How the value would be written back into an xl.cfg file.
    std::string to_config_text() const;
};

struct Setting {
    std::string key;
    Value value;
    SourcePos pos;         // position of the key
    bool appended = false; // the last write was `key += value` (xl then refuses it as a number)
};

// A non-fatal finding. Printed as "file:line: warning: message".
struct Warning {
    std::string file;
    std::uint32_t line = 0;  // 0 when the warning is about the file as a whole
    std::string message;

    std::string str() const;
};

// `text` cut to `max` bytes plus "..." when longer: user text in messages.
std::string shorten(std::string_view text, std::size_t max = 64);

// Warnings beyond this many are counted, not kept, so hostile input cannot
// make the list grow without bound.
inline constexpr std::size_t kMaxWarnings = 1000;

// Appends `w`, or past kMaxWarnings replaces the tail with one summary line.
void add_warning(std::vector<Warning>& warnings, Warning w);

struct ParsedConfig {
    std::string source;             // the file name as given to the parser
    std::vector<Setting> settings;  // effective settings, each key once, in the order last set
    std::vector<Warning> warnings;  // found while parsing (duplicate keys, ...)

    // The effective setting for `key`, or nullptr.
    const Setting* find(std::string_view key) const;
};

}  // namespace xenolith::config
