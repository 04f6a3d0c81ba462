#include "image_builder.hpp"

#include <elf.h>

#include <algorithm>
#include <stdexcept>

#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <xen/elfnote.h>

namespace xenolith::loader::testing {
namespace {

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
    return (v + a - 1) / a * a;
}

void append(Bytes& out, const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}

template <class T>
void append_value(Bytes& out, T v) {
    append(out, &v, sizeof v);
}

void pad_to(Bytes& out, std::uint64_t size, std::uint8_t fill = 0) {
    if (out.size() < size) out.resize(size, fill);
}

struct Layout {
    std::uint64_t phoff = 0;
    std::uint64_t note_off = 0;
    std::vector<std::uint64_t> data_off;
    std::uint64_t shoff = 0;
};

}  // namespace

ElfBuilder& ElfBuilder::segment(SegmentSpec s) {
    segments_.push_back(std::move(s));
    return *this;
}

ElfBuilder& ElfBuilder::note(std::uint32_t t, Bytes desc, std::string owner) {
    notes_.push_back(NoteSpec{std::move(owner), t, std::move(desc)});
    return *this;
}

ElfBuilder& ElfBuilder::note_u32(std::uint32_t t, std::uint32_t v) {
    Bytes d;
    append_value(d, v);
    return note(t, d);
}

ElfBuilder& ElfBuilder::note_u64(std::uint32_t t, std::uint64_t v) {
    Bytes d;
    append_value(d, v);
    return note(t, d);
}

ElfBuilder& ElfBuilder::note_string(std::uint32_t t, const std::string& s) {
    Bytes d(s.begin(), s.end());
    d.push_back(0);
    return note(t, d);
}

std::size_t ElfBuilder::phnum() const {
    const bool note_phdr = placement_ == NotePlacement::program_header && !notes_.empty();
    return segments_.size() + (note_phdr ? 1 : 0);
}

Bytes ElfBuilder::note_blob() const {
    Bytes blob;
    for (const NoteSpec& n : notes_) {
        append_value(blob, static_cast<std::uint32_t>(n.owner.size() + 1));
        append_value(blob, static_cast<std::uint32_t>(n.desc.size()));
        append_value(blob, n.type);
        append(blob, n.owner.c_str(), n.owner.size() + 1);
        pad_to(blob, align_up(blob.size(), note_align_));
        append(blob, n.desc.data(), n.desc.size());
        pad_to(blob, align_up(blob.size(), note_align_));
    }
    return blob;
}

namespace {

Layout compute_layout(bool is_64bit, std::size_t phnum, std::size_t note_size,
                      const std::vector<SegmentSpec>& segs) {
    Layout l;
    const std::uint64_t ehsz = is_64bit ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    const std::uint64_t phsz = is_64bit ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    l.phoff = ehsz;
    std::uint64_t off = align_up(ehsz + phnum * phsz, 8);
    l.note_off = off;
    off += note_size;
    for (const SegmentSpec& s : segs) {
        off = align_up(off, 16);
        l.data_off.push_back(off);
        off += s.data.size();
    }
    l.shoff = align_up(off, 8);
    return l;
}

}  // namespace

std::uint64_t ElfBuilder::data_offset(std::size_t i) const {
    return compute_layout(is_64bit_, phnum(), note_blob().size(), segments_).data_off.at(i);
}

std::uint64_t ElfBuilder::phdr_offset(std::size_t i) const {
    const std::uint64_t phsz = is_64bit_ ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    return compute_layout(is_64bit_, phnum(), 0, segments_).phoff + i * phsz;
}

