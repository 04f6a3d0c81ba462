// The ELF core writer against a fake guest: memory stretches and vCPU
// registers in, an ET_CORE file out, read back with <elf.h>.
#include "domain/core_dump.hpp"
#include "memory/guest_memory.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/user.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace xenolith::domain {
namespace {

struct Note {
    std::string name;
    std::uint32_t type;
    std::vector<std::uint8_t> desc;
};

// Writes `image` into a memfd and returns the whole file.
std::vector<std::uint8_t> written(const CoreImage& image) {
    const int fd = memfd_create("core-test", MFD_CLOEXEC);
    EXPECT_GE(fd, 0);
    auto st = write_core(fd, image);
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().what);
    const off_t size = lseek(fd, 0, SEEK_END);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(size));
    EXPECT_EQ(pread(fd, out.data(), out.size(), 0), size);
    close(fd);
    return out;
}

template <class T>
T at(const std::vector<std::uint8_t>& f, std::uint64_t off) {
    T v{};
    EXPECT_LE(off + sizeof v, f.size());
    if (off + sizeof v <= f.size()) std::memcpy(&v, f.data() + off, sizeof v);
    return v;
}

std::vector<Elf64_Phdr> phdrs(const std::vector<std::uint8_t>& f) {
    const auto eh = at<Elf64_Ehdr>(f, 0);
    std::size_t n = eh.e_phnum;
    if (n == PN_XNUM) n = at<Elf64_Shdr>(f, eh.e_shoff).sh_info;
    std::vector<Elf64_Phdr> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(at<Elf64_Phdr>(f, eh.e_phoff + i * sizeof(Elf64_Phdr)));
    return out;
}

std::vector<Note> notes(const std::vector<std::uint8_t>& f, const Elf64_Phdr& ph) {
    std::vector<Note> out;
    std::uint64_t off = ph.p_offset;
    const std::uint64_t end = ph.p_offset + ph.p_filesz;
    auto up4 = [](std::uint64_t v) { return (v + 3) & ~std::uint64_t{3}; };
    while (off + sizeof(Elf64_Nhdr) <= end) {
        const auto h = at<Elf64_Nhdr>(f, off);
        off += sizeof h;
        Note n;
        n.name.assign(reinterpret_cast<const char*>(f.data() + off), h.n_namesz ? h.n_namesz - 1 : 0);
        off = up4(off + h.n_namesz);
        n.type = h.n_type;
        n.desc.assign(f.begin() + static_cast<std::ptrdiff_t>(off),
                      f.begin() + static_cast<std::ptrdiff_t>(off + h.n_descsz));
        off = up4(off + h.n_descsz);
        out.push_back(std::move(n));
    }
    EXPECT_EQ(off, end);
    return out;
}

CoreVcpu vcpu(unsigned id, std::uint64_t rip) {
    CoreVcpu v;
    v.id = id;
    v.regs.rip = rip;
    v.regs.rsp = 0x2000 + id;
    v.regs.rax = 0xaaaa0000 + id;
    v.regs.r15 = 0xf15;
    v.regs.rflags = 0x2;
    v.sregs.cs.selector = 0x10;
    v.sregs.ss.selector = 0x18;
    v.sregs.cr0 = 0x80000011;
    v.sregs.cr3 = 0x104000 + id * 0x1000;
    v.sregs.cr4 = 0x20;
    v.sregs.efer = 0x500;
    return v;
}

