// A vCPU: its KVM vCPU, the thread that runs it, and an explicit run state.
// The exit loop is one switch on the exit reason handing off to small
// handlers (hypercall port, hypercall-page MSR, debug port, faults).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

extern "C" {
#include <xen/hvm/hvm_vcpu.h>
#include <xen/vcpu.h>
}

#include "base/result.hpp"
#include "domain/crash_report.hpp"
#include "domain/timer_service.hpp"
#include "host/cpus.hpp"

namespace xenolith::kvm {
class Vcpu;
}
namespace xenolith::hypercall {
struct DecodedCall;
}

namespace xenolith::domain {

class Domain;

using host::CpuMask;
using host::host_cpu_count;

class Vcpu {
public:
    // dead_halt: halted with interrupts disabled and nothing pending, so
    // it can never run again (Xen users meet this with FreeBSD guests); it
    // costs no CPU and `xl list` shows it blocked.
    enum class State { created, running, blocked, paused, dead_halt, stopped };

    Vcpu(Domain& domain, unsigned id, std::unique_ptr<kvm::Vcpu> kvm_vcpu);
    ~Vcpu();
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;

    unsigned id() const { return id_; }
    Domain& domain() { return domain_; }
    kvm::Vcpu& kvm() { return *kvm_; }
    State state() const { return state_.load(); }
    bool online() const { return online_.load(); }
    // VCPUOP_up / VCPUOP_down (and the builder for vCPU 0).
    void set_online(bool on);
    // Whether the vCPU has a register state (vCPU 0 from the builder, the
    // others from VCPUOP_initialise).
    bool initialised() const { return initialised_.load(); }
    void mark_initialised() { initialised_ = true; }
    // VCPUOP_initialise for HVM/PVH guests: the vcpu_hvm_context_t entry
    // state (32-bit protected or 64-bit long mode). Only while offline.
    Status initialise(const ::vcpu_hvm_context& ctx);

    void start_thread();
    // Makes the thread leave KVM_RUN or a block and recheck its state.
    void kick();
    // Asks the thread to exit and joins it. Idempotent.
    void stop();
    // Wakes the thread out of SCHEDOP_block (an event became pending).
    void wake();

    // SCHEDOP_block: sleep until an event is pending for this vCPU, a kick,
    // or `deadline`. Called on this vCPU's thread only.
    void block(std::optional<TimerService::Clock::time_point> deadline = std::nullopt);
    // SCHEDOP_poll: sleep until `ready()` (checked on every event delivered
    // to the domain), a kick, or `deadline`.
    void poll(const std::function<bool()>& ready,
              std::optional<TimerService::Clock::time_point> deadline);
    bool polling() const { return polling_.load(); }

    // set_timer_op: one singleshot timer per vCPU raising VIRQ_TIMER.
    void set_singleshot_timer(std::optional<TimerService::Clock::time_point> when);

    // set_periodic_timer: VIRQ_TIMER every `period` (nullopt stops it).
    void set_periodic_timer(std::optional<std::chrono::nanoseconds> period);

    // Runstate accounting (VCPUOP_get_runstate_info): time spent running,
    // runnable, blocked and offline, in Xen system time (ns).
    vcpu_runstate_info_t runstate();

    // VCPUOP_register_runstate_memory_area / register_vcpu_time_memory_area:
    // guest linear addresses where the vCPU's runstate and time info are
    // mirrored (0 = none). Written from this vCPU's thread with its current
    // page tables, as Xen does when it schedules the vCPU: registered from
    // another vCPU, the first copy is posted and lands before the target's
    // next guest entry. A runstate area registered by a 32-bit caller
    // (is64 false) gets the compat layout (hypercall/compat_abi.hpp).
    void set_runstate_area(std::uint64_t linear, bool is64 = true);
    void set_time_area(std::uint64_t linear);

    // The one way in for work on this vCPU's state from another thread
    // (ARCHITECTURE.md, "Who owns a vCPU"): `work` runs on this vCPU's own
    // thread before its next guest entry, in posting order; a running
    // vCPU is kicked out of KVM_RUN for it, a blocked or offline one runs
    // it when it next enters. On the vCPU's own thread, or when no thread
    // runs it (before start, after stop), `work` runs at once.
    void post(std::function<void()> work);

    double cpu_seconds() const;

    // Affinity, as Xen keeps it per vCPU: the hard mask is the thread's
    // CPU affinity (sched_setaffinity), applied before the first guest
    // instruction and changed live; the soft mask is recorded only (Linux
    // has no preference mask; ARCHITECTURE.md). Masks are host_cpu_count()
    // wide; the caller checks that a hard mask has an online CPU.
    struct Affinity {
        CpuMask hard;
        CpuMask soft;
    };
    Affinity affinity() const;
    // Either may be absent (left alone). Fails with the errno of
    // sched_setaffinity, changing nothing.
    Status set_affinity(const std::optional<CpuMask>& hard, const std::optional<CpuMask>& soft);

