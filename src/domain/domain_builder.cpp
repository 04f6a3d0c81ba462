#include <cstdint>
#include "domain/domain_builder.hpp"

#include <algorithm>

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

extern "C" {
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/hvm/params.h>
}

#include "arch/x86/acpi_tables.hpp"
#include "arch/x86/cpuid_xen.hpp"
#include "arch/x86/pvh_layout.hpp"
#include "arch/x86/start_info.hpp"
#include "base/log.hpp"
#include "console/console_backend.hpp"
#include "domain/vcpu.hpp"
#include "hypercall/transport.hpp"
#include "kvm/kvm_system.hpp"
#include "kvm/kvm_vcpu.hpp"
#include "kvm/kvm_vm.hpp"
#include "loader/kernel_image.hpp"

namespace xenolith::domain {
namespace {

constexpr std::uint64_t kMaxImageBytes = 1ull << 30;
constexpr std::uint32_t kLapicSvr = 0xf0;

Result<std::vector<std::uint8_t>> read_file(const std::string& path, const char* what) {
    return loader::read_image_file(path, what, kMaxImageBytes);
}

// Copies `bytes` to guest-physical `gpa`, which must be backed RAM.
Status place(GuestMemory& mem, std::uint64_t gpa, std::span<const std::uint8_t> bytes,
             const std::string& what) {
    if (bytes.empty()) return ok_status();
    std::uint8_t* dst = mem.initial_ram_ptr(gpa, bytes.size());
    if (!dst)
        return make_error(fmt::format(
            "{}: {:#x}-{:#x} does not fit in the guest's memory ({} MiB)", what, gpa,
            gpa + bytes.size(), mem.ram_bytes() >> 20));
    std::memcpy(dst, bytes.data(), bytes.size());
    return ok_status();
}

Status load_kernel(GuestMemory& mem, const loader::KernelImage& img, const std::string& path) {
    for (const auto& seg : img.segments) {
        if (seg.paddr < x86::kPvhHighRamStart)
            return make_error(fmt::format("kernel '{}': segment at {:#x} overlaps the area below "
                                          "1 MiB reserved for boot information",
                                          path, seg.paddr));
        if (!mem.initial_ram_ptr(seg.paddr, seg.memsz))
            return make_error(fmt::format(
                "kernel '{}': segment {:#x}-{:#x} does not fit in the guest's memory ({} MiB)",
                path, seg.paddr, seg.paddr + seg.memsz, mem.ram_bytes() >> 20));
        if (auto st = place(mem, seg.paddr, img.segment_bytes(seg), "kernel '" + path + "'"); !st)
            return st;
    }
    return ok_status();
}

std::vector<kvm_cpuid_entry2> cpuid_for(const kvm::System& sys, domid_t domid, unsigned vcpu) {
    std::vector<x86::CpuidEntry> supported;
    for (const auto& e : sys.supported_cpuid())
        supported.push_back({e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx});
    x86::XenCpuidConfig cfg;
    cfg.domid = domid;
    cfg.vcpu_id = vcpu;
    std::vector<kvm_cpuid_entry2> out;
    for (const auto& e : x86::guest_cpuid(supported, cfg)) {
        kvm_cpuid_entry2 k{};
        k.function = e.function;
        k.index = e.index;
        k.flags = e.flags;
        k.eax = e.eax;
        k.ebx = e.ebx;
        k.ecx = e.ecx;
        k.edx = e.edx;
        out.push_back(k);
    }
    return out;
}

// Software-enables the LAPIC (spurious vector 0xff): Xen delivers event
// callbacks to guests that never program their APIC, and KVM drops fixed
// interrupts to a software-disabled one.
Status enable_lapic(kvm::Vcpu& v) {
    kvm_lapic_state lapic{};
    if (ioctl(v.fd(), KVM_GET_LAPIC, &lapic) < 0)
        return make_error(fmt::format("KVM_GET_LAPIC: {}", std::strerror(errno)));
    const std::uint32_t svr = 0x1ff;
    std::memcpy(&lapic.regs[kLapicSvr], &svr, sizeof svr);
    if (ioctl(v.fd(), KVM_SET_LAPIC, &lapic) < 0)
        return make_error(fmt::format("KVM_SET_LAPIC: {}", std::strerror(errno)));
    return ok_status();
}

// The entry state of docs/misc/pvh.pandoc: 32-bit protected mode, paging
// off, flat segments, ebx = hvm_start_info.
Status set_pvh_entry_state(kvm::Vcpu& v, std::uint32_t entry, std::uint64_t start_info) {
    kvm_sregs s{};
    if (auto st = v.get_sregs(s); !st) return st;
    kvm_segment code{};
    code.base = 0;
    code.limit = 0xffffffff;
    code.selector = 0x10;
    code.type = 0xb;  // execute/read, accessed
    code.present = 1;
    code.dpl = 0;
    code.db = 1;
    code.s = 1;
    code.g = 1;
    kvm_segment data = code;
    data.type = 0x3;  // read/write, accessed
    data.selector = 0x18;
    kvm_segment tss{};
    tss.base = 0;
    tss.limit = 0x67;
    tss.selector = 0x20;
    tss.type = 0xb;  // 32-bit busy TSS
    tss.present = 1;
    tss.g = 0;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = tss;
    s.cr0 = 0x11;  // PE | ET
    s.cr3 = 0;
    s.cr4 = 0;
    s.efer = 0;
    if (auto st = v.set_sregs(s); !st) return st;
    kvm_regs r{};
    r.rip = entry;
    r.rbx = start_info;
    r.rflags = 0x2;
    return v.set_regs(r);
}

// Wall time of each KVM set-up step, for the log line that shows a kernel
// wait coming back ("KVM set-up 0.45 ms: KVM_CREATE_VM 0.05, ...").
class KvmSetupTimes {
public:
    template <class F>
    auto step(const char* what, F&& f) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = f();
        steps_.push_back({what, std::chrono::steady_clock::now() - t0});
        return r;
    }
    std::string summary() const {
        using ms = std::chrono::duration<double, std::milli>;
        std::chrono::nanoseconds total{0};
        std::string parts;
        for (const auto& [what, took] : steps_) {
            total += took;
            parts += fmt::format("{}{} {:.2f}", parts.empty() ? "" : ", ", what, ms(took).count());
        }
        return fmt::format("KVM set-up {:.2f} ms: {}", ms(total).count(), parts);
    }

private:
    std::vector<std::pair<const char*, std::chrono::nanoseconds>> steps_;
};

}  // namespace

