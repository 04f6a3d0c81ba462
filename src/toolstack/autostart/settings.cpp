#include "toolstack/autostart/settings.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>

namespace xenolith::autostart {
namespace {

struct Assignment {
    std::string value;
    std::uint32_t line = 0;
};

bool is_name_char(char c, bool first) {
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// One logical line: `[export] NAME=VALUE [# comment]`, or blank, or a
// comment. Returns the name (empty for nothing) and fills `value`.
Result<std::string> parse_line(std::string_view line, std::string& value) {
    std::size_t i = 0;
    auto skip_blanks = [&] {
        while (i < line.size() && is_blank(line[i])) ++i;
    };
    skip_blanks();
    if (i == line.size() || line[i] == '#') return std::string();
    if (line.substr(i, 7) == "export " || line.substr(i, 7) == "export\t") {
        i += 7;
        skip_blanks();
    }
    const std::size_t name_start = i;
    while (i < line.size() && is_name_char(line[i], i == name_start)) ++i;
    std::string name(line.substr(name_start, i - name_start));
    if (name.empty() || i == line.size() || line[i] != '=')
        return make_error("expected NAME=value (this file is read without a shell)");

    ++i;  // '='
    value.clear();
    auto no_expansion = [&](char c) -> Status {
        if (c == '$' || c == '`')
            return make_error(fmt::format("{}: '{}' would need a shell to expand; write the value "
                                          "itself",
                                          name, c));
        return ok_status();
    };
    // The value is a shell word: unquoted, '...' and "..." pieces run
    // together until a blank outside quotes.
    while (i < line.size() && !is_blank(line[i])) {
        const char c = line[i];
        if (c == '\'') {
            const std::size_t end = line.find('\'', i + 1);
            if (end == std::string_view::npos) return make_error(name + ": unterminated '");
            value.append(line.substr(i + 1, end - i - 1));
            i = end + 1;
        } else if (c == '"') {
            ++i;
            for (;;) {
                if (i == line.size()) return make_error(name + ": unterminated \"");
                const char d = line[i];
                if (d == '"') {
                    ++i;
                    break;
                }
                if (d == '\\' && i + 1 < line.size() &&
                    std::strchr("\"\\$`", line[i + 1]) != nullptr) {
                    value.push_back(line[i + 1]);
                    i += 2;
                    continue;
                }
                if (Status st = no_expansion(d); !st) return st.error();
                value.push_back(d);
                ++i;
            }
        } else if (c == '\\' && i + 1 < line.size()) {
            value.push_back(line[i + 1]);
            i += 2;
        } else {
            if (Status st = no_expansion(c); !st) return st.error();
            if (c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')')
                return make_error(fmt::format("{}: '{}' is shell syntax; quote the value", name, c));
            value.push_back(c);
            ++i;
        }
    }
    skip_blanks();
    if (i < line.size() && line[i] != '#')
        return make_error(fmt::format("{}: a value with blanks must be quoted", name));
    return name;
}

Result<std::int64_t> parse_count(const Assignment& a, std::string_view name, std::string_view what,
                                 std::string_view source) {
    std::int64_t n = 0;
    const char* first = a.value.data();
    const char* last = first + a.value.size();
    auto [end, ec] = std::from_chars(first, last, n);
    if (a.value.empty() || ec != std::errc() || end != last || n < 0)
        return make_error(fmt::format("{}:{}: {}: expected {}, got \"{}\"", source, a.line, name,
                                      what, a.value));
    return n;
}

}  // namespace

Result<Settings> parse_settings(std::string_view text, std::string_view source) {
    if (text.size() > kMaxSettingsBytes)
        return make_error(fmt::format("{}: larger than {} bytes", source, kMaxSettingsBytes));
    std::map<std::string, Assignment, std::less<>> vars;
    std::uint32_t line_no = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++line_no;
        if (line.find('\0') != std::string_view::npos)
            return make_error(fmt::format("{}:{}: NUL byte", source, line_no));
        if (!line.empty() && line.back() == '\r')
            return make_error(fmt::format("{}:{}: DOS line ending (CR); use Unix line endings",
                                          source, line_no));
        std::string value;
        auto name = parse_line(line, value);
        if (!name) return make_error(fmt::format("{}:{}: {}", source, line_no, name.error().what));
        if (!name->empty()) vars[*name] = Assignment{std::move(value), line_no};
    }

