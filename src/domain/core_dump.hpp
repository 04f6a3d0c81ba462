// Guest core files (`xl dump-core`, on_crash="coredump-*"): an ELF64
// ET_CORE file that gdb reads directly. One PT_LOAD per stretch of guest
// physical memory (physical address as both p_paddr and p_vaddr, since the
// small guests run identity-mapped; stretches the memfd never backed, such
// as ballooned-out or never-touched pages, have no file bytes and read as
// zeros), an NT_PRSTATUS note per vCPU, an NT_PRPSINFO note naming the
// domain, and "XENOLITH" notes: one identifying the producer and domain,
// one per vCPU with its control registers (for page walks).
//
// Xen's own dump format (xc_domain_dumpcore: .xen_pages, .xen_p2m, ...)
// is for Xen's crash tools; this one is the gdb-readable subset that a
// KVM-based hypervisor can produce. See ARCHITECTURE.md.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith {
class GuestMemory;
}

namespace xenolith::domain {

class Domain;

// A stretch of guest-physical memory. `bytes` null: it reads as zeros and
// takes no room in the file.
struct CoreMemory {
    std::uint64_t gpa = 0;
    std::uint64_t size = 0;
    const std::uint8_t* bytes = nullptr;
};

struct CoreVcpu {
    unsigned id = 0;
    kvm_regs regs{};
    kvm_sregs sregs{};
};

// Everything a core file holds, independent of where it came from.
struct CoreImage {
    std::string domain_name;
    unsigned domid = 0;
    std::vector<CoreMemory> memory;  // ascending, non-overlapping
    std::vector<CoreVcpu> vcpus;
};

// The "XENOLITH" note types.
inline constexpr std::uint32_t kCoreNoteProducer = 0x584c0001;  // text
inline constexpr std::uint32_t kCoreNoteVcpuControl = 0x584c0002;  // CoreVcpuControl
inline constexpr char kCoreNoteName[] = "XENOLITH";

// kCoreNoteVcpuControl's descriptor.
struct CoreVcpuControl {
    std::uint32_t vcpu;
    std::uint32_t pad;
    std::uint64_t cr0, cr2, cr3, cr4, efer, apic_base;
};

// Writes `image` as an ELF64 core to `fd` (from its current offset, which
// must be 0). Fails on a short or failed write, naming the errno.
Status write_core(int fd, const CoreImage& image);

// Guest memory as its memfd backs it, by guest-physical address: extents
// holding data carry bytes, holes (never touched, ballooned out) do not.
// The domain must be paused or shut down, with its memory lock held.
std::vector<CoreMemory> core_memory(const GuestMemory& mem);

// Creates (or truncates) a core file as Xen's xc_domain_dumpcore does:
// mode 0600. Returns the fd or the open(2) errno.
Result<UniqueFd> create_core_file(const std::string& path, int* err);

// `xl dump-core`: pauses the domain, captures every initialised vCPU's
// registers on its own thread, writes the core to `fd`, unpauses. The
// caller removes the file if this fails.
Status dump_domain_core(Domain& d, int fd);

// Both, for the on_* actions: the partial file is removed on failure.
Status dump_domain_core(Domain& d, const std::string& path);

}  // namespace xenolith::domain
