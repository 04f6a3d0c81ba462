#include "loader/decompress.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <span>
#include <string>

#include <fmt/format.h>

#define ZLIB_CONST
#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "loader/size_format.hpp"

namespace xenolith::loader {
namespace {

// Decoder memory for xz/lzma dictionaries. Linux uses 32 MiB (xz) and
// `lzma -9` uses 64 MiB; anything above this is hostile.
constexpr std::uint64_t kLzmaMemLimit = 128ull << 20;
// zstd window: Linux compresses with `zstd -22 --ultra`, window log 27.
constexpr int kZstdWindowLogMax = 27;
// The legacy LZ4 format (`lz4 -l`, what Linux uses) has 8 MiB blocks.
constexpr std::size_t kLz4LegacyBlock = 8u << 20;
constexpr std::uint32_t kLz4LegacyMagic = 0x184C2102;
// A decoder call that neither consumes nor produces this many times in a
// row is stuck; the real libraries report an error well before that.
constexpr int kMaxStalls = 4;
constexpr std::size_t kMinChunk = 64u << 10;

// Geometrically growing output that never holds more than limit+1 bytes:
// reaching limit+1 proves the stream is larger than allowed.
class Output {
public:
    Output(std::size_t limit, std::size_t hint)
        : cap_(std::min(limit, std::numeric_limits<std::size_t>::max() - 1) + 1) {
        buf_.resize(std::min(cap_, std::max(hint, kMinChunk)));
    }

    // Free space after the written bytes; empty only when the cap is reached.
    std::span<std::uint8_t> space() {
        if (len_ == buf_.size() && buf_.size() < cap_) {
            buf_.resize(buf_.size() > cap_ / 2 ? cap_ : buf_.size() * 2);
        }
        return std::span<std::uint8_t>(buf_).subspan(len_);
    }
    void commit(std::size_t n) { len_ += n; }
    bool over_limit() const { return len_ == cap_; }
    std::size_t size() const { return len_; }

    std::vector<std::uint8_t> take() {
        const bool much_slack = buf_.size() - len_ > len_ / 4;
        buf_.resize(len_);
        if (much_slack) buf_.shrink_to_fit();
        return std::move(buf_);
    }

private:
    std::size_t cap_;
    std::size_t len_ = 0;
    std::vector<std::uint8_t> buf_;
};

template <class T>
T clamp_to(std::size_t n) {
    return static_cast<T>(std::min<std::size_t>(n, std::numeric_limits<T>::max()));
}

Error too_large(Codec c, std::size_t limit) {
    return make_error(
        fmt::format("{} stream decompresses to more than {}", codec_name(c), format_size(limit)));
}
Error truncated(Codec c) {
    return make_error(fmt::format("{} stream is truncated", codec_name(c)));
}
Error corrupt(Codec c, std::string_view detail) {
    return make_error(fmt::format("{} stream is corrupt ({})", codec_name(c), detail));
}

// Tracks whether a decoder loop is making progress.
class Progress {
public:
    // Returns false once the decoder has stalled too often.
    bool note(std::size_t consumed, std::size_t produced) {
        stalls_ = (consumed == 0 && produced == 0) ? stalls_ + 1 : 0;
        return stalls_ < kMaxStalls;
    }

private:
    int stalls_ = 0;
};

Result<std::vector<std::uint8_t>> gunzip(ByteSpan in, std::size_t max_out, std::size_t hint) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return make_error("gzip: zlib init failed");
    struct End {
        z_stream* s;
        ~End() { inflateEnd(s); }
    } end{&zs};

    Output out(max_out, hint);
    Progress progress;
    std::size_t in_pos = 0;
    for (;;) {
        auto space = out.space();
        const uInt in_len = clamp_to<uInt>(in.size() - in_pos);
        const uInt out_len = clamp_to<uInt>(space.size());
        zs.next_in = in.data() + in_pos;
        zs.avail_in = in_len;
        zs.next_out = space.data();
        zs.avail_out = out_len;
        const int rc = inflate(&zs, Z_NO_FLUSH);
        const std::size_t consumed = in_len - zs.avail_in;
        const std::size_t produced = out_len - zs.avail_out;
        in_pos += consumed;
        out.commit(produced);
        if (out.over_limit()) return too_large(Codec::gzip, max_out);
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return corrupt(Codec::gzip, zs.msg != nullptr ? zs.msg : "inflate failed");
        }
        if (in_pos == in.size() && produced == 0) return truncated(Codec::gzip);
        if (!progress.note(consumed, produced)) return corrupt(Codec::gzip, "decoder stalled");
    }
    return out.take();
}

