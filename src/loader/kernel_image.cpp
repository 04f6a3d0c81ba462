#include "loader/kernel_image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/unique_fd.hpp"

#include "loader/bzimage.hpp"
#include "loader/decompress.hpp"
#include "loader/elf_parser.hpp"

namespace xenolith::loader {
namespace {

Result<KernelImage> from_elf(std::vector<std::uint8_t> bytes, std::string container,
                             const ParseLimits& limits) {
    auto info = parse_elf(bytes, limits);
    if (!info) return info.error();
    KernelImage img;
    img.elf = std::move(bytes);
    img.is_64bit = info->is_64bit;
    img.phys32_entry = info->phys32_entry;
    img.segments = std::move(info->segments);
    img.paddr_start = info->paddr_start;
    img.paddr_end = info->paddr_end;
    img.guest_os = std::move(info->guest_os);
    img.hypercall_page = info->hypercall_page;
    const char* elf_class = img.is_64bit ? "ELF64" : "ELF32";
    img.format = container.empty() ? std::string(elf_class) : container;
    return img;
}

// Decompresses `data` (whose codec is `codec`) and parses the ELF inside.
// `what` names the compressed object in messages ("bzImage payload").
Result<KernelImage> from_compressed(ByteSpan data, Codec codec, const std::string& what,
                                    std::string format, const ParseLimits& limits,
                                    std::size_t size_hint = 0) {
    if (codec == Codec::lzo) {
        return make_error(fmt::format("{} uses lzo compression, which is not supported", what));
    }
    if (codec == Codec::unknown) {
        return make_error(fmt::format("{} has unrecognised compression", what));
    }
    auto bytes = decompress(codec, data, limits.max_decompressed, size_hint);
    if (!bytes) return make_error(fmt::format("{}: {}", what, bytes.error().what));
    if (!has_elf_magic(*bytes)) {
        return make_error(fmt::format("decompressed {} is not an ELF image", what));
    }
    return from_elf(std::move(bytes).value(), std::move(format), limits);
}

Result<KernelImage> parse_any(ByteSpan file, const ParseLimits& limits) {
    if (file.empty()) return make_error("file is empty");
    if (has_elf_magic(file)) return from_elf({file.begin(), file.end()}, "", limits);
    if (is_bzimage(file)) {
        auto payload = bzimage_payload(file);
        if (!payload) return payload.error();
        const Codec codec = detect_codec(*payload);
        if (codec == Codec::none) {
            return from_elf({payload->begin(), payload->end()}, "bzImage/none", limits);
        }
        // Linux appends the uncompressed size (+1 leaves room for the
        // decoder's final call, so the buffer never grows).
        const auto appended = read_at<std::uint32_t>(*payload, payload->size() - 4);
        const std::size_t hint = appended ? std::size_t{*appended} + 1 : 0;
        return from_compressed(*payload, codec, "bzImage payload",
                               fmt::format("bzImage/{}", codec_name(codec)), limits, hint);
    }
    const Codec codec = detect_codec(file);
    if (codec == Codec::unknown) {
        return make_error("not an ELF or bzImage kernel");
    }
    auto img = from_compressed(file, codec, fmt::format("{} file", codec_name(codec)), "", limits);
    if (img)
        img->format = fmt::format("{}/{}", codec_name(codec), img->is_64bit ? "ELF64" : "ELF32");
    return img;
}

}  // namespace

Result<std::vector<std::uint8_t>> read_image_file(const std::string& path, const char* what,
                                                  std::uint64_t max_bytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid())
        return make_error(fmt::format("{} '{}': {}", what, path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
        return make_error(fmt::format("{} '{}': not a regular file", what, path));
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
        return make_error(fmt::format("{} '{}': larger than {} MiB", what, path, max_bytes >> 20));
    std::vector<std::uint8_t> data(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < data.size()) {
        const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return make_error(fmt::format("{} '{}': read failed: {}", what, path,
                                          n < 0 ? std::strerror(errno) : "short file"));
        got += static_cast<std::size_t>(n);
    }
    return data;
}

std::span<const std::uint8_t> KernelImage::segment_bytes(const Segment& s) const {
    const auto bytes = slice(elf, s.file_offset, s.filesz);
    return bytes ? *bytes : std::span<const std::uint8_t>{};
}

std::optional<std::uint64_t> KernelImage::vaddr_to_paddr(std::uint64_t vaddr) const {
    for (const Segment& s : segments) {
        if (vaddr >= s.vaddr && vaddr - s.vaddr < s.memsz) return s.paddr + (vaddr - s.vaddr);
    }
    return std::nullopt;
}

std::optional<std::uint64_t> KernelImage::paddr_to_offset(std::uint64_t paddr) const {
    for (const Segment& s : segments) {
        if (paddr >= s.paddr && paddr - s.paddr < s.filesz)
            return s.file_offset + (paddr - s.paddr);
    }
    return std::nullopt;
}

Result<KernelImage> parse_kernel(ByteSpan file, const std::string& name,
                                 const ParseLimits& limits) {
    auto img = parse_any(file, limits);
    if (!img) return make_error(fmt::format("{}: {}", name, img.error().what));
    return img;
}

Result<KernelImage> parse_kernel(ByteSpan file, const std::string& name) {
    return parse_kernel(file, name, ParseLimits{});
}

}  // namespace xenolith::loader
