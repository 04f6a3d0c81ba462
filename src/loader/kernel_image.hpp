// PVH kernel images: parsing (ELF32/ELF64, or a bzImage whose compressed
// payload is the ELF) and the direct-hypercall rewrite Linux needs on hosts
// without KVM's Xen support. Pure functions over bytes; see docs/loader.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace xenolith::loader {

// One PT_LOAD segment. Guest memory [paddr, paddr+memsz) receives
// elf[file_offset, file_offset+filesz) followed by memsz-filesz zero bytes.
struct Segment {
    std::uint64_t paddr;
    std::uint64_t file_offset;
    std::uint64_t filesz;
    std::uint64_t memsz;
    std::uint64_t vaddr = 0;  // link address (maps System.map symbols to paddrs)
    bool executable = false;  // PF_X
};

struct KernelImage {
    // The (decompressed) ELF bytes; segments index into it.
    std::vector<std::uint8_t> elf;
    bool is_64bit = false;
    // XEN_ELFNOTE_PHYS32_ENTRY; always inside a segment's file bytes.
    std::uint32_t phys32_entry = 0;
    // PT_LOAD, paddr-based, validated: in bounds, no overflow, memsz>=filesz,
    // no overlap; program-header order; zero-memsz entries dropped.
    std::vector<Segment> segments;
    // Lowest paddr, highest paddr+memsz.
    std::uint64_t paddr_start = 0, paddr_end = 0;
    // "ELF64", "ELF32", "bzImage/gzip", "bzImage/xz", ..., "gzip/ELF64" (bare).
    std::string format;
    // XEN_ELFNOTE_GUEST_OS if present ("linux", "FreeBSD", ...).
    std::string guest_os;
    // paddrs of the instructions patched by rewrite_direct_hypercalls.
    std::vector<std::uint64_t> rewritten_hypercall_sites;
    // XEN_ELFNOTE_HYPERCALL_PAGE (a vaddr) if present.
    std::optional<std::uint64_t> hypercall_page;

    // The file-backed bytes of `s` (filesz bytes; the caller zero-fills up
    // to memsz). Empty if `s` does not lie inside `elf`.
    std::span<const std::uint8_t> segment_bytes(const Segment& s) const;

    // Link address -> guest physical address through the segment holding it.
    std::optional<std::uint64_t> vaddr_to_paddr(std::uint64_t vaddr) const;

    // Guest physical address -> offset into `elf`, for file-backed bytes only.
    std::optional<std::uint64_t> paddr_to_offset(std::uint64_t paddr) const;
};

// Resource bounds for hostile input.
struct ParseLimits {
    std::size_t max_decompressed = std::size_t{512} << 20;  // bzImage payload after decompression
    std::uint64_t max_image_span = std::uint64_t{1} << 30;  // paddr_end - paddr_start
};

// Parses an ELF32/ELF64 PVH image, a bzImage (x86 boot protocol >= 2.08;
// payload gzip, xz, lzma, lz4 legacy frame, zstd or bzip2 -> the inner ELF,
// as Xen's loader does), or a bare compressed ELF (format "gzip/ELF64"...).
// Every error starts with "<name>: ", e.g.
// "<name>: not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note".
// Reads a kernel or ramdisk named by a (hostile) config. Only a regular file
// is read: a FIFO, device or socket would block the builder or never end, so
// the file is opened without blocking (O_NONBLOCK, which a regular file
// ignores) and its type checked before a byte is read. Symlinks are followed,
// as /boot/vmlinuz usually is one. `what` ("kernel", "ramdisk") and the path
// start every message; no message shows the file's contents.
Result<std::vector<std::uint8_t>> read_image_file(const std::string& path, const char* what,
                                                  std::uint64_t max_bytes);

Result<KernelImage> parse_kernel(ByteSpan file, const std::string& name);
Result<KernelImage> parse_kernel(ByteSpan file, const std::string& name, const ParseLimits& limits);

// True for Linux images that call the hypervisor with VMCALL/VMMCALL from
// xen_hypercall_intel/xen_hypercall_amd: GUEST_OS "linux" and no
// XEN_ELFNOTE_HYPERCALL_PAGE note (the note was dropped by the XSA-466 fix
// that introduced those functions).
bool needs_direct_hypercall_rewrite(const KernelImage& image);

// Finds Linux's xen_hypercall_amd (VMMCALL 0f 01 d9) and xen_hypercall_intel
// (VMCALL 0f 01 c1) in executable segments: each a 16-byte aligned function
// ([endbr64] insn; then c3, or `jmp __x86_return_thunk` e9 rel32 into
// executable code), the two at most 128 bytes apart, and exactly one such
// pair. Rewrites only the two 3-byte instructions into
// `out %eax,$kHypercallPort; nop` (e7 5a 90) and records their paddrs.
// Returns the number of sites rewritten: 2, or 0 for images that do not need
// it (see needs_direct_hypercall_rewrite) or were already rewritten. Images
// that need it but where the pair is missing or ambiguous get an error
// naming the file, and are left unchanged.
Result<std::size_t> rewrite_direct_hypercalls(KernelImage& image, const std::string& name);

}  // namespace xenolith::loader
