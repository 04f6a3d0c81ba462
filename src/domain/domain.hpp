// A domain: identity, guest memory, the KVM VM, vCPUs, event channels, grant
// table, HVM parameters, console back-end, and its run state. Implements the
// EventTarget that event delivery writes into.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

extern "C" {
#include <xen/hvm/params.h>
#include <xen/sched.h>
}

#include "arch/x86/pvh_layout.hpp"
#include "evtchn/event_channels.hpp"
#include "base/guest_warnings.hpp"
#include "domain/hypervisor_log.hpp"
#include "grant/foreign_domain.hpp"
#include "grant/grant_table.hpp"
#include "memory/guest_memory.hpp"

namespace xenolith::kvm {
class System;
class Vm;
}  // namespace xenolith::kvm

namespace xenolith::console {
class ConsoleBackend;
class SerialInput;
}

namespace xenolith::domain {

class Domain;
class Vcpu;
class TimerService;

using Uuid = std::array<std::uint8_t, 16>;

// Xen's domain states, as `xl list` shows them (r b p s c d).
enum class RunState { running, paused, shutdown, crashed, dying };

// The domain type the toolstack asked for (libxl_domain_type). Every guest
// is built PVH; the type is what xenstore and the toolstack report, and
// whether the PV control interface needs the guest's callback first.
enum class GuestType { pv, pvh, hvm };

// Daemon-wide services a domain uses. Outlives every domain.
struct Services {
    const kvm::System& kvm;
    HypervisorLog& hvlog;
    TimerService& timers;
    evtchn::Registry& registry;
    std::shared_ptr<evtchn::EventChannels> host_events;  // domain 0's table
    // Called (on a vCPU thread) when the guest has shut down or crashed.
    std::function<void(domid_t)> on_shutdown;
    // Called by the DomainTable after a domain is built and registered but
    // before its vCPUs run (xenstore introduces it here), and after it is
    // destroyed (xenstore releases it). Optional.
    std::function<void(Domain&)> on_created;
    std::function<void(domid_t)> on_destroyed;
    // Called after a soft reset gave the domain new console and xenstore
    // channels, before it resumes (xenstore re-introduces it). Optional.
    std::function<void(Domain&)> on_soft_reset;
    // The hypervisor's serial input (CONSOLEIO_read); null without one.
    console::SerialInput* serial_input = nullptr;
    // Live domains as grant operations reach them (GNTTABOP_copy); unset:
    // no other domain is reachable.
    grant::DomainLookup grant_domains{};
};

struct DomainIdentity {
    domid_t domid = 0;
    std::string name;
    Uuid uuid{};
    unsigned vcpus = 1;
    unsigned max_vcpus = 1;
    std::uint64_t memory_kib = 0;
    std::uint64_t max_memory_kib = 0;
    unsigned max_event_channels = 1023;
    unsigned max_grant_frames = grant::kMaxFramesLimit;
    unsigned max_maptrack_frames = grant::kMaxMaptrackFramesLimit;
    GuestType type = GuestType::pvh;
    // Global VIRQs (VIRQ_DOM_EXC, ...) this domain receives instead of
    // domain 0, as XEN_DOMCTL_set_virq_handler makes it (e.g. a xenstore
    // or monitoring domain).
    std::vector<unsigned> global_virqs;
    // When xl asked for the domain, for the start-up cost line in the log:
    // wall clock and the daemon's CPU time (CLOCK_PROCESS_CPUTIME_ID).
    std::chrono::steady_clock::time_point requested_at{};
    std::chrono::nanoseconds requested_cpu{0};
    // cpus=/cpus_soft=: per-vCPU host CPU masks (vCPUs beyond the vector
    // keep "all"), validated by the daemon.
    std::vector<std::vector<bool>> vcpu_hard_affinity;
    std::vector<std::vector<bool>> vcpu_soft_affinity;
};

// The daemon's CPU time so far.
std::chrono::nanoseconds process_cpu_time();

class Domain final : public evtchn::EventTarget, public std::enable_shared_from_this<Domain> {
public:
    Domain(DomainIdentity id, Services& services, std::unique_ptr<kvm::Vm> vm,
           std::unique_ptr<GuestMemory> memory);
    ~Domain() override;
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    // EventTarget
    domid_t domid() const override { return id_.domid; }
    unsigned max_vcpus() const override { return id_.max_vcpus; }
    shared_info_t* shared_info() override { return shared_info_.load(std::memory_order_acquire); }
    vcpu_info_t* vcpu_info(unsigned vcpu) override;
    evtchn::SharedInfoLayout shared_info_layout() const override {
        return shinfo_layout_.load(std::memory_order_acquire);
    }
    void raise_upcall(unsigned vcpu) override;
    void notify_pollers(unsigned port) override;
    std::uint8_t* guest_frame(std::uint64_t gfn) override;
    // Whether an upcall on `vcpu` would interrupt the guest (a vector is set).
    bool has_callback(unsigned vcpu) const;

