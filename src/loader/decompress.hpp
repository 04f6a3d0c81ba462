// Bounded decompression of kernel payloads (the codecs Linux can put inside
// a bzImage). Output never grows past the caller's limit, every loop makes
// progress or stops, and trailing bytes after the end of the stream (the
// 4-byte uncompressed size Linux appends) are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace xenolith::loader {

enum class Codec { none, gzip, xz, lzma, lz4, zstd, bzip2, lzo, unknown };

// Identifies the codec from the first bytes; `none` means an ELF image.
Codec detect_codec(ByteSpan data);

// "gzip", "xz", "lzma", "lz4", "zstd", "bzip2", "lzo", "none", "unknown".
std::string_view codec_name(Codec codec);

// Decompresses one stream of `codec` (not none/lzo/unknown). Fails with an
// Error whose text starts with the codec name when the data is corrupt or
// truncated, or when the output would exceed `max_out` bytes. `size_hint`
// (the expected output size, 0 if unknown) only sizes the first buffer.
Result<std::vector<std::uint8_t>> decompress(Codec codec, ByteSpan in, std::size_t max_out,
                                             std::size_t size_hint = 0);

}  // namespace xenolith::loader
