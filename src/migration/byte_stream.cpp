#include "migration/byte_stream.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>

namespace xenolith::migration {

Result<std::size_t> MemorySource::read(std::span<std::uint8_t> out) {
    const std::size_t n = std::min(out.size(), bytes_.size() - pos_);
    if (n != 0) std::memcpy(out.data(), bytes_.data() + pos_, n);
    pos_ += n;
    return n;
}

Result<std::size_t> FdSource::read(std::span<std::uint8_t> out) {
    for (;;) {
        const ssize_t n = ::read(fd_, out.data(), out.size());
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno != EINTR) return make_error(fmt::format("read: {}", std::strerror(errno)));
    }
}

Status VectorSink::write(ByteSpan bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return ok_status();
}

Status FdSink::write(ByteSpan bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return make_error(fmt::format("write: {}", std::strerror(errno)));
        }
        bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    return ok_status();
}

Status ByteSink::write_gather(std::span<const ByteSpan> pieces) {
    for (ByteSpan p : pieces) {
        if (auto st = write(p); !st) return st;
    }
    return ok_status();
}

Status FdSink::write_gather(std::span<const ByteSpan> pieces) {
    // writev takes at most IOV_MAX (1024) pieces and may stop anywhere,
    // even inside a piece: keep a window of iovecs and advance through it.
    constexpr std::size_t kMaxIov = 1024;
    std::array<iovec, kMaxIov> iov{};
    std::size_t next = 0;  // first piece not yet in the window
    std::size_t skip = 0;  // bytes of pieces[next - count] already written
    while (next < pieces.size()) {
        std::size_t count = 0;
        for (std::size_t i = next; i < pieces.size() && count < kMaxIov; ++i) {
            if (pieces[i].empty()) continue;
            iov[count++] = {const_cast<std::uint8_t*>(pieces[i].data()), pieces[i].size()};
        }
        if (count == 0) break;
        iov[0].iov_base = static_cast<std::uint8_t*>(iov[0].iov_base) + skip;
        iov[0].iov_len -= skip;
        const ssize_t n = ::writev(fd_, iov.data(), static_cast<int>(count));
        if (n < 0) {
            if (errno == EINTR) {
                iov[0].iov_base = static_cast<std::uint8_t*>(iov[0].iov_base) - skip;
                iov[0].iov_len += skip;
                continue;
            }
            return make_error(fmt::format("write: {}", std::strerror(errno)));
        }
        // Walk the pieces the kernel took.
        auto left = static_cast<std::size_t>(n) + skip;
        skip = 0;
        while (next < pieces.size()) {
            const std::size_t len = pieces[next].size();
            if (left < len) {
                skip = left;
                break;
            }
            left -= len;
            ++next;
        }
    }
    return ok_status();
}

Status InputStream::read_exact(std::span<std::uint8_t> out) {
    std::size_t got = 0;
    eof_clean_ = false;
    if (!out.empty() && have_peek_) {
        out[0] = peek_;
        have_peek_ = false;
        got = 1;
    }
    while (got < out.size()) {
        auto n = source_.read(out.subspan(got));
        if (!n) return n.error();
        if (*n == 0) {
            offset_ += got;
            eof_clean_ = got == 0;
            return make_error(got == 0 ? fmt::format("stream ends here ({} bytes wanted)", out.size())
                                       : fmt::format("truncated: {} of {} bytes present", got, out.size()));
        }
        got += *n;
    }
    offset_ += got;
    return ok_status();
}

Result<std::vector<std::uint8_t>> InputStream::read_bytes(std::uint64_t length) {
    constexpr std::uint64_t kChunk = 64 * 1024;
    std::vector<std::uint8_t> out;
    const std::uint64_t start = offset_;
    while (out.size() < length) {
        const std::size_t have = out.size();
        const auto step = static_cast<std::size_t>(std::min(kChunk, length - have));
        out.resize(have + step);
        if (auto st = read_exact(std::span(out).subspan(have, step)); !st) {
            return make_error(fmt::format("truncated: {} of {} bytes present", offset_ - start, length));
        }
    }
    return out;
}

Result<bool> InputStream::at_end() {
    if (have_peek_) return false;
    std::uint8_t b = 0;
    auto n = source_.read(std::span(&b, 1));
    if (!n) return n.error();
    if (*n == 0) return true;
    peek_ = b;
    have_peek_ = true;
    return false;
}

void put_le16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put_le32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_le64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_be16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}
void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_be64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

Result<RecordHeader> read_record_header(InputStream& in) {
    std::array<std::uint8_t, 8> raw{};
    if (auto st = in.read_exact(raw); !st) return st.error();
    return RecordHeader{le32(raw, 0), le32(raw, 4)};
}

Result<std::vector<std::uint8_t>> read_record_body(InputStream& in, std::uint32_t length) {
    auto body = in.read_bytes(length);
    if (!body) return make_error("body " + body.error().what);
    std::array<std::uint8_t, kRecordAlign> pad{};
    const auto pad_len = static_cast<std::size_t>(record_padding(length));
    if (auto st = in.read_exact(std::span(pad).first(pad_len)); !st) return make_error("padding " + st.error().what);
    return body;
}

Status write_record(ByteSink& out, std::uint32_t type, ByteSpan body) {
    std::vector<std::uint8_t> frame;
    frame.reserve(8 + body.size() + kRecordAlign);
    put_le32(frame, type);
    put_le32(frame, static_cast<std::uint32_t>(body.size()));
    frame.insert(frame.end(), body.begin(), body.end());
    frame.resize(frame.size() + static_cast<std::size_t>(record_padding(body.size())), 0);
    return out.write(frame);
}

Status write_record_gather(ByteSink& out, std::uint32_t type, std::span<const ByteSpan> body) {
    std::uint64_t length = 0;
    for (ByteSpan p : body) length += p.size();
    if (length > std::numeric_limits<std::uint32_t>::max()) return make_error(fmt::format("record body of {} bytes exceeds 32 bits", length));
    std::vector<std::uint8_t> header;
    put_le32(header, type);
    put_le32(header, static_cast<std::uint32_t>(length));
    static constexpr std::array<std::uint8_t, kRecordAlign> kZeros{};
    std::vector<ByteSpan> pieces;
    pieces.reserve(body.size() + 2);
    pieces.push_back(header);
    pieces.insert(pieces.end(), body.begin(), body.end());
    pieces.push_back(ByteSpan(kZeros).first(static_cast<std::size_t>(record_padding(length))));
    return out.write_gather(pieces);
}

}  // namespace xenolith::migration
