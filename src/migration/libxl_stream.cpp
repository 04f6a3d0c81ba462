#include "migration/libxl_stream.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace xenolith::migration {

namespace r = libxl_rec;

std::string libxl_record_name(std::uint32_t type) {
    static constexpr std::array<std::string_view, 6> kNames = {
        "END", "LIBXC_CONTEXT", "EMULATOR_XENSTORE_DATA", "EMULATOR_CONTEXT", "CHECKPOINT_END", "CHECKPOINT_STATE"};
    if (type < kNames.size()) return std::string(kNames[type]);
    if (type & r::kOptionalBit) return fmt::format("optional {:#x}", type);
    return fmt::format("unknown {:#x}", type);
}

std::vector<std::uint8_t> encode_libxl_header(const LibxlHeader& header) {
    std::vector<std::uint8_t> out;
    put_be64(out, kLibxlIdent);
    put_be32(out, kLibxlVersion);
    put_be32(out, header.options);
    return out;
}

Result<EmulatorRecord> decode_emulator_record(ByteSpan body) {
    if (body.size() < 8) return make_error(fmt::format("length {} too short for the emulator header (8)", body.size()));
    EmulatorRecord rec{le32(body, 0), le32(body, 4), {}};
    if (rec.emulator_id > libxl_emulator::kQemuUpstream) {
        return make_error(fmt::format("unknown emulator id {}", rec.emulator_id));
    }
    rec.data.assign(body.begin() + 8, body.end());
    return rec;
}

std::vector<std::uint8_t> encode_emulator_record(const EmulatorRecord& record) {
    std::vector<std::uint8_t> out;
    put_le32(out, record.emulator_id);
    put_le32(out, record.index);
    out.insert(out.end(), record.data.begin(), record.data.end());
    return out;
}

Result<std::vector<std::pair<std::string, std::string>>> decode_xenstore_pairs(ByteSpan data) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t pos = 0;
    const auto take = [&](std::string& out) -> bool {
        const auto nul = std::find(data.begin() + static_cast<std::ptrdiff_t>(pos), data.end(), std::uint8_t{0});
        if (nul == data.end()) return false;
        out.assign(data.begin() + static_cast<std::ptrdiff_t>(pos), nul);
        pos = static_cast<std::size_t>(nul - data.begin()) + 1;
        return true;
    };
    while (pos < data.size()) {
        std::string key, value;
        if (!take(key)) return make_error(fmt::format("xenstore key at data offset {} is not NUL-terminated", pos));
        if (key.empty()) return make_error(fmt::format("empty xenstore key at data offset {}", pos - 1));
        for (char c : key) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '/' || c == '_' || c == '@';
            if (!ok) return make_error(fmt::format("xenstore key \"{}\" has a character outside [A-Za-z0-9-/_@]", key));
        }
        if (!take(value)) return make_error(fmt::format("value of xenstore key \"{}\" is not NUL-terminated", key));
        pairs.emplace_back(std::move(key), std::move(value));
    }
    return pairs;
}

std::vector<std::uint8_t> encode_xenstore_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::vector<std::uint8_t> out;
    for (const auto& [k, v] : pairs) {
        out.insert(out.end(), k.begin(), k.end());
        out.push_back(0);
        out.insert(out.end(), v.begin(), v.end());
        out.push_back(0);
    }
    return out;
}

Status LibxlStreamReader::read_header() {
    const std::uint64_t at = in_.offset();
    const auto fail = [&](std::uint64_t off, const std::string& why) {
        return make_error(fmt::format("libxl stream: header at offset {}: {}", off, why));
    };
    if (header_read_) return fail(at, "header already read");
    std::array<std::uint8_t, kLibxlHeaderSize> h{};
    if (auto st = in_.read_exact(h); !st) return fail(at, st.error().what);
    if (const std::uint64_t ident = be64(h, 0); ident != kLibxlIdent) {
        return fail(at, fmt::format("ident {:#018x}, expected {:#018x} (\"LibxlFmt\")", ident, kLibxlIdent));
    }
    if (const std::uint32_t version = be32(h, 8); version != kLibxlVersion) {
        return fail(at + 8, fmt::format("version {}, expected {}", version, kLibxlVersion));
    }
    header_.options = be32(h, 12);
    if (header_.options & kLibxlOptionBigEndian) return fail(at + 12, "big-endian stream; only little-endian is supported");
    header_read_ = true;
    return ok_status();
}