    Settings s;
    auto get = [&](std::string_view name) -> const Assignment* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : &it->second;
    };
    if (const Assignment* a = get("XENDOMAINS_AUTO")) s.auto_dir = a->value;
    if (const Assignment* a = get("XENDOMAINS_CREATE_USLEEP")) {
        auto n = parse_count(*a, "XENDOMAINS_CREATE_USLEEP", "microseconds", source);
        if (!n) return n.error();
        s.create_pause = std::chrono::microseconds(*n);
    }
    if (const Assignment* a = get("XENDOMAINS_USLEEP")) {
        auto n = parse_count(*a, "XENDOMAINS_USLEEP", "microseconds", source);
        if (!n) return n.error();
        s.sysrq_pause = std::chrono::microseconds(*n);
    }
    if (const Assignment* a = get("XENDOMAINS_STOP_MAXWAIT")) {
        auto n = parse_count(*a, "XENDOMAINS_STOP_MAXWAIT", "seconds", source);
        if (!n) return n.error();
        // Beyond a day is a typo (or microseconds), not a wait.
        if (*n > 86400)
            return make_error(fmt::format("{}:{}: XENDOMAINS_STOP_MAXWAIT: {} s is more than a day",
                                          source, a->line, *n));
        s.stop_max_wait = std::chrono::seconds(*n);
    }
    // xendomains: only the auto domains are shut down one by one when
    // AUTO_ONLY is "true"; SHUTDOWN_ALL ("--all --wait") then takes the rest.
    const Assignment* auto_only = get("XENDOMAINS_AUTO_ONLY");
    const Assignment* shutdown_all = get("XENDOMAINS_SHUTDOWN_ALL");
    s.stop_only_auto =
        auto_only && auto_only->value == "true" && (!shutdown_all || shutdown_all->value.empty());
    if (const Assignment* a = get("XENOLITH_XL")) s.xl = a->value;
    // XENDOMAINS_SYSRQ: keys separated by blanks ("s e"), each one character.
    if (const Assignment* a = get("XENDOMAINS_SYSRQ")) {
        std::size_t i = 0;
        const std::string& v = a->value;
        while (i < v.size()) {
            if (v[i] == ' ' || v[i] == '\t') {
                ++i;
                continue;
            }
            std::size_t end = v.find_first_of(" \t", i);
            if (end == std::string::npos) end = v.size();
            if (end - i != 1)
                return make_error(fmt::format("{}:{}: XENDOMAINS_SYSRQ: expected sysrq keys of "
                                              "one character each, got \"{}\"",
                                              source, a->line, v.substr(i, end - i)));
            s.sysrq_keys.push_back(v[i]);
            i = end;
        }
    }
    for (std::string_view name : {"XENDOMAINS_SAVE", "XENDOMAINS_MIGRATE"}) {
        if (const Assignment* a = get(name); a && !a->value.empty())
            s.notes.push_back(fmt::format("{}:{}: {} is not supported (xenolith has no {} yet); "
                                          "domains are shut down instead",
                                          source, a->line, name,
                                          name == "XENDOMAINS_SAVE" ? "save/restore"
                                                                    : "migration"));
    }
    return s;
}

Result<Settings> load_settings(const std::string& path, bool missing_is_default) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        const int err = errno;
        if (err == ENOENT && missing_is_default) return Settings{};
        return make_error(fmt::format("{}: {}", path, std::strerror(err)));
    }
    std::string text;
    char buf[4096];
    while (f.read(buf, sizeof buf) || f.gcount() > 0) {
        text.append(buf, static_cast<std::size_t>(f.gcount()));
        if (text.size() > kMaxSettingsBytes)
            return make_error(fmt::format("{}: larger than {} bytes", path, kMaxSettingsBytes));
    }
    return parse_settings(text, path);
}

}  // namespace xenolith::autostart
