// Builders for synthetic kernel images: ELF32/ELF64 PVH images with Xen
// notes, the payload codecs Linux uses, and a bzImage wrapper.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace xenolith::loader::testing {

using Bytes = std::vector<std::uint8_t>;

struct SegmentSpec {
    std::uint64_t paddr = 0;
    std::uint64_t vaddr = 0;
    Bytes data;               // file bytes (filesz = data.size())
    std::uint64_t memsz = 0;  // 0: same as data.size()
    std::uint32_t flags = 0;  // PF_* (default PF_R|PF_X when 0)
    std::uint32_t type = 1;   // PT_LOAD
};

struct NoteSpec {
    std::string owner;  // "Xen"
    std::uint32_t type = 0;
    Bytes desc;
};

enum class NotePlacement { program_header, section_only, none };

class ElfBuilder {
public:
    explicit ElfBuilder(bool is_64bit) : is_64bit_(is_64bit) {}

    ElfBuilder& segment(SegmentSpec s);
    ElfBuilder& note(std::uint32_t type, Bytes desc, std::string owner = "Xen");
    ElfBuilder& note_u32(std::uint32_t type, std::uint32_t v);
    ElfBuilder& note_u64(std::uint32_t type, std::uint64_t v);
    ElfBuilder& note_string(std::uint32_t type, const std::string& s);
    ElfBuilder& machine(std::uint16_t m) {
        machine_ = m;
        return *this;
    }
    ElfBuilder& type(std::uint16_t t) {
        type_ = t;
        return *this;
    }
    ElfBuilder& note_placement(NotePlacement p) {
        placement_ = p;
        return *this;
    }
    ElfBuilder& note_align(std::uint32_t a) {
        note_align_ = a;
        return *this;
    }

    // Program headers come first (PT_LOADs in the order given, then
    // PT_NOTE), then the note blob, then each segment's data 16-aligned.
    Bytes build() const;

    // File offset of segment i's data in the built image.
    std::uint64_t data_offset(std::size_t i) const;
    // File offset of program header i.
    std::uint64_t phdr_offset(std::size_t i) const;

private:
    Bytes note_blob() const;
    std::size_t phnum() const;

    bool is_64bit_;
    std::uint16_t machine_ = 0;  // 0: EM_X86_64 or EM_386 by class
    std::uint16_t type_ = 2;     // ET_EXEC
    NotePlacement placement_ = NotePlacement::program_header;
    std::uint32_t note_align_ = 4;
    std::vector<SegmentSpec> segments_;
    std::vector<NoteSpec> notes_;
};

// A minimal PVH kernel: text at 1 MiB (entry at its start), data after it,
// PHYS32_ENTRY and, when non-empty, GUEST_OS.
ElfBuilder pvh_kernel(bool is_64bit, const std::string& guest_os = "");

// Layout of linux_text(): offsets inside the text segment.
struct LinuxText {
    static constexpr std::uint64_t kAmd = 0x40;    // xen_hypercall_amd (VMMCALL)
    static constexpr std::uint64_t kIntel = 0x50;  // xen_hypercall_intel (VMCALL)
    // With IBT (Debian 6.12): 16 bytes of padding, then endbr64 + insn.
    static constexpr std::uint64_t kIbtAmd = 0xc0;    // function start; VMMCALL at +4
    static constexpr std::uint64_t kIbtIntel = 0xe0;  // function start; VMCALL at +4
    static constexpr std::uint64_t kThunk = 0x100;    // __x86_return_thunk
    static constexpr std::uint64_t kLoneAmd = 0x180;  // aligned VMMCALL; jmp thunk, unpaired
    static constexpr std::uint64_t kSize = 0x200;

    static std::uint64_t amd_site(bool ibt) { return ibt ? kIbtAmd + 4 : kAmd; }
    static std::uint64_t intel_site(bool ibt) { return ibt ? kIbtIntel + 4 : kIntel; }
};

enum class RetStyle { ret, ret_int3, return_thunk };

// Text bytes like Linux's: the two hypercall functions (each followed by its
// return) plus decoys a careless scanner would match (unaligned VMCALL;RET,
// aligned VMCALL not followed by a return, VMMCALL;jmp into data, and an
// aligned VMMCALL;jmp thunk far from any VMCALL, like the packed
// .altinstr_replacement entries in real kernels).
Bytes linux_text(RetStyle style, bool ibt = false);

// A Linux-like PVH ELF: linux_text() at paddr 16 MiB (vaddr
// 0xffffffff81000000) plus a data segment; GUEST_OS "linux"; optionally the
// pre-XSA-466 HYPERCALL_PAGE note.
Bytes linux_elf(bool is_64bit, RetStyle style, bool hypercall_page_note = false, bool ibt = false);

// Payload codecs.
Bytes gzip_compress(const Bytes& in);
Bytes xz_compress(const Bytes& in);
Bytes lzma_compress(const Bytes& in);        // legacy .lzma ("alone") with end marker
Bytes lz4_legacy_compress(const Bytes& in);  // `lz4 -l` framing, 8 MiB blocks
Bytes zstd_compress(const Bytes& in);
Bytes bzip2_compress(const Bytes& in);

struct BzImageSpec {
    std::uint16_t version = 0x020f;
    std::uint8_t setup_sects = 7;
    std::uint16_t boot_flag = 0xAA55;
    bool append_size = true;  // Linux appends the uncompressed size
    std::uint32_t uncompressed_size = 0;
};

// A bzImage whose payload is `payload` (+ the appended size, counted in
// payload_length, as Linux does).
Bytes make_bzimage(const Bytes& payload, const BzImageSpec& spec = {});
// Offset of setup_header field `off` (relative to 0x1f1) in make_bzimage output.
inline constexpr std::size_t kSetupHeader = 0x1f1;

template <class T>
T get(const Bytes& b, std::size_t off) {
    T v;
    std::memcpy(&v, b.data() + off, sizeof(T));
    return v;
}
template <class T>
void put(Bytes& b, std::size_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof(T));
}

}  // namespace xenolith::loader::testing