Bytes ElfBuilder::build() const {
    const Bytes notes = placement_ == NotePlacement::none ? Bytes{} : note_blob();
    const Layout l = compute_layout(is_64bit_, phnum(), notes.size(), segments_);
    const bool sections = placement_ == NotePlacement::section_only && !notes.empty();
    const std::uint16_t machine = machine_ != 0 ? machine_ : (is_64bit_ ? EM_X86_64 : EM_386);

    Bytes out;
    auto ident = [&](unsigned char* e) {
        std::memcpy(e, ELFMAG, SELFMAG);
        e[EI_CLASS] = is_64bit_ ? ELFCLASS64 : ELFCLASS32;
        e[EI_DATA] = ELFDATA2LSB;
        e[EI_VERSION] = EV_CURRENT;
    };
    auto flags_of = [](const SegmentSpec& s) { return s.flags != 0 ? s.flags : PF_R | PF_X; };
    auto memsz_of = [](const SegmentSpec& s) { return s.memsz != 0 ? s.memsz : s.data.size(); };

    if (is_64bit_) {
        Elf64_Ehdr eh{};
        ident(eh.e_ident);
        eh.e_type = type_;
        eh.e_machine = machine;
        eh.e_version = EV_CURRENT;
        eh.e_phoff = l.phoff;
        eh.e_ehsize = sizeof eh;
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = static_cast<std::uint16_t>(phnum());
        if (sections) {
            eh.e_shoff = l.shoff;
            eh.e_shentsize = sizeof(Elf64_Shdr);
            eh.e_shnum = 2;
        }
        append_value(out, eh);
        for (std::size_t i = 0; i < segments_.size(); ++i) {
            const SegmentSpec& s = segments_[i];
            Elf64_Phdr ph{};
            ph.p_type = s.type;
            ph.p_flags = flags_of(s);
            ph.p_offset = l.data_off[i];
            ph.p_vaddr = s.vaddr;
            ph.p_paddr = s.paddr;
            ph.p_filesz = s.data.size();
            ph.p_memsz = memsz_of(s);
            ph.p_align = 16;
            append_value(out, ph);
        }
        if (phnum() > segments_.size()) {
            Elf64_Phdr ph{};
            ph.p_type = PT_NOTE;
            ph.p_offset = l.note_off;
            ph.p_filesz = notes.size();
            ph.p_align = note_align_;
            append_value(out, ph);
        }
    } else {
        Elf32_Ehdr eh{};
        ident(eh.e_ident);
        eh.e_type = type_;
        eh.e_machine = machine;
        eh.e_version = EV_CURRENT;
        eh.e_phoff = static_cast<std::uint32_t>(l.phoff);
        eh.e_ehsize = sizeof eh;
        eh.e_phentsize = sizeof(Elf32_Phdr);
        eh.e_phnum = static_cast<std::uint16_t>(phnum());
        if (sections) {
            eh.e_shoff = static_cast<std::uint32_t>(l.shoff);
            eh.e_shentsize = sizeof(Elf32_Shdr);
            eh.e_shnum = 2;
        }
        append_value(out, eh);
        for (std::size_t i = 0; i < segments_.size(); ++i) {
            const SegmentSpec& s = segments_[i];
            Elf32_Phdr ph{};
            ph.p_type = s.type;
            ph.p_flags = flags_of(s);
            ph.p_offset = static_cast<std::uint32_t>(l.data_off[i]);
            ph.p_vaddr = static_cast<std::uint32_t>(s.vaddr);
            ph.p_paddr = static_cast<std::uint32_t>(s.paddr);
            ph.p_filesz = static_cast<std::uint32_t>(s.data.size());
            ph.p_memsz = static_cast<std::uint32_t>(memsz_of(s));
            ph.p_align = 16;
            append_value(out, ph);
        }
        if (phnum() > segments_.size()) {
            Elf32_Phdr ph{};
            ph.p_type = PT_NOTE;
            ph.p_offset = static_cast<std::uint32_t>(l.note_off);
            ph.p_filesz = static_cast<std::uint32_t>(notes.size());
            ph.p_align = note_align_;
            append_value(out, ph);
        }
    }
    pad_to(out, l.note_off);
    append(out, notes.data(), notes.size());
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        pad_to(out, l.data_off[i]);
        append(out, segments_[i].data.data(), segments_[i].data.size());
    }
    if (sections) {
        pad_to(out, l.shoff);
        if (is_64bit_) {
            append_value(out, Elf64_Shdr{});
            Elf64_Shdr sh{};
            sh.sh_type = SHT_NOTE;
            sh.sh_offset = l.note_off;
            sh.sh_size = notes.size();
            sh.sh_addralign = note_align_;
            append_value(out, sh);
        } else {
            append_value(out, Elf32_Shdr{});
            Elf32_Shdr sh{};
            sh.sh_type = SHT_NOTE;
            sh.sh_offset = static_cast<std::uint32_t>(l.note_off);
            sh.sh_size = static_cast<std::uint32_t>(notes.size());
            sh.sh_addralign = note_align_;
            append_value(out, sh);
        }
    }
    return out;
}

