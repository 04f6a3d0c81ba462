// Small helpers shared by the config tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "toolstack/config/domain_config.hpp"
#include "toolstack/config/parser.hpp"

namespace xenolith::config::test {

inline ParsedConfig parse_ok(std::string_view text, std::string_view file = "t.cfg") {
    auto r = parse_config(text, file);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    return r.ok() ? std::move(r).value() : ParsedConfig{};
}

inline std::string parse_error(std::string_view text, std::string_view file = "t.cfg") {
    auto r = parse_config(text, file);
    EXPECT_FALSE(r.ok()) << "parsed without error: " << text;
    return r.ok() ? std::string() : r.error().what;
}

inline std::vector<std::string> strs(const std::vector<Warning>& ws) {
    std::vector<std::string> out;
    for (const auto& w : ws) out.push_back(w.str());
    return out;
}

// Parses and builds; the warnings of both stages, in order.
struct Built {
    DomainConfig cfg;
    std::vector<std::string> warnings;
};

inline Built build_ok(std::string_view text, std::string_view file = "t.cfg") {
    Built b;
    auto parsed = parse_config(text, file);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().what);
    if (!parsed.ok()) return b;
    std::vector<Warning> ws = parsed->warnings;
    auto r = build_domain_config(*parsed, ws);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    if (r.ok()) b.cfg = std::move(r).value();
    b.warnings = strs(ws);
    return b;
}

inline std::string build_error(std::string_view text, std::string_view file = "t.cfg") {
    auto parsed = parse_config(text, file);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().what);
    if (!parsed.ok()) return {};
    std::vector<Warning> ws;
    auto r = build_domain_config(*parsed, ws);
    EXPECT_FALSE(r.ok()) << "built without error: " << text;
    return r.ok() ? std::string() : r.error().what;
}

}  // namespace xenolith::config::test
