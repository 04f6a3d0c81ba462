// Human-readable byte counts for error messages ("512 MiB", "1000 bytes").
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace xenolith::loader {

inline std::string format_size(std::uint64_t n) {
    constexpr std::uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
    if (n != 0 && n % kGiB == 0) return fmt::format("{} GiB", n / kGiB);
    if (n != 0 && n % kMiB == 0) return fmt::format("{} MiB", n / kMiB);
    if (n != 0 && n % kKiB == 0) return fmt::format("{} KiB", n / kKiB);
    return fmt::format("{} bytes", n);
}

}  // namespace xenolith::loader
