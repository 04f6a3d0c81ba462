#include "toolstack/config/lexer.hpp"

#include <fmt/format.h>

namespace xenolith::config {

namespace {

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_lower(c) || is_digit(c) || c == '.' || c == '_'; }
bool is_number_char(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || c == 'x'; }
bool is_octal(char c) { return c >= '0' && c <= '7'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// 'c' for printable ASCII, "byte 0xNN" for anything else.
std::string describe_byte(char ch) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x21 && c < 0x7f) return fmt::format("'{}'", ch);
    return fmt::format("byte 0x{:02x}", c);
}

// The bytes flex's lexerr state would swallow: up to a space, tab or newline.
// Shortened and made printable for messages.
std::string offending_run(std::string_view text, std::size_t start) {
    constexpr std::size_t kMaxShown = 24;
    std::string out;
    for (std::size_t i = start; i < text.size(); ++i) {
        char c = text[i];
        if (c == ' ' || c == '\t' || c == '\n') break;
        if (out.size() >= kMaxShown) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string describe(const Token& tok) {
    switch (tok.kind) {
    case TokenKind::ident: return fmt::format("'{}'", shorten(tok.text));
    case TokenKind::number: return shorten(tok.text);
    case TokenKind::string: return "a string";
    case TokenKind::comma: return "','";
    case TokenKind::lbracket: return "'['";
    case TokenKind::rbracket: return "']'";
    case TokenKind::assign: return "'='";
    case TokenKind::append: return "'+='";
    case TokenKind::semicolon: return "';'";
    case TokenKind::newline: return "end of line";
    case TokenKind::end: return "end of file";
    case TokenKind::error: return fmt::format("'{}'", tok.text);
    }
    return "?";
}

Lexer::Lexer(std::string_view text, std::string file, std::vector<Warning>& warnings)
    : text_(text), file_(std::move(file)), warnings_(warnings) {}

Token Lexer::make(TokenKind kind, std::uint32_t line, std::uint32_t column) const {
    Token t;
    t.kind = kind;
    t.line = line;
    t.column = column;
    return t;
}

Token Lexer::error_at(std::size_t start, std::uint32_t column, std::string message) {
    Token t = make(TokenKind::error, line_, column);
    t.text = offending_run(text_, start);
    t.message = std::move(message);
    // Like flex's lexerr state: skip the rest of the word.
    while (pos_ < text_.size() && text_[pos_] != ' ' && text_[pos_] != '\t' &&
           text_[pos_] != '\n') {
        ++pos_;
    }
    return t;
}

void Lexer::advance_line() {
    ++line_;
    line_start_ = pos_;
}

Token Lexer::next() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;

    const auto column = static_cast<std::uint32_t>(pos_ - line_start_ + 1);
    if (pos_ >= text_.size()) return make(TokenKind::end, line_, column);

    const std::size_t start = pos_;
    const char c = text_[pos_];

    if (is_lower(c) || is_digit(c)) {
        const bool ident = is_lower(c);
        ++pos_;
        while (pos_ < text_.size() &&
               (ident ? is_ident_char(text_[pos_]) : is_number_char(text_[pos_]))) {
            ++pos_;
        }
        Token t = make(ident ? TokenKind::ident : TokenKind::number, line_, column);
        t.text = std::string(text_.substr(start, pos_ - start));
        return t;
    }

    switch (c) {
    case ',': ++pos_; return make(TokenKind::comma, line_, column);
    case '[': ++pos_; return make(TokenKind::lbracket, line_, column);
    case ']': ++pos_; return make(TokenKind::rbracket, line_, column);
    case '=': ++pos_; return make(TokenKind::assign, line_, column);
    case ';': ++pos_; return make(TokenKind::semicolon, line_, column);
    case '\n': {
        Token t = make(TokenKind::newline, line_, column);
        ++pos_;
        advance_line();
        return t;
    }
    case '#': return lex_comment(column);
    case '\'':
    case '"': return lex_string(column);
    case '+':
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '=') {
            pos_ += 2;
            return make(TokenKind::append, line_, column);
        }
        break;
    case '\r':
        return error_at(start, column,
                        "carriage return: the file has DOS line endings, which xl does not "
                        "accept (convert it with dos2unix)");
    case '\0':
        return error_at(start, column, "NUL byte: an xl.cfg file is text");
    default: break;
    }

    // libxlu flags these as "likely Python" (Python-era xm configs).
    if (c == '+' || c == '-' || c == '.' || c == '(' || c == ')' || c == ':') {
        return error_at(start, column,
                        fmt::format("unexpected {}: xl.cfg is not Python; it has no arithmetic, "
                                    "negative numbers or expressions",
                                    describe_byte(c)));
    }
    return error_at(start, column, fmt::format("unexpected {}", describe_byte(c)));
}

