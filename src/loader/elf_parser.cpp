#include "loader/elf_parser.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include <fmt/format.h>
#include <xen/elfnote.h>

#include "loader/size_format.hpp"

namespace xenolith::loader {
namespace {

template <class E, class P, class S>
struct ElfClass {
    using Ehdr = E;
    using Phdr = P;
    using Shdr = S;
};
using Elf32 = ElfClass<Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr>;
using Elf64 = ElfClass<Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr>;

constexpr std::size_t kMaxGuestOsLen = 64;
// Linux carries ~20 notes. The bound keeps hostile images (thousands of
// PT_NOTE headers pointing at one region) from costing quadratic time.
constexpr std::size_t kMaxNotes = 4096;
constexpr std::uint64_t k4GiB = std::uint64_t{1} << 32;

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
    return (v + a - 1) / a * a;
}

// Xen notes carry numbers as 1, 2, 4 or 8 little-endian bytes.
std::optional<std::uint64_t> note_number(ByteSpan desc) {
    switch (desc.size()) {
        case 1: return desc[0];
        case 2: return read_at<std::uint16_t>(desc, 0);
        case 4: return read_at<std::uint32_t>(desc, 0);
        case 8: return read_at<std::uint64_t>(desc, 0);
        default: return std::nullopt;
    }
}

struct Notes {
    std::size_t seen = 0;  // all notes walked, Xen or not
    bool any_xen = false;
    std::optional<std::uint64_t> phys32;
    std::optional<std::string> guest_os;
    std::optional<std::uint64_t> hypercall_page;
};

bool is_xen_owner(ByteSpan name) {
    // namesz counts the terminating NUL; tolerate its absence.
    if (name.size() != 3 && name.size() != 4) return false;
    if (name.size() == 4 && name[3] != 0) return false;
    return std::memcmp(name.data(), "Xen", 3) == 0;
}

Status take_xen_note(std::uint32_t type, ByteSpan desc, Notes& notes) {
    notes.any_xen = true;
    switch (type) {
        case XEN_ELFNOTE_PHYS32_ENTRY: {
            if (notes.phys32) break;  // first one wins
            const auto v = note_number(desc);
            if (!v) {
                return make_error(
                    fmt::format("XEN_ELFNOTE_PHYS32_ENTRY has a {}-byte descriptor", desc.size()));
            }
            if (*v >= k4GiB) {
                return make_error(
                    fmt::format("XEN_ELFNOTE_PHYS32_ENTRY {:#x} does not fit in 32 bits", *v));
            }
            notes.phys32 = *v;
            break;
        }
        case XEN_ELFNOTE_GUEST_OS: {
            if (notes.guest_os) break;
            const auto n = std::min<std::size_t>(desc.size(), kMaxGuestOsLen);
            const auto* s = reinterpret_cast<const char*>(desc.data());
            notes.guest_os = std::string(s, strnlen(s, n));
            break;
        }
        case XEN_ELFNOTE_HYPERCALL_PAGE: {
            if (notes.hypercall_page) break;
            const auto v = note_number(desc);
            if (!v) {
                return make_error(fmt::format("XEN_ELFNOTE_HYPERCALL_PAGE has a {}-byte descriptor",
                                              desc.size()));
            }
            notes.hypercall_page = *v;
            break;
        }
        default: break;
    }
    return ok_status();
}

// Walks the notes in `region` (file offset `base`, note alignment `align`;
// the region itself starts aligned, as the ELF spec requires).
Status parse_note_region(ByteSpan region, std::uint64_t base, std::uint64_t align, Notes& notes) {
    constexpr std::uint64_t kHeader = 12;  // namesz, descsz, type
    std::uint64_t pos = 0;
    while (region.size() - pos >= kHeader) {
        const auto namesz = *read_at<std::uint32_t>(region, pos);
        const auto descsz = *read_at<std::uint32_t>(region, pos + 4);
        const auto type = *read_at<std::uint32_t>(region, pos + 8);
        const std::uint64_t name_off = pos + kHeader;
        const std::uint64_t desc_off = align_up(name_off + namesz, align);
        const auto name = slice(region, name_off, namesz);
        const auto desc = slice(region, desc_off, descsz);
        if (!name || !desc) {
            return make_error(fmt::format("truncated ELF note at file offset {:#x}", base + pos));
        }
        if (++notes.seen > kMaxNotes) {
            return make_error(fmt::format("ELF has more than {} notes", kMaxNotes));
        }
        if (is_xen_owner(*name)) {
            if (auto st = take_xen_note(type, *desc, notes); !st) return st;
        }
        pos = align_up(desc_off + descsz, align);
        if (pos >= region.size()) break;
    }
    return ok_status();
}

std::uint64_t note_align(std::uint64_t a) {
    return a == 8 ? 8 : 4;
}

template <class C>
Status parse_program_notes(ByteSpan elf, const std::vector<typename C::Phdr>& phdrs, Notes& notes) {
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
        const auto& ph = phdrs[i];
        if (ph.p_type != PT_NOTE) continue;
        const auto region = slice(elf, ph.p_offset, ph.p_filesz);
        if (!region) {
            return make_error(fmt::format(
                "PT_NOTE segment {}: file bytes [{:#x}, +{:#x}) run past the end of the file "
                "({:#x} bytes)",
                i, std::uint64_t{ph.p_offset}, std::uint64_t{ph.p_filesz}, elf.size()));
        }
        if (auto st = parse_note_region(*region, ph.p_offset, note_align(ph.p_align), notes); !st) {
            return st;
        }
    }
    return ok_status();
}

