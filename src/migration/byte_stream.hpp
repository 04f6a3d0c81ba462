// Byte sources and sinks for migration streams, and the little/big-endian
// field codecs the stream layers share. A stream is read once, front to
// back (a pipe, a socket, a save file), so the reader keeps the absolute
// offset for error messages and never seeks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace xenolith::migration {

// Where stream bytes come from. read() returns how many bytes it placed
// in `out` (fewer than asked is fine), 0 at end of stream.
class ByteSource {
public:
    virtual ~ByteSource() = default;
    virtual Result<std::size_t> read(std::span<std::uint8_t> out) = 0;
};

// A source over bytes already in memory (tests, fuzzing, a mapped file).
class MemorySource final : public ByteSource {
public:
    explicit MemorySource(ByteSpan bytes) : bytes_(bytes) {}
    Result<std::size_t> read(std::span<std::uint8_t> out) override;

private:
    ByteSpan bytes_;
    std::size_t pos_ = 0;
};

// A source over a file descriptor the caller owns (a save file, a
// migration socket). EINTR is retried; other errors are reported.
class FdSource final : public ByteSource {
public:
    explicit FdSource(int fd) : fd_(fd) {}
    Result<std::size_t> read(std::span<std::uint8_t> out) override;

private:
    int fd_;
};

// Where written stream bytes go.
class ByteSink {
public:
    virtual ~ByteSink() = default;
    virtual Status write(ByteSpan bytes) = 0;
    // Writes the pieces in order, as one write() of their concatenation
    // would. Sinks over a descriptor gather them (writev), so guest pages
    // go out without being copied into a frame first.
    virtual Status write_gather(std::span<const ByteSpan> pieces);
};

class VectorSink final : public ByteSink {
public:
    Status write(ByteSpan bytes) override;
    const std::vector<std::uint8_t>& bytes() const { return bytes_; }
    std::vector<std::uint8_t> take() { return std::move(bytes_); }

private:
    std::vector<std::uint8_t> bytes_;
};

class FdSink final : public ByteSink {
public:
    explicit FdSink(int fd) : fd_(fd) {}
    Status write(ByteSpan bytes) override;
    Status write_gather(std::span<const ByteSpan> pieces) override;

private:
    int fd_;
};

// A ByteSource with the count of bytes consumed so far. The xl header,
// the libxl stream and the libxc stream embedded in it share one of these,
// so every error names an offset into the whole file.
class InputStream {
public:
    explicit InputStream(ByteSource& source) : source_(source) {}

    std::uint64_t offset() const { return offset_; }

    // Fills `out` completely. Short input is an error naming how many of
    // the wanted bytes arrived; `at_eof_clean` tells a caller that none did.
    Status read_exact(std::span<std::uint8_t> out);
    bool at_eof_clean() const { return eof_clean_; }

    // Reads `length` bytes into a fresh buffer, growing it as data arrives
    // so a hostile length on a short stream costs no more memory than the
    // bytes actually sent.
    Result<std::vector<std::uint8_t>> read_bytes(std::uint64_t length);

    // True when the source has nothing more (consumes nothing otherwise;
    // a byte read to find out is kept for the next read).
    Result<bool> at_end();

private:
    ByteSource& source_;
    std::uint64_t offset_ = 0;
    bool eof_clean_ = false;
    bool have_peek_ = false;
    std::uint8_t peek_ = 0;
};

// Field codecs. The image headers are big-endian by specification; the
// rest of a stream is little-endian (the only byte order either reader
// accepts, as Xen's own restore does).
inline std::uint16_t le16(ByteSpan b, std::size_t off) {
    return static_cast<std::uint16_t>(b[off] | (b[off + 1] << 8));
}
inline std::uint32_t le32(ByteSpan b, std::size_t off) {
    return static_cast<std::uint32_t>(b[off]) | (static_cast<std::uint32_t>(b[off + 1]) << 8) |
           (static_cast<std::uint32_t>(b[off + 2]) << 16) |
           (static_cast<std::uint32_t>(b[off + 3]) << 24);
}
inline std::uint64_t le64(ByteSpan b, std::size_t off) {
    return le32(b, off) | (static_cast<std::uint64_t>(le32(b, off + 4)) << 32);
}
inline std::uint16_t be16(ByteSpan b, std::size_t off) {
    return static_cast<std::uint16_t>((b[off] << 8) | b[off + 1]);
}
inline std::uint32_t be32(ByteSpan b, std::size_t off) {
    return (static_cast<std::uint32_t>(b[off]) << 24) | (static_cast<std::uint32_t>(b[off + 1]) << 16) |
           (static_cast<std::uint32_t>(b[off + 2]) << 8) | static_cast<std::uint32_t>(b[off + 3]);
}
inline std::uint64_t be64(ByteSpan b, std::size_t off) {
    return (static_cast<std::uint64_t>(be32(b, off)) << 32) | be32(b, off + 4);
}

void put_le16(std::vector<std::uint8_t>& out, std::uint16_t v);
void put_le32(std::vector<std::uint8_t>& out, std::uint32_t v);
void put_le64(std::vector<std::uint8_t>& out, std::uint64_t v);
void put_be16(std::vector<std::uint8_t>& out, std::uint16_t v);
void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v);
void put_be64(std::vector<std::uint8_t>& out, std::uint64_t v);

// Both stream layers frame records the same way: {u32 type, u32 length},
// the body, then zeros up to the next multiple of 8.
inline constexpr std::uint64_t kRecordAlign = 8;
inline constexpr std::uint64_t record_padding(std::uint64_t body_length) {
    return (kRecordAlign - body_length % kRecordAlign) % kRecordAlign;
}

struct RecordHeader {
    std::uint32_t type = 0;
    std::uint32_t length = 0;
};

// Reads a record header; a stream that ends exactly here leaves
// in.at_eof_clean() set so the caller can say "no END record".
Result<RecordHeader> read_record_header(InputStream& in);

// Reads `length` body bytes and the padding after them (padding content is
// ignored, as the specifications require of a restorer).
Result<std::vector<std::uint8_t>> read_record_body(InputStream& in, std::uint32_t length);

// Writes header, body and zero padding.
Status write_record(ByteSink& out, std::uint32_t type, ByteSpan body);
// The same for a body given in pieces (their total is the length).
Status write_record_gather(ByteSink& out, std::uint32_t type, std::span<const ByteSpan> body);

}  // namespace xenolith::migration
