// Fuzzes what a guest controls when it makes a hypercall: the registers
// (decoded per mode), the page tables GuestAccess walks to reach its
// arguments, and sequences of event-channel operations on its port table.
// Invariants: no crash, no out-of-bounds access (ASan), copies either
// succeed completely or report a fault, and the port table stays bounded.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <linux/kvm.h>

extern "C" {
#include <xen/errno.h>
}

#include "evtchn/event_channels.hpp"
#include "evtchn/two_level.hpp"
#include "hypercall/guest_access.hpp"
#include "hypercall/transport.hpp"
#include "memory/guest_memory.hpp"

namespace {

using namespace xenolith;

struct Input {
    const std::uint8_t* p;
    std::size_t n;
    template <class T>
    T take() {
        T v{};
        const std::size_t k = std::min(sizeof(T), n);
        std::memcpy(&v, p, k);
        p += k;
        n -= k;
        return v;
    }
};

class Target : public evtchn::EventTarget {
public:
    domid_t domid() const override { return 1; }
    unsigned max_vcpus() const override { return 2; }
    shared_info_t* shared_info() override { return &shared; }
    vcpu_info_t* vcpu_info(unsigned v) override { return v < 2 ? &shared.vcpu_info[v] : nullptr; }
    void raise_upcall(unsigned) override { ++upcalls; }
    shared_info_t shared{};
    unsigned upcalls = 0;
};

class Registry : public evtchn::Registry {
public:
    std::shared_ptr<evtchn::EventChannels> find(domid_t d) override {
        return d == 1 ? self.lock() : nullptr;
    }
    std::weak_ptr<evtchn::EventChannels> self;
};

GuestMemory& memory() {
    // 4 MiB of guest RAM, created once; each input rewrites its first pages.
    static std::unique_ptr<GuestMemory> mem = [] {
        auto m = GuestMemory::create(4 << 20, "fuzz");
        return std::move(*m);
    }();
    return *mem;
}

void fuzz_guest_access(Input& in) {
    GuestMemory& mem = memory();
    // The first 64 KiB of guest memory (page tables and data) come from the input.
    const std::size_t n = std::min<std::size_t>(in.n, 64 * 1024);
    std::uint8_t* base = mem.host_ptr(0, 64 * 1024);
    std::memset(base, 0, 64 * 1024);
    std::memcpy(base, in.p, n);
    x86::PagingState paging{in.take<std::uint64_t>(), in.take<std::uint64_t>() & 0xffff,
                            in.take<std::uint64_t>(), in.take<std::uint64_t>()};
    hypercall::GuestAccess guest(mem, paging);
    std::vector<std::uint8_t> buf(in.take<std::uint16_t>() % 9000);
    const std::uint64_t la = in.take<std::uint64_t>();
    if (guest.copy_from(la, buf.data(), buf.size())) {
        // A successful read must be repeatable and writable back if RW.
        std::vector<std::uint8_t> again(buf.size());
        if (!guest.copy_from(la, again.data(), again.size()) || again != buf) __builtin_trap();
    }
    (void)guest.copy_to(la, buf.data(), buf.size());
}

void fuzz_register_decoding(Input& in) {
    kvm_regs r{};
    kvm_sregs s{};
    r.rbx = in.take<std::uint64_t>();
    r.rdi = in.take<std::uint64_t>();
    s.efer = in.take<std::uint64_t>();
    s.cs.l = in.take<std::uint8_t>() & 1;
    s.cs.selector = in.take<std::uint16_t>();
    const auto call = hypercall::decode_port_io_call(in.take<std::uint32_t>(), r, s);
    if (!call.is64)
        for (auto a : call.arg)
            if (a > 0xffffffffu) __builtin_trap();  // 32-bit ABI arguments are 32 bits
}

void fuzz_event_channels(Input& in) {
    Target target;
    Registry reg;
    auto table = std::make_shared<evtchn::EventChannels>(
        1, &target, std::make_unique<evtchn::TwoLevelDelivery>(), reg, 200);
    reg.self = table;
    for (int i = 0; i < 256 && in.n; ++i) {
        const auto op = in.take<std::uint8_t>() % 9;
        const auto a = in.take<std::uint16_t>();
        const auto b = in.take<std::uint16_t>();
        evtchn::Port port = 0;
        switch (op) {
            case 0: table->alloc_unbound(a % 4 == 0 ? DOMID_SELF : a, &port); break;
            case 1: table->bind_interdomain(DOMID_SELF, a, &port); break;
            case 2: table->bind_virq(a % 32, b % 4, &port); break;
            case 3: table->bind_ipi(a % 4, &port); break;
            case 4: table->close(a); break;
            case 5: table->send(a); break;
            case 6: table->unmask(a); break;
            case 7: table->bind_vcpu(a, b % 4); break;
            case 8: {
                evtchn_status_t st{};
                st.port = a;
                table->status(st);
                break;
            }
        }
        if (port >= 200) __builtin_trap();  // never beyond max_ports
        // The guest scribbles on its shared page between calls.
        target.shared.evtchn_mask[b % 64] ^= in.take<std::uint64_t>();
    }
    table->close_all();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    Input in{data + 1, size - 1};
    switch (data[0] % 3) {
        case 0: fuzz_guest_access(in); break;
        case 1: fuzz_register_decoding(in); break;
        case 2: fuzz_event_channels(in); break;
    }
    return 0;
}
