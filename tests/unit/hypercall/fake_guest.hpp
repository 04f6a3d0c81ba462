// A domain and vCPUs behind the hypercall seam (hypercall/guest_domain.hpp)
// for unit tests: real guest memory (4 MiB, paging off, so a guest linear
// address is its physical address), a real event-channel table and grant
// table, and everything else recorded in plain fields the tests assert on.
#pragma once

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
#include <xen/hvm/params.h>
}

#include "console/serial_input.hpp"
#include "fake_target.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::test {

class FakeVcpu final : public hypercall::GuestVcpu {
public:
    explicit FakeVcpu(unsigned id) : id_(id) {}

    unsigned id() const override { return id_; }
    bool initialised() const override { return initialised_; }
    bool initialise(const vcpu_hvm_context_t& ctx) override {
        if (ctx.mode != VCPU_HVM_MODE_32B && ctx.mode != VCPU_HVM_MODE_64B) return false;
        initialised_ = true;
        return true;
    }
    bool online() const override { return online_; }
    void set_online(bool on) override { online_ = on; }
    vcpu_runstate_info_t runstate() override { return runstate_; }
    void set_runstate_area(std::uint64_t linear, bool is64) override {
        runstate_area = linear;
        runstate_area_is64 = is64;
    }
    void set_time_area(std::uint64_t linear) override { time_area = linear; }
    void set_singleshot_timer(std::optional<hypercall::Deadline> when) override {
        ++singleshot_calls;
        singleshot = when;
    }
    void set_periodic_timer(std::optional<std::chrono::nanoseconds> period) override {
        ++periodic_calls;
        periodic = period;
    }
    void block() override { ++blocks; }
    void poll(const std::function<bool()>& ready,
              std::optional<hypercall::Deadline> deadline) override {
        ++polls;
        poll_was_ready = ready();
        poll_deadline = deadline;
    }

    bool initialised_ = false;
    bool online_ = false;
    vcpu_runstate_info_t runstate_{};
    std::uint64_t runstate_area = 0, time_area = 0;
    bool runstate_area_is64 = true;
    std::optional<hypercall::Deadline> singleshot;
    std::optional<std::chrono::nanoseconds> periodic;
    unsigned singleshot_calls = 0, periodic_calls = 0, blocks = 0, polls = 0;
    bool poll_was_ready = false;
    std::optional<hypercall::Deadline> poll_deadline;

private:
    unsigned id_;
};

class FakeGuest final : public hypercall::GuestDomain {
public:
    static constexpr std::uint64_t kRamBytes = 4 << 20;

    explicit FakeGuest(domid_t id = 5, unsigned vcpus = 2) : target_(id, vcpus), id_(id) {
        auto m = GuestMemory::create(kRamBytes, "hypercall-test");
        EXPECT_TRUE(m);
        memory_ = std::move(*m);
        memory_->set_max_pages(kRamBytes / kPageSize + 256);  // + LIBXL_MAXMEM_CONSTANT
        memmap_ = {{0, kRamBytes, 1}, {0xfc000000, 0x1000, 2}};
        registry.add(0, nullptr);  // the host
        events_ = registry.add(id, &target_);
        for (unsigned i = 0; i < vcpus; ++i) vcpus_.push_back(std::make_unique<FakeVcpu>(i));
        vcpus_[0]->initialised_ = vcpus_[0]->online_ = true;
        for (unsigned i = 0; i < 16; ++i) uuid_[i] = static_cast<std::uint8_t>(0xa0 + i);
    }

    FakeVcpu& fake_vcpu(unsigned i) { return *vcpus_.at(i); }
    FakeTarget& target() { return target_; }

