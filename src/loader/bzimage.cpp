#include "loader/bzimage.hpp"

#include <cstddef>
#include <cstdint>

#include <fmt/format.h>

// The kernel's UAPI header defines the setup header layout; it uses a C99
// flexible array member, which -Wpedantic rejects in C++.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#include <asm/bootparam.h>
#pragma GCC diagnostic pop

namespace xenolith::loader {
namespace {

constexpr std::size_t kSetupHeaderOffset = offsetof(boot_params, hdr);
constexpr std::uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr std::uint16_t kBootFlag = 0xAA55;
constexpr std::uint16_t kMinVersion = 0x0208;  // adds payload_offset/length
constexpr std::uint64_t kSectorSize = 512;
constexpr std::uint8_t kDefaultSetupSects = 4;  // setup_sects == 0 means 4

}  // namespace

bool is_bzimage(ByteSpan file) {
    const auto hdr = read_at<setup_header>(file, kSetupHeaderOffset);
    return hdr && hdr->header == kHdrSMagic;
}

Result<ByteSpan> bzimage_payload(ByteSpan file) {
    const auto hdr = read_at<setup_header>(file, kSetupHeaderOffset);
    if (!hdr || hdr->header != kHdrSMagic) return make_error("not a bzImage (no HdrS signature)");
    if (hdr->boot_flag != kBootFlag) {
        return make_error(fmt::format("bzImage boot_flag is {:#06x}, expected {:#06x}",
                                      std::uint16_t{hdr->boot_flag}, kBootFlag));
    }
    const std::uint16_t version = hdr->version;
    if (version < kMinVersion) {
        return make_error(fmt::format(
            "bzImage boot protocol {}.{:02} is too old (2.08 or later records the payload)",
            version >> 8, version & 0xff));
    }
    const std::uint8_t sects = hdr->setup_sects != 0 ? hdr->setup_sects : kDefaultSetupSects;
    const std::uint64_t start = (std::uint64_t{sects} + 1) * kSectorSize + hdr->payload_offset;
    const std::uint64_t length = hdr->payload_length;
    if (length == 0) return make_error("bzImage payload is empty");
    const auto payload = slice(file, start, length);
    if (!payload) {
        return make_error(fmt::format(
            "bzImage payload [{:#x}, +{:#x}) runs past the end of the file ({:#x} bytes)", start,
            length, file.size()));
    }
    return *payload;
}

}  // namespace xenolith::loader