ElfBuilder pvh_kernel(bool is_64bit, const std::string& guest_os) {
    ElfBuilder b(is_64bit);
    Bytes text(0x80, 0x90);
    text.back() = 0xc3;
    b.segment(
        {.paddr = 0x100000, .vaddr = 0x100000, .data = text, .memsz = 0, .flags = PF_R | PF_X});
    b.segment({.paddr = 0x200000,
               .vaddr = 0x200000,
               .data = Bytes(0x40, 0xab),
               .memsz = 0x1000,
               .flags = PF_R | PF_W});
    b.note_u32(XEN_ELFNOTE_PHYS32_ENTRY, 0x100000);
    if (!guest_os.empty()) b.note_string(XEN_ELFNOTE_GUEST_OS, guest_os);
    return b;
}

Bytes linux_text(RetStyle style, bool ibt) {
    Bytes t(LinuxText::kSize, 0xcc);
    auto put_bytes = [&](std::uint64_t at, std::initializer_list<std::uint8_t> bytes) {
        std::copy(bytes.begin(), bytes.end(), t.begin() + static_cast<std::ptrdiff_t>(at));
    };
    auto put_ret = [&](std::uint64_t at, RetStyle how) {
        switch (how) {
            case RetStyle::ret: put_bytes(at, {0xc3}); break;
            case RetStyle::ret_int3: put_bytes(at, {0xc3, 0xcc}); break;
            case RetStyle::return_thunk: {
                put_bytes(at, {0xe9});
                put(t, at + 1, static_cast<std::int32_t>(LinuxText::kThunk - (at + 5)));
                break;
            }
        }
    };
    put_bytes(0x23, {0x0f, 0x01, 0xc1, 0xc3});              // unaligned VMCALL; RET
    put_bytes(0x30, {0x0f, 0x01, 0xc1, 0x48, 0x85, 0xc0});  // aligned VMCALL; test %rax,%rax
    if (ibt) {
        for (const std::uint64_t fn : {LinuxText::kIbtAmd, LinuxText::kIbtIntel}) {
            std::fill_n(t.begin() + static_cast<std::ptrdiff_t>(fn - 16), 16, 0x90);
            put_bytes(fn, {0xf3, 0x0f, 0x1e, 0xfa});
        }
    }
    put_bytes(LinuxText::amd_site(ibt), {0x0f, 0x01, 0xd9});
    put_ret(LinuxText::amd_site(ibt) + 3, style);
    put_bytes(LinuxText::intel_site(ibt), {0x0f, 0x01, 0xc1});
    put_ret(LinuxText::intel_site(ibt) + 3, style);
    // Aligned VMMCALL; jmp into the data segment (not executable).
    put_bytes(0x60, {0x0f, 0x01, 0xd9, 0xe9});
    put(t, 0x64, static_cast<std::int32_t>(0x100000 - 0x68));
    // Aligned VMCALL; jmp far outside the image.
    put_bytes(0x70, {0x0f, 0x01, 0xc1, 0xe9});
    put(t, 0x74, std::int32_t{0x7fff0000});
    put_bytes(LinuxText::kThunk, {0xc3, 0xcc});
    put_bytes(LinuxText::kLoneAmd, {0x0f, 0x01, 0xd9});
    put_ret(LinuxText::kLoneAmd + 3, RetStyle::return_thunk);
    return t;
}

Bytes linux_elf(bool is_64bit, RetStyle style, bool hypercall_page_note, bool ibt) {
    const std::uint64_t vbase = is_64bit ? 0xffffffff80000000ull : 0xc0000000ull;
    ElfBuilder b(is_64bit);
    b.segment({.paddr = 0x1000000,
               .vaddr = vbase + 0x1000000,
               .data = linux_text(style, ibt),
               .memsz = 0,
               .flags = PF_R | PF_X});
    b.segment({.paddr = 0x1100000,
               .vaddr = vbase + 0x1100000,
               .data = Bytes(0x100, 0x5a),
               .memsz = 0x2000,
               .flags = PF_R | PF_W});
    b.note_string(XEN_ELFNOTE_GUEST_OS, "linux");
    b.note_string(XEN_ELFNOTE_GUEST_VERSION, "2.6");
    b.note_string(XEN_ELFNOTE_XEN_VERSION, "xen-3.0");
    if (hypercall_page_note) b.note_u64(XEN_ELFNOTE_HYPERCALL_PAGE, vbase + 0x1000000);
    b.note_u64(XEN_ELFNOTE_PHYS32_ENTRY, 0x1000000 + LinuxText::kThunk);
    return b.build();
}

