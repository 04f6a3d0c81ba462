#include "migration/xl_savefile.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace xenolith::migration {

namespace {

Error header_error(std::uint64_t offset, const std::string& why) {
    return make_error(fmt::format("xl save header at offset {}: {}", offset, why));
}

}  // namespace

std::vector<std::uint8_t> encode_xl_save_header(const XlSaveHeader& header) {
    std::vector<std::uint8_t> optional;
    std::uint32_t mandatory = header.mandatory_flags;
    // xl always writes the config length, 0 when there is no config.
    if (header.config_json) {
        const std::string& json = *header.config_json;
        put_le32(optional, static_cast<std::uint32_t>(json.size() + 1));
        optional.insert(optional.end(), json.begin(), json.end());
        optional.push_back(0);
        mandatory |= kXlMandatoryJson;
    } else {
        put_le32(optional, 0);
    }
    optional.insert(optional.end(), header.optional_tail.begin(), header.optional_tail.end());

    std::vector<std::uint8_t> out(kXlSaveMagic.begin(), kXlSaveMagic.end());
    put_le32(out, kXlByteOrderMarker);
    put_le32(out, mandatory);
    put_le32(out, header.optional_flags);
    put_le32(out, static_cast<std::uint32_t>(optional.size()));
    out.insert(out.end(), optional.begin(), optional.end());
    return out;
}

Result<XlSaveHeader> read_xl_save_header(InputStream& in, const XlSaveLimits& limits) {
    const std::uint64_t start = in.offset();
    std::array<std::uint8_t, kXlFixedHeaderSize> fixed{};
    if (auto st = in.read_exact(fixed); !st) return header_error(start, st.error().what);
    const ByteSpan b(fixed);

    if (!std::equal(kXlSaveMagic.begin(), kXlSaveMagic.end(), fixed.begin())) {
        return header_error(start, "wrong magic: not an xl save file (corrupt, or for a different tool)");
    }
    const std::uint32_t order = le32(b, 32);
    if (order == 0x04030201) return header_error(start + 32, "big-endian save file; only little-endian is supported");
    if (order != kXlByteOrderMarker) {
        return header_error(start + 32, fmt::format("byte-order marker {:#010x}, expected 0x01020304", order));
    }

    XlSaveHeader h;
    h.mandatory_flags = le32(b, 36);
    h.optional_flags = le32(b, 40);
    const std::uint32_t optional_len = le32(b, 44);
    if (const std::uint32_t unknown = h.mandatory_flags & ~kXlMandatoryKnown; unknown != 0) {
        return header_error(start + 36, fmt::format("unsupported mandatory flag(s) {:#x}", unknown));
    }
    if (!(h.mandatory_flags & kXlMandatoryStreamV2)) {
        return header_error(start + 36, "mandatory flag STREAMv2 missing: the legacy (pre-Xen 4.6) stream is not supported");
    }
    if (optional_len > limits.max_optional_data) {
        return header_error(start + 44, fmt::format("optional data length {} exceeds the limit {}", optional_len,
                                                    limits.max_optional_data));
    }
    const std::uint64_t optional_at = in.offset();
    auto optional = in.read_bytes(optional_len);
    if (!optional) return header_error(optional_at, "optional data " + optional.error().what);
    const ByteSpan opt(*optional);
    if (opt.empty()) {
        if (h.mandatory_flags & kXlMandatoryJson) return header_error(optional_at, "JSON flag set but no config present");
        return h;
    }
    if (opt.size() < 4) return header_error(optional_at, "optional data too short for the config length");
    const std::uint32_t config_len = le32(opt, 0);
    if (config_len > opt.size() - 4) {
        return header_error(optional_at, fmt::format("config length {} overruns the {} bytes of optional data",
                                                     config_len, opt.size() - 4));
    }
    const ByteSpan config = opt.subspan(4, config_len);
    h.optional_tail.assign(opt.begin() + 4 + config_len, opt.end());
    if (config_len == 0) {
        if (h.mandatory_flags & kXlMandatoryJson) return header_error(optional_at, "JSON flag set but the config is empty");
        return h;
    }
    if (!(h.mandatory_flags & kXlMandatoryJson)) {
        // Pre-JSON xl stored the xl.cfg text; nothing restores from that here.
        return header_error(start + 36, "config present without the JSON flag (xl.cfg text config is not supported)");
    }
    if (config.back() != 0) return header_error(optional_at + 4, "config JSON is not NUL-terminated");
    const auto text = config.first(config.size() - 1);
    if (std::find(text.begin(), text.end(), std::uint8_t{0}) != text.end()) {
        return header_error(optional_at + 4, "config JSON contains a NUL byte");
    }
    std::string json(text.begin(), text.end());
    const auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return header_error(optional_at + 4, "config is not valid JSON");
    if (!parsed.is_object()) return header_error(optional_at + 4, "config JSON is not an object");
    h.config_json = std::move(json);
    return h;
}

}  // namespace xenolith::migration