Result<std::vector<std::uint8_t>> unlzma(Codec codec, ByteSpan in, std::size_t max_out,
                                         std::size_t hint) {
    lzma_stream s = LZMA_STREAM_INIT;
    const lzma_ret init = codec == Codec::xz ? lzma_stream_decoder(&s, kLzmaMemLimit, 0)
                                             : lzma_alone_decoder(&s, kLzmaMemLimit);
    if (init != LZMA_OK)
        return make_error(fmt::format("{}: liblzma init failed", codec_name(codec)));
    struct End {
        lzma_stream* s;
        ~End() { lzma_end(s); }
    } end{&s};

    Output out(max_out, hint);
    Progress progress;
    s.next_in = in.data();
    s.avail_in = in.size();
    for (;;) {
        auto space = out.space();
        const std::size_t avail_in = s.avail_in;
        s.next_out = space.data();
        s.avail_out = space.size();
        const lzma_ret rc = lzma_code(&s, LZMA_FINISH);
        const std::size_t produced = space.size() - s.avail_out;
        out.commit(produced);
        if (out.over_limit()) return too_large(codec, max_out);
        switch (rc) {
            case LZMA_STREAM_END: return out.take();
            case LZMA_OK: break;
            case LZMA_BUF_ERROR:
                if (s.avail_in == 0) return truncated(codec);
                break;
            case LZMA_MEMLIMIT_ERROR:
                return corrupt(codec, fmt::format("dictionary needs more than {}",
                                                  format_size(kLzmaMemLimit)));
            case LZMA_FORMAT_ERROR: return corrupt(codec, "bad header");
            case LZMA_OPTIONS_ERROR: return corrupt(codec, "unsupported options");
            case LZMA_DATA_ERROR: return corrupt(codec, "bad data");
            default: return corrupt(codec, fmt::format("liblzma error {}", static_cast<int>(rc)));
        }
        if (!progress.note(avail_in - s.avail_in, produced)) {
            return s.avail_in == 0 ? truncated(codec) : corrupt(codec, "decoder stalled");
        }
    }
}

Result<std::vector<std::uint8_t>> unlz4_legacy(ByteSpan in, std::size_t max_out, std::size_t hint) {
    // Stream: magic, then blocks of {le32 compressed size, data}, each
    // decoding independently to at most 8 MiB. The magic may repeat
    // (concatenated streams); Linux appends a 4-byte size after the last
    // block, which ends the stream like EOF does.
    const auto magic = read_at<std::uint32_t>(in, 0);
    if (!magic || *magic != kLz4LegacyMagic) return corrupt(Codec::lz4, "not a legacy lz4 stream");

    Output out(max_out, hint);
    std::unique_ptr<std::uint8_t[]> block;  // one 8 MiB block, not zero-filled
    std::uint64_t pos = 4;
    const auto max_csize =
        static_cast<std::uint32_t>(LZ4_compressBound(static_cast<int>(kLz4LegacyBlock)));
    while (pos < in.size()) {
        const std::uint64_t rem = in.size() - pos;
        if (rem == 4) break;  // the appended uncompressed size
        const auto csize = read_at<std::uint32_t>(in, pos);
        if (!csize) return truncated(Codec::lz4);
        if (*csize == kLz4LegacyMagic) {
            pos += 4;
            continue;
        }
        if (*csize == 0 || *csize > max_csize) {
            return corrupt(Codec::lz4, fmt::format("block size {} at offset {:#x}", *csize, pos));
        }
        const auto src = slice(in, pos + 4, *csize);
        if (!src) return truncated(Codec::lz4);
        if (!block) block.reset(new std::uint8_t[kLz4LegacyBlock]);
        const int n = LZ4_decompress_safe(
            reinterpret_cast<const char*>(src->data()), reinterpret_cast<char*>(block.get()),
            static_cast<int>(*csize), static_cast<int>(kLz4LegacyBlock));
        if (n < 0) return corrupt(Codec::lz4, fmt::format("bad block at offset {:#x}", pos));
        std::size_t left = static_cast<std::size_t>(n);
        const std::uint8_t* from = block.get();
        while (left > 0) {
            auto space = out.space();
            if (space.empty()) return too_large(Codec::lz4, max_out);
            const std::size_t take = std::min(left, space.size());
            std::memcpy(space.data(), from, take);
            out.commit(take);
            from += take;
            left -= take;
        }
        if (out.over_limit()) return too_large(Codec::lz4, max_out);
        pos += 4 + *csize;
    }
    return out.take();
}

Result<std::vector<std::uint8_t>> unzstd(ByteSpan in, std::size_t max_out, std::size_t hint) {
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (dctx == nullptr) return make_error("zstd: out of memory");
    struct Free {
        ZSTD_DCtx* d;
        ~Free() { ZSTD_freeDCtx(d); }
    } free_ctx{dctx};
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, kZstdWindowLogMax);

    Output out(max_out, hint);
    Progress progress;
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    for (;;) {
        auto space = out.space();
        ZSTD_outBuffer ob{space.data(), space.size(), 0};
        const std::size_t in_before = ib.pos;
        const std::size_t rc = ZSTD_decompressStream(dctx, &ob, &ib);
        out.commit(ob.pos);
        if (out.over_limit()) return too_large(Codec::zstd, max_out);
        if (ZSTD_isError(rc) != 0) return corrupt(Codec::zstd, ZSTD_getErrorName(rc));
        if (rc == 0) return out.take();  // frame complete and flushed
        if (ib.pos == ib.size && ob.pos == 0) return truncated(Codec::zstd);
        if (!progress.note(ib.pos - in_before, ob.pos)) {
            return corrupt(Codec::zstd, "decoder stalled");
        }
    }
}