TEST(CoreDump, HeaderLoadsAndBytes) {
    std::vector<std::uint8_t> low(0x3000, 0x11), high(0x1000, 0x22);
    std::memcpy(low.data() + 0x1234, "marker", 7);
    CoreImage image;
    image.domain_name = "guest";
    image.domid = 7;
    image.memory = {{0x0, low.size(), low.data()},
                    {0x3000, 0x5000, nullptr},  // a hole right after: extends the load
                    {0x100000, high.size(), high.data()},
                    {0x200000, 0x2000, nullptr}};  // not contiguous with a load: its own
    image.vcpus = {vcpu(0, 0x101000)};
    const auto f = written(image);

    const auto eh = at<Elf64_Ehdr>(f, 0);
    EXPECT_EQ(std::memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
    EXPECT_EQ(eh.e_ident[EI_CLASS], ELFCLASS64);
    EXPECT_EQ(eh.e_ident[EI_DATA], ELFDATA2LSB);
    EXPECT_EQ(eh.e_type, ET_CORE);
    EXPECT_EQ(eh.e_machine, EM_X86_64);
    EXPECT_EQ(eh.e_phentsize, sizeof(Elf64_Phdr));

    const auto ph = phdrs(f);
    ASSERT_EQ(ph.size(), 4u);  // note + three loads
    EXPECT_EQ(ph[0].p_type, PT_NOTE);
    struct Want { std::uint64_t gpa, memsz, filesz; };
    const Want want[] = {{0x0, 0x8000, 0x3000}, {0x100000, 0x1000, 0x1000}, {0x200000, 0x2000, 0}};
    for (std::size_t i = 0; i < 3; ++i) {
        const Elf64_Phdr& l = ph[i + 1];
        EXPECT_EQ(l.p_type, PT_LOAD);
        EXPECT_EQ(l.p_paddr, want[i].gpa);
        EXPECT_EQ(l.p_vaddr, want[i].gpa) << "identity: vaddr = paddr";
        EXPECT_EQ(l.p_memsz, want[i].memsz);
        EXPECT_EQ(l.p_filesz, want[i].filesz);
        EXPECT_LE(l.p_offset + l.p_filesz, f.size());
    }
    EXPECT_EQ(ph[1].p_offset % 4096, 0u);
    EXPECT_EQ(std::memcmp(f.data() + ph[1].p_offset, low.data(), low.size()), 0);
    EXPECT_STREQ(reinterpret_cast<const char*>(f.data() + ph[1].p_offset + 0x1234), "marker");
    EXPECT_EQ(std::memcmp(f.data() + ph[2].p_offset, high.data(), high.size()), 0);
    // Holes take no room: the file is headers + notes + 16 KiB of data.
    EXPECT_LT(f.size(), 0x1000u + 0x3000u + 0x1000u + 0x1000u);
}

TEST(CoreDump, NotesCarryRegistersAndIdentity) {
    std::vector<std::uint8_t> ram(0x1000, 0);
    CoreImage image;
    image.domain_name = "two-vcpus";
    image.domid = 3;
    image.memory = {{0x100000, ram.size(), ram.data()}};
    image.vcpus = {vcpu(0, 0x100123), vcpu(1, 0x100456)};
    const auto f = written(image);
    const auto ns = notes(f, phdrs(f)[0]);
    ASSERT_EQ(ns.size(), 2u + 2u * 2u);

    EXPECT_EQ(ns[0].name, "CORE");
    EXPECT_EQ(ns[0].type, static_cast<std::uint32_t>(NT_PRPSINFO));
    ASSERT_EQ(ns[0].desc.size(), sizeof(elf_prpsinfo));
    elf_prpsinfo ps;
    std::memcpy(&ps, ns[0].desc.data(), sizeof ps);
    EXPECT_STREQ(ps.pr_fname, "two-vcpus");

    EXPECT_EQ(ns[1].name, kCoreNoteName);
    EXPECT_EQ(ns[1].type, kCoreNoteProducer);
    const std::string producer(reinterpret_cast<const char*>(ns[1].desc.data()));
    EXPECT_NE(producer.find("xenolith"), std::string::npos);
    EXPECT_NE(producer.find("two-vcpus"), std::string::npos);

    for (unsigned i = 0; i < 2; ++i) {
        const Note& st = ns[2 + 2 * i];
        EXPECT_EQ(st.name, "CORE");
        EXPECT_EQ(st.type, static_cast<std::uint32_t>(NT_PRSTATUS));
        ASSERT_EQ(st.desc.size(), sizeof(elf_prstatus));
        elf_prstatus pr;
        std::memcpy(&pr, st.desc.data(), sizeof pr);
        EXPECT_EQ(pr.pr_pid, static_cast<int>(i + 1));
        user_regs_struct u;
        std::memcpy(&u, &pr.pr_reg, sizeof u);
        EXPECT_EQ(u.rip, i ? 0x100456u : 0x100123u);
        EXPECT_EQ(u.rsp, 0x2000u + i);
        EXPECT_EQ(u.rax, 0xaaaa0000u + i);
        EXPECT_EQ(u.r15, 0xf15u);
        EXPECT_EQ(u.cs, 0x10u);
        EXPECT_EQ(u.ss, 0x18u);
        EXPECT_EQ(u.orig_rax, ~0ull);

        const Note& ctl = ns[3 + 2 * i];
        EXPECT_EQ(ctl.name, kCoreNoteName);
        EXPECT_EQ(ctl.type, kCoreNoteVcpuControl);
        ASSERT_EQ(ctl.desc.size(), sizeof(CoreVcpuControl));
        CoreVcpuControl c;
        std::memcpy(&c, ctl.desc.data(), sizeof c);
        EXPECT_EQ(c.vcpu, i);
        EXPECT_EQ(c.cr3, 0x104000u + i * 0x1000);
        EXPECT_EQ(c.efer, 0x500u);
    }
}

TEST(CoreDump, LeadingHoleIsALoadWithoutBytes) {
    std::vector<std::uint8_t> page(0x1000, 0x5a);
    CoreImage image;
    image.domain_name = "d";
    image.memory = {{0x0, 0x2000, nullptr}, {0x2000, page.size(), page.data()}};
    const auto f = written(image);
    const auto ph = phdrs(f);
    ASSERT_EQ(ph.size(), 3u);
    EXPECT_EQ(ph[1].p_filesz, 0u);
    EXPECT_EQ(ph[1].p_memsz, 0x2000u);
    EXPECT_EQ(ph[2].p_paddr, 0x2000u);
    EXPECT_EQ(f[ph[2].p_offset], 0x5a);
}

// More loads than e_phnum can count: PN_XNUM and the count in section 0.
TEST(CoreDump, ManyLoadsUsePnXnum) {
    constexpr std::size_t kLoads = 70000;
    std::vector<std::uint8_t> bytes(kLoads);
    CoreImage image;
    image.domain_name = "fragmented";
    for (std::size_t i = 0; i < kLoads; ++i) {
        bytes[i] = static_cast<std::uint8_t>(i);
        image.memory.push_back({i * 2, 1, &bytes[i]});  // gaps: nothing merges
    }
    const auto f = written(image);
    const auto eh = at<Elf64_Ehdr>(f, 0);
    EXPECT_EQ(eh.e_phnum, PN_XNUM);
    EXPECT_EQ(eh.e_shnum, 1);
    const auto ph = phdrs(f);
    ASSERT_EQ(ph.size(), kLoads + 1);
    EXPECT_EQ(ph.back().p_paddr, (kLoads - 1) * 2);
    EXPECT_EQ(f[ph.back().p_offset], static_cast<std::uint8_t>(kLoads - 1));
}

TEST(CoreDump, WriteErrorIsReported) {
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    CoreImage image;
    image.domain_name = "d";
    auto st = write_core(fd, image);
    close(fd);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("Bad file descriptor"), std::string::npos) << st.error().what;
}

