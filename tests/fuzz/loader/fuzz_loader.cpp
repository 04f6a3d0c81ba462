// libFuzzer entry for the kernel loader: any bytes go through parse_kernel
// and, when they parse, through rewrite_direct_hypercalls. Besides memory
// safety (ASan/UBSan) it checks the loader's promises: errors name the file,
// segments lie inside the ELF and the image span, and a rewrite changes
// exactly 3 bytes per recorded site (or nothing when it fails).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "loader/kernel_image.hpp"

namespace {

using xenolith::loader::KernelImage;

void check(bool ok) {
    if (!ok) std::abort();
}

void check_image(const KernelImage& img) {
    check(!img.segments.empty());
    check(img.paddr_start < img.paddr_end);
    bool entry_loaded = false;
    for (const auto& s : img.segments) {
        check(s.filesz <= s.memsz);
        check(img.segment_bytes(s).size() == s.filesz);
        check(s.paddr >= img.paddr_start && s.paddr + s.memsz <= img.paddr_end);
        entry_loaded |= img.phys32_entry >= s.paddr && img.phys32_entry - s.paddr < s.filesz;
    }
    check(entry_loaded);
}

void check_rewrite(const KernelImage& before, KernelImage& img) {
    auto n = xenolith::loader::rewrite_direct_hypercalls(img, "fuzz");
    if (!n) {
        check(n.error().what.rfind("fuzz: ", 0) == 0);
        check(img.elf == before.elf);
        check(img.rewritten_hypercall_sites.empty());
        return;
    }
    check(*n == img.rewritten_hypercall_sites.size());
    std::size_t changed = 0;
    for (std::size_t i = 0; i < img.elf.size(); ++i) changed += img.elf[i] != before.elf[i];
    check(changed <= 3 * *n);
    for (const std::uint64_t paddr : img.rewritten_hypercall_sites) {
        const auto off = img.paddr_to_offset(paddr);
        check(off.has_value());
        check(img.elf[*off] == 0xe7 && img.elf[*off + 2] == 0x90);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    xenolith::loader::ParseLimits limits;
    limits.max_decompressed = std::size_t{64} << 20;  // keeps bombs quick under ASan
    auto img = xenolith::loader::parse_kernel({data, size}, "fuzz", limits);
    if (!img) {
        check(img.error().what.rfind("fuzz: ", 0) == 0);
        return 0;
    }
    check_image(*img);
    KernelImage patched = *img;
    check_rewrite(*img, patched);
    return 0;
}
