#include "toolstack/config/lexer.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace xenolith::config {
namespace {

using test::parse_error;
using test::parse_ok;

std::vector<Token> lex_all(std::string_view text) {
    std::vector<Warning> ws;
    Lexer lex(text, "t.cfg", ws);
    std::vector<Token> out;
    while (true) {
        Token t = lex.next();
        const bool stop = t.kind == TokenKind::end || t.kind == TokenKind::error;
        out.push_back(std::move(t));
        if (stop) return out;
    }
}

std::vector<TokenKind> kinds(std::string_view text) {
    std::vector<TokenKind> out;
    for (const auto& t : lex_all(text)) out.push_back(t.kind);
    return out;
}

std::string string_value(std::string_view quoted) {
    auto toks = lex_all(quoted);
    EXPECT_EQ(toks.at(0).kind, TokenKind::string) << toks.at(0).message;
    return toks.at(0).text;
}

using TK = TokenKind;

TEST(Lexer, AssignmentLine_GivesIdentOperatorValueNewline) {
    EXPECT_EQ(kinds("memory = 512\n"),
              (std::vector{TK::ident, TK::assign, TK::number, TK::newline, TK::end}));
    EXPECT_EQ(kinds("extra+='x';"),
              (std::vector{TK::ident, TK::append, TK::string, TK::semicolon, TK::end}));
    EXPECT_EQ(kinds("[1,2]"),
              (std::vector{TK::lbracket, TK::number, TK::comma, TK::number, TK::rbracket, TK::end}));
}

TEST(Lexer, Positions_CountLinesAndByteColumnsFromOne) {
    auto toks = lex_all("a = 1\n\tbb = 'x'");
    ASSERT_EQ(toks.size(), 8u);
    EXPECT_EQ(toks[0].line, 1u);
    EXPECT_EQ(toks[0].column, 1u);
    EXPECT_EQ(toks[2].column, 5u);
    EXPECT_EQ(toks[4].text, "bb");
    EXPECT_EQ(toks[4].line, 2u);
    EXPECT_EQ(toks[4].column, 2u);  // a tab is one byte
    EXPECT_EQ(toks[6].column, 7u);
}

TEST(Lexer, Identifiers_AreLowerCaseWithDigitsDotsUnderscores) {
    auto toks = lex_all("a.b_9z");
    EXPECT_EQ(toks[0].kind, TK::ident);
    EXPECT_EQ(toks[0].text, "a.b_9z");
}

TEST(Lexer, Numbers_KeepTheirTextIncludingLibxluOddities) {
    // [0-9][0-9a-fx]*: hex and even nonsense like 12abc are one NUMBER token.
    for (std::string_view n : {"0", "512", "0x1f", "010", "12abc", "0xx"}) {
        auto toks = lex_all(n);
        EXPECT_EQ(toks[0].kind, TK::number) << n;
        EXPECT_EQ(toks[0].text, n);
    }
    // Upper-case hex digits are not part of the token.
    auto toks = lex_all("0x1F");
    EXPECT_EQ(toks[0].text, "0x1");
    EXPECT_EQ(toks[1].kind, TK::error);
}

TEST(Lexer, Comment_IsANewlineToken) {
    EXPECT_EQ(kinds("# a comment = [\nx=1"),
              (std::vector{TK::newline, TK::ident, TK::assign, TK::number, TK::end}));
    EXPECT_EQ(kinds("x=1 # trailing\n"),
              (std::vector{TK::ident, TK::assign, TK::number, TK::newline, TK::end}));
}

TEST(Lexer, CommentWithoutFinalNewline_WarnsBecauseXlRejectsIt) {
    std::vector<Warning> ws;
    Lexer lex("x=1\n# end", "t.cfg", ws);
    while (lex.next().kind != TK::end) {
    }
    ASSERT_EQ(ws.size(), 1u);
    EXPECT_EQ(ws[0].str(),
              "t.cfg:2: warning: the comment on the last line has no newline after it; xl "
              "rejects such a file");
}

TEST(Lexer, SingleAndDoubleQuotes_AreEquivalent) {
    EXPECT_EQ(string_value("'a \"b\" c'"), "a \"b\" c");
    EXPECT_EQ(string_value("\"it's\""), "it's");
    EXPECT_EQ(string_value("''"), "");
}

TEST(Lexer, Escapes_AsLibxluDequoteDefinesThem) {
    EXPECT_EQ(string_value(R"('\n\t\r\\\'\"')"), "\n\t\r\\'\"");
    EXPECT_EQ(string_value(R"('\a\b\f\v')"), "\a\b\f\v");
    EXPECT_EQ(string_value(R"("\x41\x7a")"), "Az");
    EXPECT_EQ(string_value(R"("\101\60\7")"), "A0\a");
    EXPECT_EQ(string_value(R"("\1019")"), "A9");  // at most three octal digits
    EXPECT_EQ(string_value(R"("\xe2\x82\xac")"), "\xe2\x82\xac");
}

TEST(Lexer, EightBitBytesInStrings_ArePassedThrough) {
    EXPECT_EQ(string_value("'caf\xc3\xa9'"), "caf\xc3\xa9");
}

TEST(Lexer, UnterminatedString_IsAnError) {
    EXPECT_EQ(parse_error("name = \"abc\n"),
              "t.cfg:1:8: unterminated string: the closing \" is missing (a string cannot span "
              "lines)");
    EXPECT_EQ(parse_error("name = 'abc"),
              "t.cfg:1:8: unterminated string: the closing ' is missing (a string cannot span "
              "lines)");
    // A backslash escapes the quote, so this one is unterminated too.
    EXPECT_EQ(parse_error("name = 'abc\\'"),
              "t.cfg:1:8: unterminated string: the closing ' is missing (a string cannot span "
              "lines)");
    // Backslash-newline does not continue a string.
    EXPECT_EQ(parse_error("name = 'abc\\\ndef'"),
              "t.cfg:1:8: unterminated string: the closing ' is missing (a string cannot span "
              "lines)");
}

TEST(Lexer, BadEscapes_NameTheEscape) {
    EXPECT_EQ(parse_error(R"(name = "a\qb")"),
              R"(t.cfg:1:10: invalid escape \q in string (use \\ for a backslash))");
    EXPECT_EQ(parse_error(R"(name = "\x4")"),
              R"(t.cfg:1:9: \x in a string must be followed by two hex digits)");
    EXPECT_EQ(parse_error(R"(name = "\xg0")"),
              R"(t.cfg:1:9: \x in a string must be followed by two hex digits)");
    EXPECT_EQ(parse_error(R"(name = "\x00")"),
              R"(t.cfg:1:9: \x00 would put a NUL byte in the string)");
    EXPECT_EQ(parse_error(R"(name = "\0")"),
              R"(t.cfg:1:9: \0 would put a NUL byte in the string)");
    EXPECT_EQ(parse_error(R"(name = "\400")"),
              R"(t.cfg:1:9: octal escape in a string is larger than \377)");
    EXPECT_EQ(parse_error("name = \"\\\x01\""),
              "t.cfg:1:9: invalid escape: backslash before byte 0x01 in string");
}

TEST(Lexer, BadEscape_DoesNotHideLaterSettings) {
    // The error is reported once, at the escape.
    EXPECT_EQ(parse_error("a = 'x\\q' b\nc = 1"),
              "t.cfg:1:7: invalid escape \\q in string (use \\\\ for a backslash)");
}

TEST(Lexer, CarriageReturn_IsRejectedAsXlDoes) {
    EXPECT_EQ(parse_error("name = \"x\"\r\n"),
              "t.cfg:1:11: carriage return: the file has DOS line endings, which xl does not "
              "accept (convert it with dos2unix)");
    // Inside a comment it is just comment text.
    parse_ok("# dos comment\r\nname = \"x\"\n");
}

TEST(Lexer, NulBytes_AreRejected) {
    using namespace std::string_view_literals;
    EXPECT_EQ(parse_error("name = \"x\"\0\n"sv), "t.cfg:1:11: NUL byte: an xl.cfg file is text");
    EXPECT_EQ(parse_error("name = \"x\0y\"\n"sv), "t.cfg:1:10: NUL byte in string");
}

TEST(Lexer, PythonLookingCharacters_GetThePythonHint) {
    EXPECT_EQ(parse_error("memory = -5\n"),
              "t.cfg:1:10: unexpected '-': xl.cfg is not Python; it has no arithmetic, negative "
              "numbers or expressions");
    EXPECT_EQ(parse_error("memory = 256 + 256\n"),
              "t.cfg:1:14: unexpected '+': xl.cfg is not Python; it has no arithmetic, negative "
              "numbers or expressions");
    EXPECT_EQ(parse_error("memory = 256 * 2\n"), "t.cfg:1:14: unexpected '*'");
}

TEST(Lexer, NonAsciiBytes_AreNamedInHex) {
    EXPECT_EQ(parse_error("caf\xc3\xa9 = 1\n"), "t.cfg:1:4: unexpected byte 0xc3");
}

}  // namespace
}  // namespace xenolith::config
