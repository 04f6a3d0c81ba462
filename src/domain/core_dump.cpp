#include "domain/core_dump.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/procfs.h>
#include <sys/user.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "base/unique_fd.hpp"
#include "domain/domain.hpp"
#include "domain/vcpu.hpp"
#include "kvm/kvm_vcpu.hpp"

namespace xenolith::domain {
namespace {

constexpr std::uint64_t kDataAlign = 4096;

struct Load {
    std::uint64_t gpa;
    std::uint64_t memsz;
    std::uint64_t filesz;
    const std::uint8_t* bytes;
    std::uint64_t offset = 0;
};

void append_note(std::vector<std::uint8_t>& out, const char* name, std::uint32_t type,
                 const void* desc, std::size_t desc_size) {
    auto pad4 = [&] { out.resize((out.size() + 3) & ~std::size_t{3}, 0); };
    Elf64_Nhdr h{};
    h.n_namesz = static_cast<Elf64_Word>(std::strlen(name) + 1);
    h.n_descsz = static_cast<Elf64_Word>(desc_size);
    h.n_type = type;
    const auto* hp = reinterpret_cast<const std::uint8_t*>(&h);
    out.insert(out.end(), hp, hp + sizeof h);
    out.insert(out.end(), name, name + h.n_namesz);
    pad4();
    const auto* dp = static_cast<const std::uint8_t*>(desc);
    out.insert(out.end(), dp, dp + desc_size);
    pad4();
}

user_regs_struct to_user_regs(const CoreVcpu& v) {
    const kvm_regs& r = v.regs;
    const kvm_sregs& s = v.sregs;
    user_regs_struct u{};
    u.r15 = r.r15; u.r14 = r.r14; u.r13 = r.r13; u.r12 = r.r12;
    u.rbp = r.rbp; u.rbx = r.rbx; u.r11 = r.r11; u.r10 = r.r10;
    u.r9 = r.r9; u.r8 = r.r8; u.rax = r.rax; u.rcx = r.rcx;
    u.rdx = r.rdx; u.rsi = r.rsi; u.rdi = r.rdi;
    u.orig_rax = ~0ull;  // not in a system call: gdb must not "restart" one
    u.rip = r.rip;
    u.eflags = r.rflags;
    u.rsp = r.rsp;
    u.cs = s.cs.selector; u.ss = s.ss.selector; u.ds = s.ds.selector;
    u.es = s.es.selector; u.fs = s.fs.selector; u.gs = s.gs.selector;
    u.fs_base = s.fs.base; u.gs_base = s.gs.base;
    return u;
}

std::vector<std::uint8_t> build_notes(const CoreImage& image) {
    std::vector<std::uint8_t> notes;
    elf_prpsinfo ps{};
    ps.pr_state = 0;
    ps.pr_sname = 'R';
    ps.pr_pid = static_cast<int>(image.domid);
    std::snprintf(ps.pr_fname, sizeof ps.pr_fname, "%s", image.domain_name.c_str());
    std::snprintf(ps.pr_psargs, sizeof ps.pr_psargs, "xenolith domain %u (%s)", image.domid,
                  image.domain_name.c_str());
    append_note(notes, "CORE", NT_PRPSINFO, &ps, sizeof ps);
    const std::string producer = fmt::format(
        "xenolith core of domain {} ({}), Xen 4.17 guest ABI on KVM, {} vCPU(s)", image.domid,
        image.domain_name, image.vcpus.size());
    append_note(notes, kCoreNoteName, kCoreNoteProducer, producer.c_str(), producer.size() + 1);
    for (const CoreVcpu& v : image.vcpus) {
        elf_prstatus st{};
        st.pr_pid = static_cast<int>(v.id + 1);  // gdb's thread ids; 0 would mean "none"
        st.pr_ppid = static_cast<int>(image.domid);
        const user_regs_struct u = to_user_regs(v);
        static_assert(sizeof u == sizeof st.pr_reg);
        std::memcpy(&st.pr_reg, &u, sizeof u);
        append_note(notes, "CORE", NT_PRSTATUS, &st, sizeof st);
        CoreVcpuControl c{};
        c.vcpu = v.id;
        c.cr0 = v.sregs.cr0; c.cr2 = v.sregs.cr2; c.cr3 = v.sregs.cr3;
        c.cr4 = v.sregs.cr4; c.efer = v.sregs.efer; c.apic_base = v.sregs.apic_base;
        append_note(notes, kCoreNoteName, kCoreNoteVcpuControl, &c, sizeof c);
    }
    return notes;
}

// A stretch with bytes starts a load; a following stretch without bytes
// that continues it only extends p_memsz (ELF reads the rest as zeros).
std::vector<Load> plan_loads(const std::vector<CoreMemory>& memory) {
    std::vector<Load> loads;
    for (const CoreMemory& m : memory) {
        if (!m.size) continue;
        if (!m.bytes && !loads.empty() && loads.back().gpa + loads.back().memsz == m.gpa) {
            loads.back().memsz += m.size;
            continue;
        }
        loads.push_back({m.gpa, m.size, m.bytes ? m.size : 0, m.bytes});
    }
    return loads;
}

Status write_all(int fd, const void* data, std::size_t size) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (size) {
        const ssize_t n = ::write(fd, p, std::min<std::size_t>(size, 1u << 30));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return make_error(n < 0 ? std::strerror(errno) : "short write");
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return ok_status();
}

Status write_zeros(int fd, std::size_t size) {
    static const std::uint8_t zeros[kDataAlign] = {};
    while (size) {
        const std::size_t n = std::min(size, sizeof zeros);
        if (auto st = write_all(fd, zeros, n); !st) return st;
        size -= n;
    }
    return ok_status();
}

}  // namespace

Status write_core(int fd, const CoreImage& image) {
    const std::vector<std::uint8_t> notes = build_notes(image);
    std::vector<Load> loads = plan_loads(image.memory);
    const std::size_t nphdr = loads.size() + 1;
    // More program headers than e_phnum holds: PN_XNUM, the real count in
    // section header 0's sh_info (as Linux's own core dumps do).
    const bool xnum = nphdr >= PN_XNUM;
    const std::uint64_t phoff = sizeof(Elf64_Ehdr);
    const std::uint64_t shoff = phoff + nphdr * sizeof(Elf64_Phdr);
    const std::uint64_t notes_off = shoff + (xnum ? sizeof(Elf64_Shdr) : 0);
    std::uint64_t offset = (notes_off + notes.size() + kDataAlign - 1) & ~(kDataAlign - 1);
    for (Load& l : loads) {
        l.offset = offset;
        offset += l.filesz;
    }

    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
    eh.e_type = ET_CORE;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = phoff;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<Elf64_Half>(xnum ? PN_XNUM : nphdr);
    if (xnum) {
        eh.e_shoff = shoff;
        eh.e_shentsize = sizeof(Elf64_Shdr);
        eh.e_shnum = 1;
    }

    std::vector<std::uint8_t> head(notes_off);
    std::memcpy(head.data(), &eh, sizeof eh);
    Elf64_Phdr note{};
    note.p_type = PT_NOTE;
    note.p_offset = notes_off;
    note.p_filesz = notes.size();
    note.p_align = 4;
    std::memcpy(head.data() + phoff, &note, sizeof note);
    for (std::size_t i = 0; i < loads.size(); ++i) {
        Elf64_Phdr ph{};
        ph.p_type = PT_LOAD;
        ph.p_flags = PF_R | PF_W | PF_X;
        ph.p_offset = loads[i].offset;
        ph.p_vaddr = loads[i].gpa;
        ph.p_paddr = loads[i].gpa;
        ph.p_filesz = loads[i].filesz;
        ph.p_memsz = loads[i].memsz;
        ph.p_align = kDataAlign;
        std::memcpy(head.data() + phoff + (i + 1) * sizeof ph, &ph, sizeof ph);
    }
    if (xnum) {
        Elf64_Shdr sh{};
        sh.sh_info = static_cast<Elf64_Word>(nphdr);
        std::memcpy(head.data() + shoff, &sh, sizeof sh);
    }
    if (auto st = write_all(fd, head.data(), head.size()); !st) return st;
    if (auto st = write_all(fd, notes.data(), notes.size()); !st) return st;
    std::uint64_t at = notes_off + notes.size();
    for (const Load& l : loads) {
        if (!l.filesz) continue;
        if (auto st = write_zeros(fd, l.offset - at); !st) return st;
        if (auto st = write_all(fd, l.bytes, l.filesz); !st) return st;
        at = l.offset + l.filesz;
    }
    // Loads without file bytes may sit past the last written byte.
    if (at < offset) return write_zeros(fd, offset - at);
    return ok_status();
}

std::vector<CoreMemory> core_memory(const GuestMemory& mem) {
    std::vector<CoreMemory> out;
    const int memfd = mem.memfd();
    std::vector<MemoryRegion> regions(mem.regions().begin(), mem.regions().end());
    std::sort(regions.begin(), regions.end(),
              [](const MemoryRegion& a, const MemoryRegion& b) { return a.gpa < b.gpa; });
    for (const MemoryRegion& r : regions) {
        const std::uint8_t* host = mem.region_host(r);
        const auto begin = static_cast<off_t>(r.memfd_offset);
        const auto end = static_cast<off_t>(r.memfd_offset + r.size);
        off_t pos = begin;
        while (pos < end) {
            // SEEK_DATA/SEEK_HOLE on the memfd: which pages hold anything.
            off_t data = ::lseek(memfd, pos, SEEK_DATA);
            if (data < 0 || data > end) data = end;  // ENXIO: no data after pos
            if (data > pos)
                out.push_back({r.gpa + static_cast<std::uint64_t>(pos - begin),
                               static_cast<std::uint64_t>(data - pos), nullptr});
            if (data >= end) break;
            off_t hole = ::lseek(memfd, data, SEEK_HOLE);
            if (hole < 0 || hole > end) hole = end;
            out.push_back({r.gpa + static_cast<std::uint64_t>(data - begin),
                           static_cast<std::uint64_t>(hole - data),
                           host + (data - begin)});
            pos = hole;
        }
    }
    return out;
}

Result<UniqueFd> create_core_file(const std::string& path, int* err) {
    auto open_error = [&](int e) {
        if (err) *err = e;
        return make_error(fmt::format("Could not open corefile {} ({} = {})", path, e,
                                      std::strerror(e)));
    };
    // O_NONBLOCK: an existing FIFO or device at the path must not hold the
    // request; only a regular file is written (and only then truncated).
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600));
    if (!fd.valid()) return open_error(errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return open_error(errno);
    if (!S_ISREG(st.st_mode)) return open_error(EINVAL);
    if (::ftruncate(fd.get(), 0) < 0) return open_error(errno);
    if (const int fl = ::fcntl(fd.get(), F_GETFL); fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

Status dump_domain_core(Domain& d, int fd) {
    CoreImage image;
    image.domain_name = d.name();
    image.domid = d.domid();
    d.pause();
    Status st = ok_status();
    for (unsigned i = 0; i < d.nr_vcpus() && st; ++i) {
        Vcpu& v = d.vcpu(i);
        if (!v.initialised()) continue;  // no context yet: Xen skips these too
        CoreVcpu c;
        c.id = i;
        st = v.run_parked([&](kvm::Vcpu& k) -> Status {
            if (auto s = k.get_regs(c.regs); !s) return s;
            return k.get_sregs(c.sregs);
        });
        if (st) image.vcpus.push_back(c);
    }
    if (st) {
        // Memory changes (balloon, hole pages) take the memory lock.
        std::lock_guard lock(d.memory_lock());
        image.memory = core_memory(d.memory());
        st = write_core(fd, image);
    }
    d.unpause();
    return st;
}

Status dump_domain_core(Domain& d, const std::string& path) {
    auto file = create_core_file(path, nullptr);
    if (!file) return file.error();
    Status st = dump_domain_core(d, file->get());
    if (!st) {
        file->reset();
        ::unlink(path.c_str());
    }
    return st;
}

}  // namespace xenolith::domain
