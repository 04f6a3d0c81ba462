// libxl's stream (Xen's "libxl migration stream", version 2): what follows
// xl's save-file header, and what `xl migrate` sends.
//
//   header   (big-endian) ident "LibxlFmt", version 2, options
//   records  {u32 type, u32 length, body, zero padding to 8}... END
//
// LIBXC_CONTEXT has no body: it says "a libxc stream follows here", and
// the caller reads it (LibxcStreamReader on the same InputStream) before
// asking for the next libxl record.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "migration/byte_stream.hpp"

namespace xenolith::migration {

inline constexpr std::uint64_t kLibxlIdent = 0x4c6962786c466d74;  // "LibxlFmt"
inline constexpr std::uint32_t kLibxlVersion = 2;
inline constexpr std::uint32_t kLibxlOptionBigEndian = 1u << 0;
inline constexpr std::uint32_t kLibxlOptionLegacy = 1u << 1;  // converted from a pre-4.6 image
inline constexpr std::size_t kLibxlHeaderSize = 16;

namespace libxl_rec {
inline constexpr std::uint32_t kEnd = 0;
inline constexpr std::uint32_t kLibxcContext = 1;
inline constexpr std::uint32_t kEmulatorXenstoreData = 2;
inline constexpr std::uint32_t kEmulatorContext = 3;
inline constexpr std::uint32_t kCheckpointEnd = 4;
inline constexpr std::uint32_t kCheckpointState = 5;
inline constexpr std::uint32_t kOptionalBit = 0x80000000;
}  // namespace libxl_rec

namespace libxl_emulator {
inline constexpr std::uint32_t kUnknown = 0;
inline constexpr std::uint32_t kQemuTraditional = 1;
inline constexpr std::uint32_t kQemuUpstream = 2;
}  // namespace libxl_emulator

std::string libxl_record_name(std::uint32_t type);

struct LibxlHeader {
    std::uint32_t options = 0;
};

struct LibxlRecord {
    std::uint32_t type = 0;
    std::uint64_t index = 0;
    std::uint64_t offset = 0;
    std::vector<std::uint8_t> body;
};

// EMULATOR_XENSTORE_DATA / EMULATOR_CONTEXT share an {id, index} sub-header.
struct EmulatorRecord {
    std::uint32_t emulator_id = libxl_emulator::kQemuUpstream;
    std::uint32_t index = 0;
    std::vector<std::uint8_t> data;
};

struct LibxlLimits {
    // PVH guests have no device model: libxl refuses emulator records for
    // anything but HVM, and so do we unless told the guest has one.
    bool allow_emulator_records = false;
    bool checkpointed = false;
    std::uint32_t max_emulator_context = 32u << 20;
    std::uint32_t max_xenstore_data = 1u << 20;
    std::uint32_t max_optional_record = 1u << 20;
};

std::vector<std::uint8_t> encode_libxl_header(const LibxlHeader& header);
Result<EmulatorRecord> decode_emulator_record(ByteSpan body);
std::vector<std::uint8_t> encode_emulator_record(const EmulatorRecord& record);
// The xenstore data: NUL-terminated key, NUL-terminated value, repeated.
Result<std::vector<std::pair<std::string, std::string>>> decode_xenstore_pairs(ByteSpan data);
std::vector<std::uint8_t> encode_xenstore_pairs(const std::vector<std::pair<std::string, std::string>>& pairs);

// Pulls records one at a time; errors read "libxl stream: record N (TYPE)
// at offset X: <why>". Exactly one LIBXC_CONTEXT per checkpoint, before
// END or CHECKPOINT_END.
class LibxlStreamReader {
public:
    LibxlStreamReader(InputStream& in, const LibxlLimits& limits) : in_(in), limits_(limits) {}

    Status read_header();
    const LibxlHeader& header() const { return header_; }

    Result<LibxlRecord> next();
    bool finished() const { return end_seen_; }

private:
    Error record_error(std::uint32_t type, std::uint64_t offset, const std::string& why) const;

    InputStream& in_;
    LibxlLimits limits_;
    LibxlHeader header_;
    bool header_read_ = false;
    bool failed_ = false;
    bool end_seen_ = false;
    bool libxc_seen_ = false;  // in this checkpoint
    std::uint64_t records_ = 0;
};

class LibxlStreamWriter {
public:
    explicit LibxlStreamWriter(ByteSink& out) : out_(out) {}
    Status write_header(const LibxlHeader& header) { return out_.write(encode_libxl_header(header)); }
    Status write_record(std::uint32_t type, ByteSpan body);
    Status write_libxc_context() { return write_record(libxl_rec::kLibxcContext, {}); }
    Status write_end() { return write_record(libxl_rec::kEnd, {}); }

private:
    ByteSink& out_;
};

}  // namespace xenolith::migration
