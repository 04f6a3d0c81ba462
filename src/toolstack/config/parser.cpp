#include "toolstack/config/parser.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "toolstack/config/lexer.hpp"

namespace xenolith::config {

namespace {

// The settings seen so far, each key live once; what libxlu's settings list
// and its find() amount to.
class SettingStore {
public:
    explicit SettingStore(std::vector<Setting> initial) {
        for (auto& s : initial) push(std::move(s));
    }

    Status store(Setting s, bool warn_duplicates, std::vector<Warning>& warnings) {
        auto it = index_.find(s.key);
        if (it == index_.end()) {
            push(std::move(s));
            return ok_status();
        }
        Setting& prev = all_[it->second];
        if (s.appended) {
            if (prev.value.is_list() != s.value.is_list()) {
                return make_error(fmt::format(
                    "{}:{}:{}: '{}': += cannot add a {} to a {} (set at line {})", s.pos.file,
                    s.pos.line, s.pos.column, shorten(s.key), s.value.is_list() ? "list" : "string",
                    prev.value.is_list() ? "list" : "string", prev.pos.line));
            }
            if (s.value.is_list()) {
                std::vector<Value> items = std::move(prev.value.items);
                for (auto& v : s.value.items) items.push_back(std::move(v));
                s.value.items = std::move(items);
            } else {
                const bool both_numbers = prev.value.kind == Value::Kind::number &&
                                          s.value.kind == Value::Kind::number;
                s.value.text = prev.value.text + s.value.text;
                s.value.kind = both_numbers ? Value::Kind::number : Value::Kind::string;
            }
        } else if (warn_duplicates) {
            const std::string where = prev.pos.file == s.pos.file
                                          ? fmt::format("line {}", prev.pos.line)
                                          : fmt::format("{}:{}", prev.pos.file, prev.pos.line);
            add_warning(warnings,
                        Warning{s.pos.file, s.pos.line,
                                fmt::format("'{}' is set again (previously set at {}); "
                                            "xl uses the last value",
                                            shorten(s.key), where)});
        }
        live_[it->second] = false;
        index_.erase(it);
        push(std::move(s));
        return ok_status();
    }

    std::vector<Setting> take() {
        std::vector<Setting> out;
        out.reserve(index_.size());
        for (std::size_t i = 0; i < all_.size(); ++i) {
            if (live_[i]) out.push_back(std::move(all_[i]));
        }
        all_.clear();
        live_.clear();
        index_.clear();
        return out;
    }

private:
    void push(Setting s) {
        index_[s.key] = all_.size();
        all_.push_back(std::move(s));
        live_.push_back(true);
    }

    std::vector<Setting> all_;
    std::vector<bool> live_;
    std::unordered_map<std::string, std::size_t> index_;
};

bool starts_with_quote(const Token& t) {
    return !t.text.empty() && (t.text[0] == '\'' || t.text[0] == '"');
}

// The word the user probably meant, without the punctuation after it:
// "PVH;" -> "PVH".
std::string_view leading_word(std::string_view text) {
    const std::size_t end = text.find_first_of(";,]#='\"");
    return text.substr(0, end);
}

class Parser {
public:
    Parser(std::string_view text, std::string file, SettingStore& store, bool warn_duplicates,
           std::vector<Warning>& warnings)
        : lex_(text, file, warnings),
          file_(std::move(file)),
          store_(store),
          warn_duplicates_(warn_duplicates),
          warnings_(warnings) {}

    Status run() {
        advance();
        while (true) {
            switch (tok_.kind) {
            case TokenKind::end: return ok_status();
            case TokenKind::newline:
            case TokenKind::semicolon: advance(); continue;
            case TokenKind::ident: {
                Status st = assignment();
                if (!st) return st;
                continue;
            }
            case TokenKind::error:
                if (!tok_.text.empty() && tok_.text[0] >= 'A' && tok_.text[0] <= 'Z') {
                    return fail(tok_, fmt::format("expected a setting name, got '{}' "
                                                  "(setting names are lower-case)",
                                                  leading_word(tok_.text)));
                }
                return fail(tok_, tok_.message);
            default:
                return fail(tok_, fmt::format("expected a setting name, got {}", describe(tok_)));
            }
        }
    }

private:
    void advance() { tok_ = lex_.next(); }

    Error fail(const Token& at, std::string_view what) const {
        return make_error(fmt::format("{}:{}:{}: {}", file_, at.line, at.column, what));
    }

    Status assignment() {
        Setting s;
        s.key = tok_.text;
        s.pos = SourcePos{file_, tok_.line, tok_.column};
        advance();
        if (tok_.kind == TokenKind::assign) {
            s.appended = false;
        } else if (tok_.kind == TokenKind::append) {
            s.appended = true;
        } else if (tok_.kind == TokenKind::error) {
            return fail(tok_, tok_.message);
        } else {
            return fail(tok_, fmt::format("expected '=' after '{}', got {}", shorten(s.key),
                                          describe(tok_)));
        }
        const char* op = s.appended ? "'+='" : "'='";
        advance();

        Status st = value(s.value, 0, fmt::format("after {}", op));
        if (!st) return st;

        switch (tok_.kind) {
        case TokenKind::newline:
        case TokenKind::semicolon:
        case TokenKind::end: break;
        default: {
            const bool glued = s.value.kind == Value::Kind::number && tok_.line == s.value.line &&
                               tok_.column == s.value.column + s.value.text.size();
            if (glued) {
                return fail(tok_, fmt::format("unexpected {} after the number {}: xl.cfg numbers "
                                              "take no unit suffix",
                                              describe(tok_), shorten(s.value.text)));
            }
            if (tok_.kind == TokenKind::error) return fail(tok_, tok_.message);
            return fail(tok_, fmt::format("expected a newline or ';' after the value of '{}', got {}",
                                          shorten(s.key), describe(tok_)));
        }
        }
        return store_.store(std::move(s), warn_duplicates_, warnings_);
    }