Token Lexer::lex_comment(std::uint32_t column) {
    Token t = make(TokenKind::newline, line_, column);
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    if (pos_ < text_.size()) {
        ++pos_;
        advance_line();
    } else {
        // libxlu's comment rule needs the newline; xl rejects such a file
        // (unless `xl create` appends key=value overrides after it).
        add_warning(warnings_, Warning{file_, line_,
                                       "the comment on the last line has no newline after it; "
                                       "xl rejects such a file"});
    }
    return t;
}

Token Lexer::lex_string(std::uint32_t column) {
    const std::size_t start = pos_;
    const char quote = text_[pos_++];
    std::string out;

    auto unterminated = [&] {
        Token t = make(TokenKind::error, line_, column);
        t.text = offending_run(text_, start);
        t.message = fmt::format("unterminated string: the closing {} is missing "
                                "(a string cannot span lines)",
                                quote);
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
        return t;
    };
    auto bad_escape = [&](std::size_t at, std::string message) {
        Token t = make(TokenKind::error, line_, static_cast<std::uint32_t>(at - line_start_ + 1));
        t.text = offending_run(text_, at);
        t.message = std::move(message);
        // Skip to the closing quote so the error names one token.
        while (pos_ < text_.size() && text_[pos_] != '\n' && text_[pos_] != quote) {
            pos_ += (text_[pos_] == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] != '\n') ? 2 : 1;
        }
        if (pos_ < text_.size() && text_[pos_] == quote) ++pos_;
        return t;
    };

    while (true) {
        if (pos_ >= text_.size() || text_[pos_] == '\n') return unterminated();
        const char c = text_[pos_];
        if (c == quote) {
            ++pos_;
            break;
        }
        if (c == '\0') return bad_escape(pos_, "NUL byte in string");
        if (c != '\\') {
            out += c;
            ++pos_;
            continue;
        }
        const std::size_t backslash = pos_;
        if (pos_ + 1 >= text_.size() || text_[pos_ + 1] == '\n') return unterminated();
        const char e = text_[pos_ + 1];
        pos_ += 2;
        switch (e) {
        case '"':
        case '\'':
        case '\\': out += e; continue;
        case 'a': out += '\a'; continue;
        case 'b': out += '\b'; continue;
        case 'f': out += '\f'; continue;
        case 'n': out += '\n'; continue;
        case 'r': out += '\r'; continue;
        case 't': out += '\t'; continue;
        case 'v': out += '\v'; continue;
        default: break;
        }
        if (e == 'x') {
            const int hi = pos_ < text_.size() ? hex_value(text_[pos_]) : -1;
            const int lo = pos_ + 1 < text_.size() ? hex_value(text_[pos_ + 1]) : -1;
            if (hi < 0 || lo < 0) {
                return bad_escape(backslash, "\\x in a string must be followed by two hex digits");
            }
            pos_ += 2;
            const int v = hi * 16 + lo;
            if (v == 0) return bad_escape(backslash, "\\x00 would put a NUL byte in the string");
            out += static_cast<char>(v);
            continue;
        }
        if (is_octal(e)) {
            int v = e - '0';
            for (int i = 0; i < 2 && pos_ < text_.size() && is_octal(text_[pos_]); ++i) {
                v = v * 8 + (text_[pos_++] - '0');
            }
            if (v > 0377) {
                return bad_escape(backslash, "octal escape in a string is larger than \\377");
            }
            if (v == 0) return bad_escape(backslash, "\\0 would put a NUL byte in the string");
            out += static_cast<char>(v);
            continue;
        }
        const auto u = static_cast<unsigned char>(e);
        return bad_escape(backslash,
                          u >= 0x21 && u < 0x7f
                              ? fmt::format("invalid escape \\{} in string (use \\\\ for a backslash)", e)
                              : fmt::format("invalid escape: backslash before {} in string",
                                            describe_byte(e)));
    }

    Token t = make(TokenKind::string, line_, column);
    t.text = std::move(out);
    return t;
}

}  // namespace xenolith::config