    const DomainIdentity& identity() const { return id_; }
    std::string name() const;
    void set_name(std::string name);
    Services& services() { return services_; }
    GuestMemory& memory() { return *memory_; }
    // Serialises changes to the guest's physical memory (balloon, hole pages).
    std::mutex& memory_lock() { return memory_mu_; }
    kvm::Vm& vm() { return *vm_; }
    evtchn::EventChannels& events() { return *events_; }
    std::shared_ptr<evtchn::EventChannels> events_ptr() { return events_; }
    grant::GrantTable& grants() { return grants_; }
    console::ConsoleBackend* console() { return console_.get(); }
    void set_console(std::unique_ptr<console::ConsoleBackend> c);
    unsigned nr_vcpus() const { return static_cast<unsigned>(vcpus_.size()); }
    Vcpu& vcpu(unsigned i) { return *vcpus_.at(i); }
    void add_vcpu(std::unique_ptr<Vcpu> v);

    // HVM parameters (hvm_op get/set_param), under their own leaf lock.
    std::uint64_t param(unsigned index);
    void set_param(unsigned index, std::uint64_t value);

    // The guest's memory map (XENMEM_memory_map and start_info agree).
    const std::vector<x86::MemmapEntry>& memory_map() const { return memmap_; }
    void set_memory_map(std::vector<x86::MemmapEntry> m) { memmap_ = std::move(m); }
    // Registers every guest memory region with KVM (at build time). KVM
    // slot i is always memory().regions()[i]: regions are only appended,
    // each with the next slot.
    Status register_memory_slots();

    // Live migration's dirty tracking. On: KVM logs the guest's writes to
    // its RAM and toolstack pages, and `software` receives the writes KVM
    // cannot see (GuestMemory::set_dirty_log). collect_dirty() moves what
    // KVM logged since the last call into `out`. Off: both stop.
    Status set_dirty_logging(DirtyBitmap* software);
    Status collect_dirty(DirtyBitmap& out);

    // memory_op add_to_physmap(shared_info): moves shared_info to `gfn`.
    long map_shared_info(std::uint64_t gfn);
    // Puts a hypervisor-owned frame (grant frames) at `gfn`: a RAM page is
    // reused, unpopulated space gets a hole page with its own KVM slot. The
    // page is filled with `initial` (one page) and its host address stored
    // in *host. Returns 0 or -XEN_EINVAL (toolstack page, shared_info's
    // frame, no such gfn) / -XEN_ENOMEM (no KVM slot).
    long map_frame_at(std::uint64_t gfn, std::span<const std::uint8_t> initial,
                      std::uint8_t** host);
    // vcpu_op register_vcpu_info.
    long register_vcpu_info(unsigned vcpu, std::uint64_t gfn, std::uint32_t offset);
    // Xen's hvm_latch_shinfo_size: the guest set HVM_PARAM_CALLBACK_IRQ or
    // wrote the hypercall-page MSR from a vCPU in 64-bit mode or not. The
    // layout follows that mode and the wall clock is rewritten in it;
    // nothing else moves (pending bits, masks and selectors stay where the
    // old layout put them, as in Xen).
    void latch_shared_info_layout(bool caller_is64);
    // vm_assist: the enabled VMASST_TYPE_* bits.
    unsigned vm_assist() const { return vm_assist_.load(); }
    void set_vm_assist(unsigned bits) { vm_assist_ = bits; }

    // hvm_op set_evtchn_upcall_vector (0 = none).
    void set_upcall_vector(unsigned vcpu, std::uint8_t vector);

    // Xen's d->is_console: the domain receiving VIRQ_CONSOLE may also read
    // the hypervisor's serial input with CONSOLEIO_read.
    bool is_console() const;

