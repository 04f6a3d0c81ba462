// Bounds-checked reads of little-endian values from untrusted byte buffers.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace xenolith {

using ByteSpan = std::span<const std::uint8_t>;

// Reads a trivially-copyable T at `off`, or nullopt if it would overrun.
template <class T>
std::optional<T> read_at(ByteSpan buf, std::uint64_t off) {
    if (off > buf.size() || buf.size() - off < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, buf.data() + off, sizeof(T));
    return v;
}

// Sub-span [off, off+len), or nullopt if out of range (overflow-safe).
inline std::optional<ByteSpan> slice(ByteSpan buf, std::uint64_t off, std::uint64_t len) {
    if (off > buf.size() || buf.size() - off < len) return std::nullopt;
    return buf.subspan(off, len);
}

}  // namespace xenolith