Result<std::vector<std::uint8_t>> bunzip2(ByteSpan in, std::size_t max_out, std::size_t hint) {
    bz_stream bs{};
    if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) return make_error("bzip2: init failed");
    struct End {
        bz_stream* s;
        ~End() { BZ2_bzDecompressEnd(s); }
    } end{&bs};

    Output out(max_out, hint);
    Progress progress;
    std::size_t in_pos = 0;
    for (;;) {
        auto space = out.space();
        const auto in_len = clamp_to<unsigned>(in.size() - in_pos);
        const auto out_len = clamp_to<unsigned>(space.size());
        // libbz2 takes a non-const input pointer but never writes through it.
        bs.next_in = const_cast<char*>(reinterpret_cast<const char*>(in.data() + in_pos));
        bs.avail_in = in_len;
        bs.next_out = reinterpret_cast<char*>(space.data());
        bs.avail_out = out_len;
        const int rc = BZ2_bzDecompress(&bs);
        const std::size_t consumed = in_len - bs.avail_in;
        const std::size_t produced = out_len - bs.avail_out;
        in_pos += consumed;
        out.commit(produced);
        if (out.over_limit()) return too_large(Codec::bzip2, max_out);
        if (rc == BZ_STREAM_END) return out.take();
        if (rc != BZ_OK) {
            return corrupt(Codec::bzip2, rc == BZ_DATA_ERROR_MAGIC ? "bad magic"
                                         : rc == BZ_MEM_ERROR      ? "out of memory"
                                                                   : "bad data");
        }
        if (in_pos == in.size() && produced == 0) return truncated(Codec::bzip2);
        if (!progress.note(consumed, produced)) return corrupt(Codec::bzip2, "decoder stalled");
    }
}

bool starts_with(ByteSpan data, std::initializer_list<std::uint8_t> magic) {
    return data.size() >= magic.size() && std::equal(magic.begin(), magic.end(), data.begin());
}

}  // namespace

Codec detect_codec(ByteSpan d) {
    if (starts_with(d, {0x7f, 'E', 'L', 'F'})) return Codec::none;
    if (starts_with(d, {0x1f, 0x8b})) return Codec::gzip;
    if (starts_with(d, {0xfd, '7', 'z', 'X', 'Z', 0x00})) return Codec::xz;
    if (starts_with(d, {0x5d, 0x00, 0x00})) return Codec::lzma;
    if (starts_with(d, {0x02, 0x21, 0x4c, 0x18})) return Codec::lz4;
    if (starts_with(d, {0x28, 0xb5, 0x2f, 0xfd})) return Codec::zstd;
    if (starts_with(d, {'B', 'Z', 'h'})) return Codec::bzip2;
    if (starts_with(d, {0x89, 'L', 'Z', 'O'})) return Codec::lzo;
    return Codec::unknown;
}

std::string_view codec_name(Codec codec) {
    switch (codec) {
        case Codec::none: return "none";
        case Codec::gzip: return "gzip";
        case Codec::xz: return "xz";
        case Codec::lzma: return "lzma";
        case Codec::lz4: return "lz4";
        case Codec::zstd: return "zstd";
        case Codec::bzip2: return "bzip2";
        case Codec::lzo: return "lzo";
        case Codec::unknown: break;
    }
    return "unknown";
}

Result<std::vector<std::uint8_t>> decompress(Codec codec, ByteSpan in, std::size_t max_out,
                                             std::size_t size_hint) {
    // The hint only sizes the first allocation; a hostile one is capped by
    // a generous compression ratio so tiny inputs cannot reserve much.
    constexpr std::size_t kMaxRatio = 64;
    const std::size_t ratio_cap =
        in.size() > SIZE_MAX / kMaxRatio ? SIZE_MAX : in.size() * kMaxRatio;
    const std::size_t hint = size_hint != 0 ? std::min(size_hint, ratio_cap) : in.size() * 4;
    switch (codec) {
        case Codec::gzip: return gunzip(in, max_out, hint);
        case Codec::xz:
        case Codec::lzma: return unlzma(codec, in, max_out, hint);
        case Codec::lz4: return unlz4_legacy(in, max_out, hint);
        case Codec::zstd: return unzstd(in, max_out, hint);
        case Codec::bzip2: return bunzip2(in, max_out, hint);
        case Codec::none:
        case Codec::lzo:
        case Codec::unknown: break;
    }
    return make_error(fmt::format("{} compression is not supported", codec_name(codec)));
}

}  // namespace xenolith::loader
