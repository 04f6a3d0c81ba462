// xl's save-file header: what `xl save` writes before the libxl stream and
// `xl restore` / `xl migrate`'s receiver read first.
//
//   32 bytes  magic "Xen saved domain, xl format\n \0 \r" (no terminator)
//   u32       byte-order marker 0x01020304, in the saver's byte order
//   u32       mandatory flags (unknown ones => refuse)
//   u32       optional flags
//   u32       optional data length, then that many bytes:
//               u32 config length, config bytes (JSON, NUL-terminated,
//               when the JSON mandatory flag is set), anything after is a
//               tail later xl versions may add, skipped.
// All u32s are little-endian here: a big-endian marker is refused.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "migration/byte_stream.hpp"

namespace xenolith::migration {

inline constexpr std::array<std::uint8_t, 32> kXlSaveMagic = {
    'X', 'e', 'n', ' ', 's', 'a', 'v', 'e', 'd', ' ', 'd', 'o', 'm', 'a', 'i', 'n',
    ',', ' ', 'x', 'l', ' ', 'f', 'o', 'r', 'm', 'a', 't', '\n', ' ', '\0', ' ', '\r'};
inline constexpr std::uint32_t kXlByteOrderMarker = 0x01020304;
inline constexpr std::uint32_t kXlMandatoryJson = 1u << 0;      // config is JSON
inline constexpr std::uint32_t kXlMandatoryStreamV2 = 1u << 1;  // libxl stream v2 follows
inline constexpr std::uint32_t kXlMandatoryKnown = kXlMandatoryJson | kXlMandatoryStreamV2;
inline constexpr std::size_t kXlFixedHeaderSize = 48;

struct XlSaveHeader {
    std::uint32_t mandatory_flags = kXlMandatoryStreamV2;
    std::uint32_t optional_flags = 0;
    // The domain configuration as libxl JSON, without xl's trailing NUL;
    // nullopt when the file carries none (xl restore then needs a config
    // file on its command line).
    std::optional<std::string> config_json;
    // Optional data after the config, which xl skips; kept so a file we
    // did not write round-trips.
    std::vector<std::uint8_t> optional_tail;
};

struct XlSaveLimits {
    // xl itself reads any length; a hostile file must not make us
    // allocate gigabytes before the truncation shows.
    std::uint32_t max_optional_data = 16u << 20;
};

// The exact bytes xl writes: the fixed header, then the optional data.
// With a config the JSON mandatory flag is set, as xl does.
std::vector<std::uint8_t> encode_xl_save_header(const XlSaveHeader& header);

// Reads and checks the header; errors read "xl save header at offset X:
// <why>". Leaves `in` at the first byte of the libxl stream.
Result<XlSaveHeader> read_xl_save_header(InputStream& in, const XlSaveLimits& limits = {});

}  // namespace xenolith::migration