    // GuestDomain
    domid_t domid() const override { return id_; }
    const std::array<std::uint8_t, 16>& handle() const override { return uuid_; }
    bool domain_exists(domid_t d) override {
        ++lookups;
        return d == id_ || d == 0 || others.count(d);
    }
    unsigned nr_vcpus() const override { return static_cast<unsigned>(vcpus_.size()); }
    hypercall::GuestVcpu* vcpu(unsigned id) override {
        return id < vcpus_.size() ? vcpus_[id].get() : nullptr;
    }
    GuestMemory& memory() override { return *memory_; }
    std::mutex& memory_lock() override { return memory_mu_; }
    const std::vector<x86::MemmapEntry>& memory_map() const override { return memmap_; }
    long map_shared_info(std::uint64_t gfn) override {
        if (gfn >= kRamBytes / kPageSize) return -XEN_EINVAL;
        shared_info_gfn = gfn;
        return 0;
    }
    long map_frame_at(std::uint64_t gfn, std::span<const std::uint8_t> initial,
                      std::uint8_t** host) override {
        std::uint8_t* p = memory_->host_ptr(gfn * kPageSize, kPageSize);
        if (!p) return -XEN_EINVAL;
        std::memcpy(p, initial.data(), std::min<std::size_t>(initial.size(), kPageSize));
        *host = p;
        return 0;
    }
    evtchn::EventChannels& events() override { return *events_; }
    grant::GrantTable& grants() override { return grants_; }
    // No other domains: every copy naming one gets GNTST_bad_domain.
    const grant::DomainLookup& grant_domains() override { return no_domains_; }
    long register_vcpu_info(unsigned vcpu, std::uint64_t gfn, std::uint32_t offset) override {
        vcpu_info = {vcpu, gfn, offset};
        return 0;
    }
    void set_upcall_vector(unsigned vcpu, std::uint8_t vector) override {
        upcall_vectors.at(vcpu) = vector;
    }
    std::uint64_t param(unsigned index) override { return params.at(index); }
    void set_param(unsigned index, std::uint64_t value) override { params.at(index) = value; }
    // The fake target's event delivery follows the latched layout too.
    void latch_shared_info_layout(bool caller_is64) override {
        latches.push_back(caller_is64);
        target_.layout = evtchn::layout_for_caller(caller_is64);
    }
    unsigned vm_assist() const override { return vm_assist_bits; }
    void set_vm_assist(unsigned bits) override { vm_assist_bits = bits; }
    void shutdown(unsigned reason) override { shutdown_reason = reason; }
    void set_shutdown_code(unsigned code) override { shutdown_code = code; }
    long watchdog(std::uint32_t id, std::uint32_t timeout_s) override {
        watchdog_calls.emplace_back(id, timeout_s);
        return id == 0 ? 1 : 0;
    }
    void console_write(std::span<const char> text) override {
        console.append(text.data(), text.size());
    }
    bool is_console() const override { return console_domain; }
    console::SerialInput* serial_input() override { return serial; }
    void guest_log(std::string_view line) override { log.emplace_back(line); }
    bool first_time(GuestWarning kind, std::uint64_t detail) override {
        return warnings.first_time(kind, detail);
    }

    // What the tests look at and steer.
    FakeDomains registry;
    std::set<domid_t> others;  // other existing domains (0 always exists)
    unsigned lookups = 0;
    std::optional<std::uint64_t> shared_info_gfn;
    std::array<std::uint64_t, 3> vcpu_info{};
    std::array<std::uint8_t, 8> upcall_vectors{};
    std::array<std::uint64_t, HVM_NR_PARAMS> params{};
    std::vector<bool> latches;  // each latch_shared_info_layout: caller_is64
    unsigned vm_assist_bits = 0;
    std::optional<unsigned> shutdown_reason, shutdown_code;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> watchdog_calls;
    std::string console;
    bool console_domain = false;
    console::SerialInput* serial = nullptr;
    std::vector<std::string> log;
    GuestWarnings warnings;

private:
    FakeTarget target_;
    domid_t id_;
    std::unique_ptr<GuestMemory> memory_;
    std::mutex memory_mu_;
    std::vector<x86::MemmapEntry> memmap_;
    std::shared_ptr<evtchn::EventChannels> events_;
    grant::GrantTable grants_{grant::Limits{}};
    grant::DomainLookup no_domains_ = [](domid_t) { return std::optional<grant::ForeignDomain>{}; };
    std::vector<std::unique_ptr<FakeVcpu>> vcpus_;
    std::array<std::uint8_t, 16> uuid_{};
};