Error LibxlStreamReader::record_error(std::uint32_t type, std::uint64_t offset, const std::string& why) const {
    return make_error(
        fmt::format("libxl stream: record {} ({}) at offset {}: {}", records_, libxl_record_name(type), offset, why));
}

Result<LibxlRecord> LibxlStreamReader::next() {
    if (!header_read_) return make_error("libxl stream: next() before read_header()");
    if (failed_) return make_error("libxl stream: already failed");
    ++records_;
    const std::uint64_t at = in_.offset();
    if (end_seen_) return record_error(r::kEnd, at, "read past the END record: the libxl stream is over");
    failed_ = true;

    auto hdr = read_record_header(in_);
    if (!hdr) {
        if (in_.at_eof_clean()) {
            return make_error(
                fmt::format("libxl stream: record {} at offset {}: stream ended without an END record", records_, at));
        }
        return make_error(fmt::format("libxl stream: record {} at offset {}: header {}", records_, at, hdr.error().what));
    }
    const std::uint32_t type = hdr->type;
    const std::uint32_t length = hdr->length;
    std::uint64_t cap = 0;
    switch (type) {
    case r::kEnd:
        if (!libxc_seen_) return record_error(type, at, "END before any LIBXC_CONTEXT: the stream has no domain");
        break;
    case r::kLibxcContext:
        if (libxc_seen_) return record_error(type, at, "a second LIBXC_CONTEXT in one checkpoint");
        break;
    case r::kEmulatorXenstoreData:
    case r::kEmulatorContext:
        if (!limits_.allow_emulator_records) {
            return record_error(type, at, "emulator records belong to HVM guests with a device model; this guest has none");
        }
        cap = type == r::kEmulatorContext ? limits_.max_emulator_context : limits_.max_xenstore_data;
        break;
    case r::kCheckpointEnd:
        if (!limits_.checkpointed) return record_error(type, at, "CHECKPOINT_END in a stream that is not checkpointed");
        if (!libxc_seen_) return record_error(type, at, "CHECKPOINT_END before the checkpoint's LIBXC_CONTEXT");
        break;
    case r::kCheckpointState:
        if (!limits_.checkpointed) return record_error(type, at, "CHECKPOINT_STATE in a stream that is not checkpointed");
        cap = 4;
        break;
    default:
        if (!(type & r::kOptionalBit)) return record_error(type, at, "unknown mandatory record type");
        cap = limits_.max_optional_record;
        break;
    }
    if (length > cap) return record_error(type, at, fmt::format("length {} exceeds the cap {} for this type", length, cap));

    auto body = read_record_body(in_, length);
    if (!body) return record_error(type, at, body.error().what);
    switch (type) {
    case r::kEmulatorXenstoreData: {
        auto rec = decode_emulator_record(*body);
        if (!rec) return record_error(type, at, rec.error().what);
        if (auto pairs = decode_xenstore_pairs(rec->data); !pairs) return record_error(type, at, pairs.error().what);
        break;
    }
    case r::kEmulatorContext:
        if (auto rec = decode_emulator_record(*body); !rec) return record_error(type, at, rec.error().what);
        break;
    case r::kCheckpointState:
        if (body->size() != 4) return record_error(type, at, fmt::format("length {}, expected 4", body->size()));
        if (le32(*body, 0) > 3) return record_error(type, at, fmt::format("unknown control id {}", le32(*body, 0)));
        break;
    default:
        break;
    }

    if (type == r::kLibxcContext) libxc_seen_ = true;
    if (type == r::kCheckpointEnd) libxc_seen_ = false;
    if (type == r::kEnd) end_seen_ = true;
    failed_ = false;
    return LibxlRecord{type, records_, at, std::move(*body)};
}

Status LibxlStreamWriter::write_record(std::uint32_t type, ByteSpan body) {
    return migration::write_record(out_, type, body);
}

}  // namespace xenolith::migration