Bytes gzip_compress(const Bytes& in) {
    z_stream zs{};
    if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2");
    }
    Bytes out(deflateBound(&zs, static_cast<uLong>(in.size())));
    zs.next_in = const_cast<Bytef*>(in.data());
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
    out.resize(zs.total_out);
    return out;
}

Bytes xz_compress(const Bytes& in) {
    Bytes out(lzma_stream_buffer_bound(in.size()));
    std::size_t pos = 0;
    if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(), out.data(),
                                &pos, out.size()) != LZMA_OK) {
        throw std::runtime_error("lzma_easy_buffer_encode");
    }
    out.resize(pos);
    return out;
}

Bytes lzma_compress(const Bytes& in) {
    lzma_options_lzma opt{};
    lzma_lzma_preset(&opt, 6);
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_alone_encoder(&s, &opt) != LZMA_OK) throw std::runtime_error("lzma_alone_encoder");
    Bytes out(in.size() + in.size() / 2 + 4096);
    s.next_in = in.data();
    s.avail_in = in.size();
    s.next_out = out.data();
    s.avail_out = out.size();
    const lzma_ret rc = lzma_code(&s, LZMA_FINISH);
    out.resize(s.total_out);
    lzma_end(&s);
    if (rc != LZMA_STREAM_END) throw std::runtime_error("lzma_code");
    return out;
}

Bytes lz4_legacy_compress(const Bytes& in) {
    constexpr std::size_t kBlock = 8u << 20;
    Bytes out;
    append_value(out, std::uint32_t{0x184C2102});
    for (std::size_t pos = 0; pos < in.size(); pos += kBlock) {
        const auto n = static_cast<int>(std::min(kBlock, in.size() - pos));
        Bytes block(static_cast<std::size_t>(LZ4_compressBound(n)));
        const int c = LZ4_compress_default(reinterpret_cast<const char*>(in.data() + pos),
                                           reinterpret_cast<char*>(block.data()), n,
                                           static_cast<int>(block.size()));
        if (c <= 0) throw std::runtime_error("LZ4_compress_default");
        append_value(out, static_cast<std::uint32_t>(c));
        append(out, block.data(), static_cast<std::size_t>(c));
    }
    return out;
}

Bytes zstd_compress(const Bytes& in) {
    Bytes out(ZSTD_compressBound(in.size()));
    const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 19);
    if (ZSTD_isError(n) != 0) throw std::runtime_error("ZSTD_compress");
    out.resize(n);
    return out;
}

Bytes bzip2_compress(const Bytes& in) {
    auto cap = static_cast<unsigned>(in.size() + in.size() / 100 + 600);
    Bytes out(cap);
    if (BZ2_bzBuffToBuffCompress(reinterpret_cast<char*>(out.data()), &cap,
                                 const_cast<char*>(reinterpret_cast<const char*>(in.data())),
                                 static_cast<unsigned>(in.size()), 9, 0, 0) != BZ_OK) {
        throw std::runtime_error("BZ2_bzBuffToBuffCompress");
    }
    out.resize(cap);
    return out;
}

Bytes make_bzimage(const Bytes& payload, const BzImageSpec& spec) {
    // Boot protocol offsets (Documentation/arch/x86/boot.rst).
    constexpr std::size_t kPayloadOffset = 0x100;  // after a fake decompressor stub
    const std::size_t setup = (std::size_t{spec.setup_sects} + 1) * 512;
    Bytes out(setup + kPayloadOffset, 0);
    out[0x1f1] = spec.setup_sects;
    put(out, 0x1fe, spec.boot_flag);
    std::memcpy(out.data() + 0x202, "HdrS", 4);
    put(out, 0x206, spec.version);
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(setup), out.end(), 0x90);
    put(out, 0x248, static_cast<std::uint32_t>(kPayloadOffset));
    const std::size_t len = payload.size() + (spec.append_size ? 4 : 0);
    put(out, 0x24c, static_cast<std::uint32_t>(len));
    append(out, payload.data(), payload.size());
    if (spec.append_size) append_value(out, spec.uncompressed_size);
    out.resize(out.size() + 64, 0xee);  // the rest of the kernel image
    return out;
}

}  // namespace xenolith::loader::testing
