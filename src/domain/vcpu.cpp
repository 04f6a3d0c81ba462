#include <cstdint>
#include "domain/vcpu.hpp"

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <cstring>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include "arch/x86/hypercall_page.hpp"
#include "arch/x86/hypercall_port.hpp"
#include "base/log.hpp"
#include "domain/domain.hpp"
#include "hypercall/hypercall.hpp"
#include "hypercall/transport.hpp"
#include "kvm/kvm_vcpu.hpp"

namespace xenolith::domain {
namespace {

constexpr int kKickSignal = SIGUSR1;
constexpr std::uint16_t kDebugPort = 0xe9;   // Xen's HVM debug console port
constexpr std::uint32_t kXenHypercallMsr = 0x40000000;

void on_kick(int) {}

}  // namespace

void install_vcpu_kick_signal() {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(kKickSignal, &sa, nullptr);
}

Vcpu::Vcpu(Domain& domain, unsigned id, std::unique_ptr<kvm::Vcpu> kvm_vcpu)
    : domain_(domain), id_(id), kvm_(std::move(kvm_vcpu)) {}

Vcpu::~Vcpu() { stop(); }

void Vcpu::start_thread() {
    thread_ = std::thread([this] { thread_main(); });
}

void Vcpu::kick() {
    kicked_ = true;
    kvm_->request_immediate_exit(true);
    if (pthread_t t = native_.load(); t != pthread_t{}) pthread_kill(t, kKickSignal);
    wake();
}

void Vcpu::wake() {
    { std::lock_guard lock(mu_); }
    cv_.notify_all();
}

void Vcpu::stop() {
    stopping_ = true;
    set_singleshot_timer(std::nullopt);
    if (thread_.joinable()) {
        kick();
        thread_.join();
    }
    state_ = State::stopped;
}

double Vcpu::cpu_seconds() const { return static_cast<double>(cpu_ns_.load()) / 1e9; }

void Vcpu::thread_main() {
    native_ = pthread_self();
    run_loop();
    // Final CPU time, so `xl list` stays right after the thread is gone.
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    cpu_ns_ = ts.tv_sec * 1000000000ll + ts.tv_nsec;
    state_ = State::stopped;
}

bool Vcpu::wait_until_runnable() {
    std::unique_lock lock(mu_);
    for (;;) {
        // Clear the kick first, then look: a kicker sets its condition before
        // the kick, so either we see the condition or KVM_RUN sees the kick.
        kicked_ = false;
        kvm_->request_immediate_exit(false);
        if (stopping_) return false;
        if (!domain_.paused() && online_ && !domain_.is_shut_down()) return true;
        state_ = State::paused;
        cv_.wait(lock);
    }
}

void Vcpu::run_loop() {
    unsigned exits = 0;
    bool first = id_ == 0;
    while (wait_until_runnable()) {
        state_ = State::running;
        if (first) {
            domain_.log_first_entry();
            first = false;
        }
        auto r = kvm_->run();
        if (!r.ok()) {
            log::error("d{}v{}: {}", domain_.domid(), id_, r.error().what);
            crash("KVM_RUN failed");
            return;
        }
        if (*r) handle_exit();
        if ((++exits & 63) == 0) {
            timespec ts{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            cpu_ns_ = ts.tv_sec * 1000000000ll + ts.tv_nsec;
        }
    }
}

void Vcpu::crash(const char* why) {
    domain_.guest_log(std::string("vcpu ") + std::to_string(id_) + ": " + why);
    domain_.shutdown(SHUTDOWN_crash);
}

void Vcpu::handle_exit() {
    kvm_run* run = kvm_->run_area();
    switch (run->exit_reason) {
        case KVM_EXIT_IO:
            handle_io();
            return;
        case KVM_EXIT_X86_WRMSR:
            handle_wrmsr();
            return;
        case KVM_EXIT_XEN:
            handle_xen_exit();
            return;
        case KVM_EXIT_X86_RDMSR:
            handle_rdmsr();
            return;
        case KVM_EXIT_MMIO:
            // No emulated devices: reads float high, writes are dropped.
            if (!run->mmio.is_write) std::memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
            if (domain_.first_time(0x1000))
                domain_.guest_log(fmt::format("unhandled MMIO {} at {:#x}",
                                              run->mmio.is_write ? "write" : "read",
                                              run->mmio.phys_addr));
            return;
        case KVM_EXIT_INTR:
            return;
        case KVM_EXIT_SHUTDOWN:
            crash("triple fault");
            return;
        case KVM_EXIT_HLT:
            block();
            return;
        case KVM_EXIT_INTERNAL_ERROR:
            crash(fmt::format("KVM internal error, suberror {}", run->internal.suberror).c_str());
            return;
        case KVM_EXIT_FAIL_ENTRY:
            crash(fmt::format("VM entry failed, reason {:#x}",
                              run->fail_entry.hardware_entry_failure_reason)
                      .c_str());
            return;
        default:
            crash(fmt::format("unexpected KVM exit {}", run->exit_reason).c_str());
            return;
    }
}

void Vcpu::handle_io() {
    kvm_run* run = kvm_->run_area();
    auto* data = reinterpret_cast<std::uint8_t*>(run) + run->io.data_offset;
    const bool out = run->io.direction == KVM_EXIT_IO_OUT;

    if (run->io.port == x86::kHypercallPort && out && run->io.size == 4 && run->io.count == 1) {
        std::uint32_t nr;
        std::memcpy(&nr, data, sizeof nr);
        kvm_regs& regs = kvm_->regs();
        const auto call = hypercall::decode_port_io_call(nr, regs, kvm_->sregs());
        const long ret = run_hypercall(call);
        regs.rax = call.is64 ? static_cast<std::uint64_t>(ret)
                             : static_cast<std::uint64_t>(static_cast<std::uint32_t>(ret));
        kvm_->mark_regs_dirty();
        return;
    }
    if (run->io.port == kDebugPort && out) {
        for (std::uint32_t i = 0; i < run->io.count; ++i)
            domain_.debug_port_write(static_cast<char>(data[i * run->io.size]));
        return;
    }
    // No emulated legacy devices: reads float high, writes are dropped.
    if (!out) std::memset(data, 0xff, std::size_t{run->io.size} * run->io.count);
    if (domain_.first_time(0x2000 + (run->io.port & 0xfff)))
        domain_.guest_log(fmt::format("unhandled port I/O {} {:#x}", out ? "write" : "read",
                                      run->io.port));
}

long Vcpu::run_hypercall(const hypercall::DecodedCall& call) {
    if (call.cpl != 0) return -XEN_EPERM;  // refused from guest user mode, as on Xen
    const kvm_sregs& sregs = kvm_->sregs();
    x86::PagingState paging{sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer};
    hypercall::GuestAccess guest(domain_.memory(), paging);
    hypercall::Context ctx{domain_, *this,
                           {call.arg[0], call.arg[1], call.arg[2], call.arg[3], call.arg[4]},
                           guest, call.is64};
    return hypercall::dispatch(call.nr, ctx);
}

void Vcpu::handle_xen_exit() {
    kvm_run* run = kvm_->run_area();
    if (auto call = hypercall::decode_kvm_xen_exit(run->xen)) {
        const long ret = run_hypercall(*call);
        run->xen.u.hcall.result = call->is64
                                      ? static_cast<std::uint64_t>(ret)
                                      : static_cast<std::uint64_t>(static_cast<std::uint32_t>(ret));
        return;
    }
    crash(fmt::format("unexpected KVM_EXIT_XEN type {}", run->xen.type).c_str());
}

void Vcpu::handle_wrmsr() {
    kvm_run* run = kvm_->run_area();
    run->msr.error = 1;  // #GP unless handled
    if (run->msr.index != kXenHypercallMsr) {
        if (domain_.first_time(0x3000))
            domain_.guest_log(fmt::format("wrmsr to unknown MSR {:#x}", run->msr.index));
        return;
    }
    // Value: page address | page index; Xen offers one hypercall page.
    const std::uint64_t gpa = run->msr.data & ~std::uint64_t{0xfff};
    if ((run->msr.data & 0xfff) != 0) return;
    std::uint8_t* page = domain_.memory().host_ptr(gpa, kPageSize);
    if (!page || !domain_.memory().is_ram_gfn(gpa >> kPageShift)) return;
    x86::fill_hypercall_page(std::span<std::uint8_t, 4096>(page, 4096));
    run->msr.error = 0;
    if (domain_.first_time(0x3001))
        domain_.guest_log(fmt::format("hypercall page at {:#x} (transport: port I/O exits)", gpa));
}

void Vcpu::handle_rdmsr() {
    kvm_run* run = kvm_->run_area();
    run->msr.error = 1;  // the hypercall MSR is write-only, others unknown: #GP
    if (run->msr.index != kXenHypercallMsr && domain_.first_time(0x3002))
        domain_.guest_log(fmt::format("rdmsr from unknown MSR {:#x}", run->msr.index));
}

void Vcpu::block(std::optional<TimerService::Clock::time_point> deadline) {
    // Xen enables event delivery before blocking, then sleeps unless an
    // event is already pending.
    auto pending = [this] {
        std::lock_guard ev(domain_.events().mutex());
        vcpu_info_t* vi = domain_.vcpu_info(id_);
        if (!vi) return false;
        __atomic_store_n(&vi->evtchn_upcall_mask, 0, __ATOMIC_SEQ_CST);
        return __atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST) != 0;
    };
    std::unique_lock lock(mu_);
    state_ = State::blocked;
    auto ready = [&] { return stopping_ || kicked_ || domain_.is_shut_down() || pending(); };
    if (deadline)
        cv_.wait_until(lock, *deadline, ready);
    else
        cv_.wait(lock, ready);
    state_ = State::running;
}

void Vcpu::set_singleshot_timer(std::optional<TimerService::Clock::time_point> when) {
    std::lock_guard lock(mu_);
    auto& timers = domain_.services().timers;
    if (timer_) {
        timers.cancel(*timer_);
        timer_.reset();
    }
    if (!when || stopping_) return;
    std::weak_ptr<evtchn::EventChannels> events = domain_.events_ptr();
    const unsigned vcpu = id_;
    timer_ = timers.schedule(*when, [events, vcpu] {
        if (auto e = events.lock()) e->raise_virq(vcpu, VIRQ_TIMER);
    });
}

}  // namespace xenolith::domain
