// A domain UUID as xl.cfg writes it: 8-4-4-4-12 hex digits, either case
// (libuuid's uuid_parse). Printed lower-case, as libxl does.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xenolith::config {

struct Uuid {
    std::array<std::uint8_t, 16> bytes{};

    static std::optional<Uuid> parse(std::string_view text);
    // A random (version 4) UUID, as libxl_uuid_generate makes for a config
    // without uuid=.
    static Uuid random();
    std::string str() const;
    bool is_nil() const;

    friend bool operator==(const Uuid&, const Uuid&) = default;
};

}  // namespace xenolith::config