TEST(CoreDump, CreateCoreFileIsPrivateAndReportsErrno) {
    char dir[] = "/tmp/core-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/core";
    int err = 0;
    auto file = create_core_file(path, &err);
    ASSERT_TRUE(file.ok());
    struct stat sb {};
    ASSERT_EQ(stat(path.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 0777, 0600u);
    auto missing = create_core_file(std::string(dir) + "/no/such/core", &err);
    EXPECT_FALSE(missing.ok());
    EXPECT_EQ(err, ENOENT);
    EXPECT_NE(missing.error().what.find("Could not open corefile"), std::string::npos);
    unlink(path.c_str());
    rmdir(dir);
}

// Real guest memory: only what the memfd backs has bytes; a ballooned-out
// page becomes a hole again.
TEST(CoreDump, MemoryFollowsTheMemfdExtents) {
    auto mem = GuestMemory::create(4u << 20, "core-test");
    ASSERT_TRUE(mem.ok());
    std::uint8_t* page = (*mem)->host_ptr(0x5000, 4096);
    ASSERT_NE(page, nullptr);
    std::memcpy(page, "touched", 8);
    ASSERT_NE((*mem)->host_ptr(0x9000, 4096), nullptr);
    (*mem)->host_ptr(0x9000, 4096)[0] = 1;
    ASSERT_TRUE((*mem)->remove_page(0x9));  // ballooned out: a hole again

    const auto stretches = core_memory(**mem);
    std::uint64_t with_bytes = 0, covered = 0;
    bool saw_touched = false;
    for (const CoreMemory& m : stretches) {
        covered += m.size;
        if (!m.bytes) continue;
        with_bytes += m.size;
        if (m.gpa <= 0x5000 && 0x5000 < m.gpa + m.size) {
            saw_touched = true;
            EXPECT_STREQ(reinterpret_cast<const char*>(m.bytes + (0x5000 - m.gpa)), "touched");
        }
        EXPECT_FALSE(m.gpa <= 0x9000 && 0x9000 < m.gpa + m.size) << "ballooned page has bytes";
    }
    EXPECT_TRUE(saw_touched);
    EXPECT_EQ(with_bytes, 4096u) << "only the touched page is backed";
    std::uint64_t regions = 0;
    for (const MemoryRegion& r : (*mem)->regions()) regions += r.size;
    EXPECT_EQ(covered, regions) << "every region is described, holes included";
    for (std::size_t i = 1; i < stretches.size(); ++i)
        EXPECT_LT(stretches[i - 1].gpa, stretches[i].gpa);
}

}  // namespace
}  // namespace xenolith::domain
