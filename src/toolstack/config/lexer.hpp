// Tokens of the xl.cfg language, as libxlu's flex scanner (libxlu_cfg_l.l)
// defines them:
//   IDENT   [a-z][._0-9a-z]*        (keys are lower-case)
//   NUMBER  [0-9][0-9a-fx]*         (kept as text; "12abc" is a NUMBER token)
//   STRING  '...' or "..." on one line, with backslash escapes
//   , [ ] = += ;
//   NEWLINE "\n" or "#" comment "\n"
// Spaces and tabs separate tokens; every other byte is a lexical error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "toolstack/config/value.hpp"

namespace xenolith::config {

enum class TokenKind {
    ident,
    number,
    string,
    comma,
    lbracket,
    rbracket,
    assign,   // =
    append,   // +=
    semicolon,
    newline,  // also a comment, which runs to the end of its line
    end,
    error,
};

struct Token {
    TokenKind kind = TokenKind::end;
    std::string text;     // ident/number text, dequoted string, or the offending bytes
    std::string message;  // for TokenKind::error: what is wrong
    std::uint32_t line = 1;
    std::uint32_t column = 1;
};

// Short human name of a token for messages ("newline", "']'", "\"abc\"").
std::string describe(const Token& tok);

class Lexer {
public:
    // `warnings` receives non-fatal findings; `file` names them.
    Lexer(std::string_view text, std::string file, std::vector<Warning>& warnings);

    Token next();

private:
    Token make(TokenKind kind, std::uint32_t line, std::uint32_t column) const;
    Token error_at(std::size_t start, std::uint32_t column, std::string message);
    Token lex_string(std::uint32_t column);
    Token lex_comment(std::uint32_t column);
    void advance_line();

    std::string_view text_;
    std::string file_;
    std::vector<Warning>& warnings_;
    std::size_t pos_ = 0;
    std::uint32_t line_ = 1;
    std::size_t line_start_ = 0;
};

}  // namespace xenolith::config