// One guest and a way to make hypercalls from its vCPU 0 (or another),
// with arguments placed in its memory.
class HypercallTest : public ::testing::Test {
protected:
    static constexpr std::uint64_t kArg = 0x10000;     // where tests put structures
    static constexpr std::uint64_t kBuf = 0x20000;     // a second buffer
    static constexpr std::uint64_t kBad = 0x7ff00000;  // not guest memory: -EFAULT

    long call(std::uint64_t nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0,
              std::uint64_t a2 = 0, unsigned vcpu = 0, bool is64 = true) {
        hypercall::GuestAccess access(dom.memory(), paging);
        hypercall::Context ctx{dom, *dom.vcpu(vcpu), {a0, a1, a2, 0, 0}, access, is64};
        return hypercall::dispatch(nr, ctx);
    }
    template <class T>
    void put(std::uint64_t gpa, const T& v) {
        std::memcpy(dom.memory().host_ptr(gpa, sizeof v), &v, sizeof v);
    }
    template <class T>
    T get(std::uint64_t gpa) {
        T v;
        std::memcpy(&v, dom.memory().host_ptr(gpa, sizeof v), sizeof v);
        return v;
    }

    // Long-mode paging that maps only the first 2 MiB (one large page,
    // identity): linear addresses from 2 MiB up fault.
    void map_first_2mib_only() {
        put(0x30000, std::uint64_t{0x31000 | 3});  // PML4[0] -> PDPT, present, writable
        put(0x31000, std::uint64_t{0x32000 | 3});  // PDPT[0] -> PD
        put(0x32000, std::uint64_t{0x83});         // PD[0]: 2 MiB page at 0
        paging.cr0 = 0x80000001;                    // PG | PE
        paging.cr3 = 0x30000;
        paging.cr4 = 0x20;                          // PAE
        paging.efer = 0x500;                        // LME | LMA
    }
    const char* str(std::uint64_t gpa) {
        return reinterpret_cast<const char*>(dom.memory().host_ptr(gpa, 1));
    }

    FakeGuest dom;
    x86::PagingState paging{};  // paging off: linear == physical
};

// The same test in both guest ABIs (GetParam() is is64). Tests write and
// read the structures at offsets computed by hand from the i386 / x86-64
// rules (never through hypercall/compat_abi.hpp), so a wrong layout there
// cannot agree with itself here.
class BothAbis : public HypercallTest, public ::testing::WithParamInterface<bool> {
protected:
    bool is64() const { return GetParam(); }
    // Handle / pointer / long / xen_ulong_t / xen_pfn_t width.
    unsigned word() const { return is64() ? 8 : 4; }
    // The offset `o32` in the 32-bit layout, `o64` in the 64-bit one.
    std::uint64_t at(std::uint64_t o32, std::uint64_t o64) const { return is64() ? o64 : o32; }

    long abi_call(std::uint64_t nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0,
                  std::uint64_t a2 = 0, unsigned vcpu = 0) {
        return call(nr, a0, a1, a2, vcpu, is64());
    }
    // An unsigned integer of `bytes` bytes, little-endian.
    void put_uint(std::uint64_t gpa, std::uint64_t v, unsigned bytes) {
        std::memcpy(dom.memory().host_ptr(gpa, bytes), &v, bytes);
    }
    std::uint64_t get_uint(std::uint64_t gpa, unsigned bytes) {
        std::uint64_t v = 0;
        std::memcpy(&v, dom.memory().host_ptr(gpa, bytes), bytes);
        return v;
    }
    // Fills [gpa, gpa + len) with 0xa5 so writes past a structure show.
    void poison(std::uint64_t gpa, std::size_t len) {
        std::memset(dom.memory().host_ptr(gpa, len), 0xa5, len);
    }
};

inline std::string abi_name(const ::testing::TestParamInfo<bool>& info) {
    return info.param ? "x86_64" : "x86_32";
}

}  // namespace xenolith::test