Result<std::shared_ptr<Domain>> build_empty_domain(const BuildRequest& req, Services& services) {
    const DomainIdentity& id = req.identity;
    const hypercall::Transport transport = hypercall::choose_transport(services.kvm.xen_hvm_caps());

    // RAM space is laid out up to maxmem, so mem-set can grow the guest.
    auto mem = GuestMemory::create(id.memory_kib * 1024, fmt::format("xenolith-d{}", id.domid),
                                   id.max_memory_kib * 1024);
    if (!mem) return mem.error();
    (*mem)->set_max_pages(std::max(req.max_pages, id.memory_kib / 4));
    GuestMemory& memory = **mem;
    const x86::MemmapEntry special{kSpecialPagesBase, kSpecialPageCount * kPageSize,
                                   XEN_HVM_MEMMAP_TYPE_RESERVED};
    auto memmap = x86::pvh_memory_map(memory.ram_bytes(), std::span(&special, 1));

    // KVM set-up, in the order that keeps every call off SRCU's slow path
    // (kvm_vm.hpp): the MSR filter first, then memory slots, the irqchip and
    // the vCPUs. Each step is timed and logged, so a stall that comes back
    // shows in `xl dmesg` and bench/startup.sh.
    KvmSetupTimes times;
    auto vm = times.step("KVM_CREATE_VM", [&] { return services.kvm.create_vm(); });
    if (!vm) return vm.error();
    kvm::Vm& vmref = **vm;
    if (transport == hypercall::Transport::kvm_xen) {
        if (auto st = times.step("KVM_XEN_HVM_CONFIG",
                                 [&] {
                                     return vmref.enable_xen_hypercall_intercept(
                                         x86::kXenHypercallPageMsr);
                                 });
            !st)
            return st.error();
    } else if (auto st = times.step("KVM_X86_SET_MSR_FILTER",
                                    [&] {
                                        return vmref.trap_msr_to_userspace(
                                            x86::kXenHypercallPageMsr);
                                    });
               !st) {
        return st.error();
    }

    auto dom = std::make_shared<Domain>(id, services, std::move(*vm), std::move(*mem));
    dom->set_memory_map(memmap);
    if (auto st = times.step("memory slots", [&] { return dom->register_memory_slots(); }); !st)
        return st.error();
    if (auto st = times.step("KVM_CREATE_IRQCHIP", [&] { return vmref.create_irqchip(); }); !st)
        return st.error();

    const bool sync_regs =
        (services.kvm.check_extension(KVM_CAP_SYNC_REGS) & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) ==
        (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
    auto make_vcpu = [&](unsigned i) -> Status {
        auto kv = vmref.create_vcpu(i);
        if (!kv) return kv.error();
        if (auto st = (*kv)->set_cpuid(cpuid_for(services.kvm, id.domid, i)); !st) return st;
        if (auto st = enable_lapic(**kv); !st) return st;
        (*kv)->enable_sync_regs(sync_regs);
        auto v = std::make_unique<Vcpu>(*dom, i, std::move(*kv));
        v->set_online(i == 0);  // secondary vCPUs wait for VCPUOP_initialise + up
        dom->add_vcpu(std::move(v));
        return ok_status();
    };
    if (auto st = times.step("vCPUs",
                             [&]() -> Status {
                                 for (unsigned i = 0; i < id.max_vcpus; ++i)
                                     if (auto s = make_vcpu(i); !s) return s;
                                 return ok_status();
                             });
        !st)
        return st.error();

    // The toolstack's pages and channels, as libxl sets them up. A restore
    // relies on this order: the guest already knows the two ports.
    evtchn::Port console_port = 0, store_port = 0;
    if (dom->events().alloc_unbound(0, &console_port) || dom->events().alloc_unbound(0, &store_port))
        return make_error("cannot allocate console/xenstore event channels");
    dom->set_param(HVM_PARAM_CONSOLE_PFN, memory.special_page_gpa(kConsoleSpecialPage) >> kPageShift);
    dom->set_param(HVM_PARAM_CONSOLE_EVTCHN, console_port);
    dom->set_param(HVM_PARAM_STORE_PFN, memory.special_page_gpa(kXenstoreSpecialPage) >> kPageShift);
    dom->set_param(HVM_PARAM_STORE_EVTCHN, store_port);

    auto* ring = reinterpret_cast<xencons_interface*>(
        memory.host_ptr(memory.special_page_gpa(kConsoleSpecialPage), kPageSize));
    auto console = console::ConsoleBackend::create(
        ring, fmt::format("{}/guest-{}.log", req.console_log_dir, id.name));
    if (!console) return console.error();
    if (auto st = (*console)->connect(services.host_events, dom->events(), console_port); !st)
        return st.error();
    dom->set_console(std::move(*console));
    services.hvlog.append_line(fmt::format("(XEN) d{}: {}", id.domid, times.summary()));
    return dom;
}

Status load_pvh_image(Domain& dom, const BuildRequest& req, const loader::KernelImage& kernel) {
    const DomainIdentity& id = dom.identity();
    Services& services = dom.services();
    const loader::KernelImage* image = &kernel;
    const hypercall::Transport transport = hypercall::choose_transport(services.kvm.xen_hvm_caps());
    GuestMemory& memory = dom.memory();
    if (auto st = load_kernel(memory, *image, req.kernel); !st) return st;

    // Ramdisk (module 0) goes after the kernel, page aligned, in RAM.
    auto page_up = [](std::uint64_t a) { return (a + kPageSize - 1) & ~(kPageSize - 1); };
    std::uint64_t next_free = page_up(image->paddr_end);
    std::vector<x86::BootModule> modules;
    if (!req.ramdisk.empty()) {
        auto rd = read_file(req.ramdisk, "ramdisk");
        if (!rd) return rd.error();
        if (auto st = place(memory, next_free, *rd, "ramdisk '" + req.ramdisk + "'"); !st) return st;
        modules.push_back({next_free, rd->size(), std::nullopt});
    }

    auto acpi = x86::build_acpi_tables(x86::kAcpiGpa, id.vcpus, id.max_vcpus);
    if (auto st = place(memory, acpi.base_gpa, acpi.bytes, "ACPI tables"); !st) return st;
    x86::StartInfoSpec spec;
    // Start info, memmap and cmdline go in the reserved area below 1 MiB,
    // not after the image: Debian's 6.1 kernel stops before its first
    // printk when they sit right after _end (observed), and the guest must
    // not be able to allocate over them before it has copied them.
    spec.base_gpa = x86::kStartInfoGpa;
    spec.memmap = dom.memory_map();
    spec.cmdline = req.cmdline;
    spec.modules = modules;
    spec.rsdp_paddr = acpi.rsdp_gpa;
    auto si = x86::build_start_info(spec);
    if (!si) return si.error();
    if (auto st = place(memory, si->start_info_gpa, si->bytes, "hvm_start_info"); !st) return st;

    // vCPU 0 starts at the PVH entry; its thread does not exist yet.
    Vcpu& boot = dom.vcpu(0);
    if (auto st = boot.run_parked([&](kvm::Vcpu& k) {
            return set_pvh_entry_state(k, image->phys32_entry, si->start_info_gpa);
        });
        !st)
        return st;
    boot.mark_initialised();

    services.hvlog.append_line(fmt::format(
        "(XEN) d{}: {} {} MiB, {} vCPU(s), kernel {} ({}), entry {:#x}, hypercalls via {}{}",
        id.domid, id.name, id.memory_kib >> 10, id.vcpus, req.kernel, image->format,
        image->phys32_entry, hypercall::transport_name(transport),
        image->rewritten_hypercall_sites.empty()
            ? ""
            : fmt::format(", {} direct call site(s) rewritten",
                          image->rewritten_hypercall_sites.size())));
    return ok_status();
}

Result<std::shared_ptr<Domain>> build_domain(const BuildRequest& req, Services& services) {
    // The image is read and checked first: a bad kernel costs no VM.
    auto kernel_bytes = read_file(req.kernel, "kernel");
    if (!kernel_bytes) return kernel_bytes.error();
    auto image = loader::parse_kernel(*kernel_bytes, req.kernel);
    if (!image) return image.error();
    const hypercall::Transport transport = hypercall::choose_transport(services.kvm.xen_hvm_caps());
    if (transport == hypercall::Transport::port_io && loader::needs_direct_hypercall_rewrite(*image)) {
        auto n = loader::rewrite_direct_hypercalls(*image, req.kernel);
        if (!n) return n.error();
    }
    auto dom = build_empty_domain(req, services);
    if (!dom) return dom;
    if (auto st = load_pvh_image(**dom, req, *image); !st) return st.error();
    return dom;
}

}  // namespace xenolith::domain