// Fallback used by Xen too: SHT_NOTE sections when no PT_NOTE carries Xen
// notes. Section headers are optional for loading, so a malformed table is
// ignored rather than fatal.
template <class C>
Status parse_section_notes(ByteSpan elf, const typename C::Ehdr& eh, Notes& notes) {
    using Shdr = typename C::Shdr;
    if (eh.e_shoff == 0 || eh.e_shnum == 0 || eh.e_shnum >= SHN_LORESERVE) return ok_status();
    if (eh.e_shentsize != sizeof(Shdr)) return ok_status();
    if (!slice(elf, eh.e_shoff, std::uint64_t{eh.e_shnum} * sizeof(Shdr))) return ok_status();
    for (std::size_t i = 0; i < eh.e_shnum; ++i) {
        const auto sh = *read_at<Shdr>(elf, eh.e_shoff + i * sizeof(Shdr));
        if (sh.sh_type != SHT_NOTE) continue;
        const auto region = slice(elf, sh.sh_offset, sh.sh_size);
        if (!region) continue;
        if (auto st = parse_note_region(*region, sh.sh_offset, note_align(sh.sh_addralign), notes);
            !st) {
            return st;
        }
    }
    return ok_status();
}

Status check_overlaps(const std::vector<Segment>& segs, const std::vector<std::size_t>& index) {
    std::vector<std::size_t> order(segs.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return segs[a].paddr < segs[b].paddr; });
    for (std::size_t k = 1; k < order.size(); ++k) {
        const Segment& lo = segs[order[k - 1]];
        const Segment& hi = segs[order[k]];
        if (lo.paddr + lo.memsz > hi.paddr) {
            const auto a = std::min(index[order[k - 1]], index[order[k]]);
            const auto b = std::max(index[order[k - 1]], index[order[k]]);
            return make_error(
                fmt::format("PT_LOAD segments {} and {} overlap in guest memory at paddr {:#x}", a,
                            b, hi.paddr));
        }
    }
    return ok_status();
}

template <class C>
Result<Segment> load_segment(ByteSpan elf, const typename C::Phdr& ph, std::size_t i,
                             bool is_64bit) {
    const Segment s{.paddr = ph.p_paddr,
                    .file_offset = ph.p_offset,
                    .filesz = ph.p_filesz,
                    .memsz = ph.p_memsz,
                    .vaddr = ph.p_vaddr,
                    .executable = (ph.p_flags & PF_X) != 0};
    if (s.filesz > s.memsz) {
        return make_error(fmt::format("PT_LOAD segment {}: filesz {:#x} exceeds memsz {:#x}", i,
                                      s.filesz, s.memsz));
    }
    if (!slice(elf, s.file_offset, s.filesz)) {
        return make_error(fmt::format(
            "PT_LOAD segment {}: file bytes [{:#x}, +{:#x}) run past the end of the file "
            "({:#x} bytes)",
            i, s.file_offset, s.filesz, elf.size()));
    }
    if (s.memsz > UINT64_MAX - s.paddr) {
        return make_error(fmt::format("PT_LOAD segment {}: paddr {:#x} + memsz {:#x} overflows", i,
                                      s.paddr, s.memsz));
    }
    if (!is_64bit && s.paddr + s.memsz > k4GiB) {
        return make_error(fmt::format(
            "PT_LOAD segment {}: paddr {:#x} + memsz {:#x} ends above 4 GiB", i, s.paddr, s.memsz));
    }
    return s;
}