    // Where the thread is, for `xl vcpu-list`: its Linux thread id (0
    // before it starts and after it ends), the host CPU it last ran on
    // (kept after it ends),
    // whether Linux has it on a CPU or runnable (not asleep in KVM_RUN's
    // in-kernel halt or in a block), and its CPU time.
    struct Placement {
        pid_t tid = 0;
        std::optional<unsigned> host_cpu;
        bool thread_runnable = false;
        double cpu_seconds = 0;
    };
    Placement placement() const;
    // Runs `fn` on this vCPU's thread while it is parked outside KVM_RUN
    // with its pending register changes flushed, so KVM_GET_REGS/SREGS see
    // exactly the guest's state (or on the caller's thread when no vCPU
    // thread runs). The caller must have paused the domain (or it is shut
    // down, or the vCPU offline); fails after 5 s if the vCPU never parks.
    Status run_parked(const std::function<Status(kvm::Vcpu&)>& fn);
    // XEN_DOMCTL_SENDTRIGGER_NMI: an NMI for the guest's next entry; a
    // second one before that is merged (Xen's nmi_pending).
    void send_nmi();

private:
    // On the vCPU thread, with mu_ held: runs a task run_parked posted.
    void run_parked_task_locked();
    // On the vCPU thread, before entering the guest: runs what post() queued.
    void run_posted_work();
    bool on_own_thread() const {
        const pthread_t t = native_.load();
        return t != pthread_t{} && pthread_equal(t, pthread_self());
    }
    void thread_main();
    void run_loop();
    bool wait_until_runnable();  // false when stopping
    void handle_exit();
    void handle_io();
    void handle_wrmsr();
    void handle_xen_exit();
    long run_hypercall(const hypercall::DecodedCall& call);
    void handle_rdmsr();
    void crash(const char* why);
    // Appends the register dump of a fatal exit to `xl dmesg`.
    void report_crash(CrashExit exit);
    void set_runstate(int state);
    void sleep_until(const std::function<bool()>& ready,
                     std::optional<TimerService::Clock::time_point> deadline);
    // pvclock: learn the guest TSC (first run), then refresh vcpu_info.time.
    void calibrate_clock();
    // Every second a timer signal interrupts KVM_RUN; if the vCPU sits in
    // HLT with IF=0 it is reported once as dead_halt.
    void arm_halt_probe();
    // Stores this thread's CPU time in cpu_ns_ (only the vCPU's own thread).
    void note_cpu_time();
    void probe_halt();
    void refresh_clock(bool force);
    void arm_periodic(std::uint64_t generation);

    Domain& domain_;
    const unsigned id_;
    std::unique_ptr<kvm::Vcpu> kvm_;
    std::thread thread_;
    std::atomic<pthread_t> native_{};
    std::atomic<State> state_{State::created};
    std::atomic<bool> online_{true};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> kicked_{false};
    std::atomic<bool> polling_{false};
    timer_t halt_probe_{};
    bool halt_probe_armed_ = false;
    bool dead_halt_reported_ = false;

    std::mutex mu_;
    std::condition_variable cv_;
    std::optional<TimerService::Id> timer_;
    std::optional<TimerService::Id> periodic_timer_;
    std::chrono::nanoseconds periodic_period_{0};
    std::uint64_t periodic_generation_ = 0;
    std::atomic<bool> initialised_{false};
    std::atomic<bool> nmi_pending_{false};
    // run_parked's hand-off, guarded by mu_.
    bool thread_live_ = false;
    // post()'s queue, guarded by mu_; has_posted_ lets the entry path skip
    // the lock when it is empty.
    std::vector<std::function<void()>> posted_;
    std::atomic<bool> has_posted_{false};
    const std::function<Status(kvm::Vcpu&)>* parked_task_ = nullptr;
    std::optional<Status> parked_result_;

    std::int64_t guest_tsc_offset_ = 0;  // guest TSC - host TSC
    std::uint64_t tsc_khz_ = 0;
    bool tsc_stable_ = false;
    std::chrono::steady_clock::time_point clock_refreshed_{};
    vcpu_info_t* clock_target_ = nullptr;  // where we last wrote the time

    std::atomic<std::uint64_t> runstate_area_{0};
    // Set before runstate_area_: a guest re-registering from the other ABI
    // while its vCPU is being published can at worst get one copy in the
    // other layout at the new address, in its own memory.
    std::atomic<bool> runstate_area_is64_{true};
    std::atomic<std::uint64_t> time_area_{0};
    void publish_runstate(const vcpu_runstate_info_t& r);
    void publish_time();

    std::mutex runstate_mu_;
    vcpu_runstate_info_t runstate_{};
    std::atomic<std::int64_t> cpu_ns_{0};

    // Guards the masks and tid_: the thread clears tid_ under it before it
    // ends, so a holder may act on tid_ (sched_setaffinity, /proc reads).
    mutable std::mutex affinity_mu_;
    CpuMask hard_affinity_;
    CpuMask soft_affinity_;
    std::atomic<pid_t> tid_{0};  // the thread's kernel id while it runs
    std::optional<unsigned> last_host_cpu_;  // where the ended thread last ran
    void apply_affinity_on_start();
};

// Installs the no-op signal used to kick vCPU threads out of KVM_RUN.
void install_vcpu_kick_signal();

}  // namespace xenolith::domain