    // Lifecycle. start() runs the vCPU threads (paused if asked).
    void start(bool paused);
    void pause();
    void unpause();
    bool paused() const { return pause_count_.load() > 0; }
    // From the guest (SCHEDOP_shutdown, triple fault): record and stop vCPUs.
    void shutdown(unsigned reason);
    bool is_shut_down() const { return shutdown_.load(); }
    unsigned shutdown_reason() const { return shutdown_reason_.load(); }
    void set_shutdown_code(unsigned code) { shutdown_code_ = code; }
    // SCHEDOP_watchdog: id 0 allocates one of two watchdogs (returns its id),
    // a known id re-arms it (timeout in seconds) or, with 0, frees it. An
    // expired watchdog shuts the domain down with SHUTDOWN_watchdog.
    long watchdog(std::uint32_t id, std::uint32_t timeout_s);
    // XEN_DOMCTL_soft_reset, on a domain shut down for it: memory and vCPU
    // state stay; every event channel is closed (back to 2-level), the
    // vcpu_info, runstate and time areas are unregistered and shared_info
    // leaves the guest's physmap (its gfn reads as a fresh zeroed page).
    // Returns 0 or a negative XEN errno; the domain stays shut down.
    long soft_reset();
    // domain_resume, at the end of a soft reset or of a suspend that was
    // cancelled (`after` says which, for the log): the vCPUs continue
    // where they stopped, the shutdown forgotten.
    void resume(std::string_view after);
    // Stops and joins every vCPU thread and closes event channels. Idempotent.
    void destroy();
    RunState state() const;
    // True when every online vCPU is blocked (`xl list` shows 'b').
    bool all_vcpus_blocked() const;
    double cpu_seconds() const;
    std::chrono::steady_clock::time_point created_at() const { return created_at_; }

    // Log helpers: "(dN) text" lines in the hypervisor log; first_time
    // keys warnings so a looping guest cannot flood the log.
    void guest_log(std::string_view line);
    void debug_port_write(char c);
    bool first_time(GuestWarning kind, std::uint64_t detail = 0) {
        return warnings_.first_time(kind, detail);
    }
    // Logs the start-up cost, just before vCPU 0 first enters the guest.
    void log_first_entry();

private:
    void deliver_vector(unsigned vcpu, std::uint8_t vector);
    std::uint8_t* back_frame_locked(std::uint64_t gfn, long* rc);

    DomainIdentity id_;
    mutable std::mutex name_mu_;
    Services& services_;
    std::unique_ptr<kvm::Vm> vm_;
    std::unique_ptr<GuestMemory> memory_;
    std::shared_ptr<evtchn::EventChannels> events_;
    grant::GrantTable grants_;
    std::unique_ptr<console::ConsoleBackend> console_;
    std::vector<std::unique_ptr<Vcpu>> vcpus_;

    // Where shared_info lives: our own page until the guest maps it.
    // Pointers into guest memory are atomics so vCPU threads can read them
    // without the event lock; the pages they point to live as long as the
    // domain, so a reader holding a just-replaced pointer is still safe.
    alignas(4096) std::array<std::uint8_t, 4096> own_shared_info_{};
    std::atomic<shared_info_t*> shared_info_;
    std::uint64_t shared_info_gfn_ = ~0ull;
    std::atomic<evtchn::SharedInfoLayout> shinfo_layout_{evtchn::SharedInfoLayout::native64};
    std::int64_t wall_ns_at_system_zero_ = 0;  // what the wall clock publishes
    std::unique_ptr<std::atomic<vcpu_info_t*>[]> vcpu_info_;  // registered areas
    std::uint32_t next_kvm_slot_ = 0;
    std::unique_ptr<std::atomic<std::uint8_t>[]> upcall_vector_;  // per vCPU, 0 = none
    std::vector<x86::MemmapEntry> memmap_;
    mutable std::mutex params_mu_;  // a leaf: guards params_
    std::array<std::uint64_t, HVM_NR_PARAMS> params_{};
    std::atomic<std::uint64_t> callback_via_{0};  // HVM_PARAM_CALLBACK_IRQ, read lock-free

    std::atomic<unsigned> vm_assist_{0};
    std::atomic<int> pause_count_{0};
    std::atomic<bool> shutting_down_{false};  // claimed by the first shutdown()
    std::atomic<bool> shutdown_{false};       // visible state, set after the reason
    std::atomic<unsigned> shutdown_reason_{0};
    std::atomic<unsigned> shutdown_code_{0};
    std::atomic<bool> destroyed_{false};
    std::chrono::steady_clock::time_point created_at_;

    std::mutex memory_mu_;
    static constexpr unsigned kWatchdogs = 2;  // Xen's NR_DOMAIN_WATCHDOG_TIMERS
    std::mutex watchdog_mu_;
    std::array<std::optional<std::uint64_t>, kWatchdogs> watchdog_timers_{};
    std::mutex log_mu_;
    LineAssembler debug_port_;
    GuestWarnings warnings_;
};

}  // namespace xenolith::domain