template <class C>
Result<ElfInfo> parse_class(ByteSpan elf, bool is_64bit, const ParseLimits& limits) {
    using Phdr = typename C::Phdr;
    const auto eh = read_at<typename C::Ehdr>(elf, 0);
    if (!eh) return make_error(fmt::format("truncated ELF header ({} bytes)", elf.size()));
    if (eh->e_type != ET_EXEC) {
        return make_error(fmt::format("ELF type {} is not ET_EXEC", eh->e_type));
    }
    if (eh->e_machine != EM_X86_64 && eh->e_machine != EM_386) {
        return make_error(fmt::format("ELF machine {} is not x86", eh->e_machine));
    }
    if (eh->e_phnum == 0) return make_error("ELF has no program headers");
    if (eh->e_phnum == PN_XNUM) {
        return make_error("extended ELF program header numbering is not supported");
    }
    if (eh->e_phentsize != sizeof(Phdr)) {
        return make_error(
            fmt::format("ELF e_phentsize {} is not {}", eh->e_phentsize, sizeof(Phdr)));
    }
    if (!slice(elf, eh->e_phoff, std::uint64_t{eh->e_phnum} * sizeof(Phdr))) {
        return make_error(fmt::format(
            "ELF program headers ({} at offset {:#x}) run past the end of the file ({:#x} bytes)",
            eh->e_phnum, std::uint64_t{eh->e_phoff}, elf.size()));
    }

    std::vector<Phdr> phdrs(eh->e_phnum);
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
        phdrs[i] = *read_at<Phdr>(elf, eh->e_phoff + i * sizeof(Phdr));
    }

    ElfInfo info;
    info.is_64bit = is_64bit;
    std::vector<std::size_t> index;  // program header number of each segment
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
        if (phdrs[i].p_type != PT_LOAD || phdrs[i].p_memsz == 0) continue;
        auto seg = load_segment<C>(elf, phdrs[i], i, is_64bit);
        if (!seg) return seg.error();
        info.segments.push_back(*seg);
        index.push_back(i);
    }
    if (info.segments.empty()) return make_error("ELF has no PT_LOAD segments");
    if (auto st = check_overlaps(info.segments, index); !st) return st.error();

    info.paddr_start = UINT64_MAX;
    for (const Segment& s : info.segments) {
        info.paddr_start = std::min(info.paddr_start, s.paddr);
        info.paddr_end = std::max(info.paddr_end, s.paddr + s.memsz);
    }
    if (info.paddr_end - info.paddr_start > limits.max_image_span) {
        return make_error(
            fmt::format("image spans {:#x} bytes of guest memory [{:#x}, {:#x}) (limit {})",
                        info.paddr_end - info.paddr_start, info.paddr_start, info.paddr_end,
                        format_size(limits.max_image_span)));
    }

    Notes notes;
    if (auto st = parse_program_notes<C>(elf, phdrs, notes); !st) return st.error();
    if (!notes.any_xen) {
        if (auto st = parse_section_notes<C>(elf, *eh, notes); !st) return st.error();
    }
    if (!notes.phys32) return make_error("not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
    const std::uint64_t entry = *notes.phys32;
    const bool entry_loaded = std::any_of(
        info.segments.begin(), info.segments.end(),
        [&](const Segment& s) { return entry >= s.paddr && entry - s.paddr < s.filesz; });
    if (!entry_loaded) {
        return make_error(fmt::format(
            "XEN_ELFNOTE_PHYS32_ENTRY {:#x} is not inside the file bytes of a PT_LOAD segment",
            entry));
    }
    info.phys32_entry = static_cast<std::uint32_t>(entry);
    info.guest_os = notes.guest_os.value_or("");
    info.hypercall_page = notes.hypercall_page;
    return info;
}

}  // namespace

Result<ElfInfo> parse_elf(ByteSpan elf, const ParseLimits& limits) {
    if (!has_elf_magic(elf)) return make_error("not an ELF image");
    if (elf.size() < EI_NIDENT) {
        return make_error(fmt::format("truncated ELF header ({} bytes)", elf.size()));
    }
    if (elf[EI_DATA] != ELFDATA2LSB) {
        return make_error(fmt::format("ELF data encoding {} is not little-endian", elf[EI_DATA]));
    }
    if (elf[EI_VERSION] != EV_CURRENT) {
        return make_error(fmt::format("ELF version {} is not supported", elf[EI_VERSION]));
    }
    switch (elf[EI_CLASS]) {
        case ELFCLASS32: return parse_class<Elf32>(elf, false, limits);
        case ELFCLASS64: return parse_class<Elf64>(elf, true, limits);
        default: return make_error(fmt::format("ELF class {} is not supported", elf[EI_CLASS]));
    }
}

}  // namespace xenolith::loader
