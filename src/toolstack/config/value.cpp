#include "toolstack/config/value.hpp"

#include <fmt/format.h>

namespace xenolith::config {

Value Value::string(std::string text, std::uint32_t line, std::uint32_t column) {
    Value v;
    v.kind = Kind::string;
    v.text = std::move(text);
    v.line = line;
    v.column = column;
    return v;
}

Value Value::number(std::string text, std::uint32_t line, std::uint32_t column) {
    Value v = string(std::move(text), line, column);
    v.kind = Kind::number;
    return v;
}

Value Value::list(std::vector<Value> items, std::uint32_t line, std::uint32_t column) {
    Value v;
    v.kind = Kind::list;
    v.items = std::move(items);
    v.line = line;
    v.column = column;
    return v;
}

namespace {

void append_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out += fmt::format("\\x{:02x}", c);
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

void append_value(std::string& out, const Value& v) {
    switch (v.kind) {
    case Value::Kind::number: out += v.text; break;
    case Value::Kind::string: append_quoted(out, v.text); break;
    case Value::Kind::list:
        out += '[';
        for (std::size_t i = 0; i < v.items.size(); ++i) {
            if (i) out += ", ";
            append_value(out, v.items[i]);
        }
        out += ']';
        break;
    }
}

}  // namespace

std::string Value::to_config_text() const {
    std::string out;
    append_value(out, *this);
    return out;
}

std::string shorten(std::string_view text, std::size_t max) {
    if (text.size() <= max) return std::string(text);
    std::string out(text.substr(0, max));
    out += "...";
    return out;
}

std::string Warning::str() const {
    if (file.empty()) return fmt::format("warning: {}", message);
    if (line == 0) return fmt::format("{}: warning: {}", file, message);
    return fmt::format("{}:{}: warning: {}", file, line, message);
}

void add_warning(std::vector<Warning>& warnings, Warning w) {
    if (warnings.size() < kMaxWarnings) {
        warnings.push_back(std::move(w));
    } else if (warnings.size() == kMaxWarnings) {
        warnings.push_back(Warning{w.file, 0, "too many warnings; the rest are not shown"});
    }
}

const Setting* ParsedConfig::find(std::string_view key) const {
    for (auto it = settings.rbegin(); it != settings.rend(); ++it) {
        if (it->key == key) return &*it;
    }
    return nullptr;
}

}  // namespace xenolith::config
