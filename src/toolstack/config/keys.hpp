// Every top-level key of xl.cfg(5), plus the few xl reads that the manual
// does not list (deprecated spellings xl still looks at). One table: the
// value's kind as xl reads it, and whether xenolith implements the key yet.
#pragma once

#include <span>
#include <string_view>

namespace xenolith::config {

enum class KeyKind {
    string,            // "STRING" (a NUMBER is accepted too: xl keeps numbers as text)
    number,            // NUMBER, read with strtol base 0
    boolean,           // NUMBER, 0 is false
    list,              // [ VALUE, ... ]
    string_or_list,    // either; the list form is the documented one
    number_or_string,  // e.g. tsc_mode=2 (deprecated) or tsc_mode="native"
    boolean_or_list,   // viridian=1 or viridian=["base", ...]
    list_of_lists,     // vnuma=[ [...], [...] ], vsnd=
};

std::string_view to_string(KeyKind kind);

struct KeyInfo {
    std::string_view name;
    KeyKind kind;
    bool implemented;  // read into DomainConfig; otherwise it warns and ignores it
};

// All known keys, in the order of the xl.cfg(5) manual.
std::span<const KeyInfo> known_keys();

// nullptr for a key xl does not know.
const KeyInfo* find_key(std::string_view name);

// For an unknown key: a known key within a small edit distance, or empty.
std::string_view suggest_key(std::string_view unknown);

// For keys of xm (xend) configs that xl ignores: how to say it in xl.cfg, or
// empty.
std::string_view xm_key_hint(std::string_view name);

}  // namespace xenolith::config