    // `where` completes "expected a value ...": "after '='", "in the list".
    Status value(Value& out, int depth, const std::string& where) {
        switch (tok_.kind) {
        case TokenKind::string:
            out = Value::string(std::move(tok_.text), tok_.line, tok_.column);
            advance();
            return ok_status();
        case TokenKind::number:
            out = Value::number(std::move(tok_.text), tok_.line, tok_.column);
            advance();
            return ok_status();
        case TokenKind::lbracket: return list(out, depth);
        case TokenKind::newline:
        case TokenKind::semicolon:
        case TokenKind::end: return fail(tok_, fmt::format("expected a value {}", where));
        case TokenKind::ident:
            return fail(tok_, fmt::format("expected a value {}: strings must be quoted, e.g. \"{}\"",
                                          where, shorten(tok_.text)));
        case TokenKind::error: {
            const char c = tok_.text.empty() ? '\0' : tok_.text[0];
            const bool word = (c >= 'A' && c <= 'Z') || c == '/' || c == '_' || c == '.';
            if (word && !starts_with_quote(tok_)) {
                return fail(tok_, fmt::format(
                                      "expected a value {}: strings must be quoted, e.g. \"{}\"",
                                      where, leading_word(tok_.text)));
            }
            return fail(tok_, tok_.message);
        }
        default:
            return fail(tok_, fmt::format("expected a value {}, got {}", where, describe(tok_)));
        }
    }

    void skip_newlines() {
        while (tok_.kind == TokenKind::newline) advance();
    }

    Status list(Value& out, int depth) {
        if (depth + 1 > kMaxListNesting) {
            return fail(tok_, "lists nested more than two deep: no xl.cfg setting takes that");
        }
        const Token open = tok_;
        out = Value::list({}, open.line, open.column);
        advance();
        skip_newlines();
        if (tok_.kind == TokenKind::rbracket) {
            advance();
            return ok_status();
        }
        while (true) {
            Value item;
            Status st = value(item, depth + 1, "in the list");
            if (!st) return st;
            out.items.push_back(std::move(item));
            skip_newlines();
            if (tok_.kind == TokenKind::comma) {
                advance();
                skip_newlines();
                if (tok_.kind == TokenKind::rbracket) break;  // trailing comma
                continue;
            }
            if (tok_.kind == TokenKind::rbracket) break;
            if (tok_.kind == TokenKind::end) {
                return fail(tok_, fmt::format("expected ']' to close the list opened at line {}",
                                              open.line));
            }
            if (tok_.kind == TokenKind::error) return fail(tok_, tok_.message);
            return fail(tok_, fmt::format("expected ',' or ']' after a list item, got {}",
                                          describe(tok_)));
        }
        advance();  // the ']'
        return ok_status();
    }

    Lexer lex_;
    Token tok_;
    std::string file_;
    SettingStore& store_;
    bool warn_duplicates_;
    std::vector<Warning>& warnings_;
};

Status check_size(std::string_view name, std::size_t size) {
    if (size > kMaxConfigBytes) {
        return make_error(fmt::format("{}: larger than 1 MiB; an xl.cfg file is a small text file",
                                      name));
    }
    return ok_status();
}

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Result<ParsedConfig> parse_config(std::string_view text, std::string_view source_name) {
    ParsedConfig cfg;
    cfg.source = std::string(source_name);
    if (Status st = check_size(cfg.source, text.size()); !st) return st.error();

    SettingStore store({});
    Parser parser(text, cfg.source, store, /*warn_duplicates=*/true, cfg.warnings);
    if (Status st = parser.run(); !st) return st.error();
    cfg.settings = store.take();
    return cfg;
}

Result<ParsedConfig> parse_config_file(const std::string& path) {
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    if (!f) return make_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));

    std::string text;
    char buf[16384];
    while (true) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
        text.append(buf, n);
        if (Status st = check_size(path, text.size()); !st) return st.error();
        if (n < sizeof buf) break;
    }
    if (std::ferror(f.get())) {
        return make_error(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    return parse_config(text, path);
}

Status apply_override(ParsedConfig& cfg, std::string_view key_equals_value) {
    const std::string source(kCommandLineSource);
    if (Status st = check_size(source, key_equals_value.size()); !st) return st;
    if (key_equals_value.find('=') == std::string_view::npos) {
        return make_error(fmt::format("{}: expected key=value, got \"{}\"", source,
                                      shorten(key_equals_value)));
    }
    // xl appends each argument plus a newline to the file's text.
    std::string text(key_equals_value);
    text += '\n';

    SettingStore store(cfg.settings);
    std::vector<Warning> warnings;
    Parser parser(text, source, store, /*warn_duplicates=*/false, warnings);
    if (Status st = parser.run(); !st) return st;
    cfg.settings = store.take();
    for (auto& w : warnings) add_warning(cfg.warnings, std::move(w));
    return ok_status();
}

}  // namespace xenolith::config
