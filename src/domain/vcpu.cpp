#include <cstdint>
#include "domain/vcpu.hpp"

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cpuid.h>
#include <x86intrin.h>

#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>

extern "C" {
#include <xen/errno.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/xen.h>
}

#include "arch/x86/hypercall_page.hpp"
#include "arch/x86/hypercall_port.hpp"
#include "base/log.hpp"
#include "domain/domain.hpp"
#include "domain/guest_domain_adapter.hpp"
#include "domain/pvclock.hpp"
#include "hypercall/guest_access.hpp"
#include "hypercall/hypercall.hpp"
#include "hypercall/runstate_area.hpp"
#include "hypercall/transport.hpp"
#include "kvm/kvm_vcpu.hpp"

namespace xenolith::domain {
namespace {

constexpr int kKickSignal = SIGUSR1;
constexpr std::uint16_t kDebugPort = 0xe9;   // Xen's HVM debug console port
constexpr std::uint32_t kXenHypercallMsr = 0x40000000;
constexpr std::uint64_t kEferLma = 1ull << 10;

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

kvm_segment flat_segment(std::uint16_t selector, std::uint8_t type, bool code64) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.s = 1;
    s.g = 1;
    s.l = code64 ? 1 : 0;
    s.db = code64 ? 0 : 1;
    return s;
}

// Segment from vcpu_hvm_x86_32's base/limit/access-rights triple (the
// access rights use the VMX layout: type 0-3, S 4, DPL 5-6, P 7, AVL 8,
// L 9, D/B 10, G 11).
kvm_segment segment_from_ar(std::uint32_t base, std::uint32_t limit, std::uint16_t ar) {
    kvm_segment s{};
    s.base = base;
    s.limit = limit;
    s.type = ar & 0xf;
    s.s = (ar >> 4) & 1;
    s.dpl = (ar >> 5) & 3;
    s.present = (ar >> 7) & 1;
    s.avl = (ar >> 8) & 1;
    s.l = (ar >> 9) & 1;
    s.db = (ar >> 10) & 1;
    s.g = (ar >> 11) & 1;
    return s;
}

void on_kick(int) {}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A Linux cpu_set_t-style dynamic set for sched_setaffinity.
struct CpuSetBuffer {
    explicit CpuSetBuffer(const CpuMask& mask)
        : count(std::max<std::size_t>(mask.size(), 1)), size(CPU_ALLOC_SIZE(count)),
          set(CPU_ALLOC(count)) {
        CPU_ZERO_S(size, set);
        for (std::size_t i = 0; i < mask.size(); ++i)
            if (mask[i]) CPU_SET_S(i, size, set);
    }
    ~CpuSetBuffer() { CPU_FREE(set); }
    CpuSetBuffer(const CpuSetBuffer&) = delete;
    CpuSetBuffer& operator=(const CpuSetBuffer&) = delete;
    std::size_t count;
    std::size_t size;
    cpu_set_t* set;
};

CpuMask all_cpus() { return CpuMask(host_cpu_count(), true); }

// The identity's mask for vCPU `id`, fitted to the host, or every CPU.
CpuMask configured(const std::vector<std::vector<bool>>& masks, unsigned id) {
    CpuMask m = id < masks.size() ? masks[id] : all_cpus();
    m.resize(host_cpu_count(), false);
    return m;
}

}  // namespace

void install_vcpu_kick_signal() {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(kKickSignal, &sa, nullptr);
}

Vcpu::Vcpu(Domain& domain, unsigned id, std::unique_ptr<kvm::Vcpu> kvm_vcpu)
    : domain_(domain), id_(id), kvm_(std::move(kvm_vcpu)),
      hard_affinity_(configured(domain.identity().vcpu_hard_affinity, id)),
      soft_affinity_(configured(domain.identity().vcpu_soft_affinity, id)) {
    runstate_.state = RUNSTATE_offline;
    runstate_.state_entry_time = now_ns();
}

void Vcpu::set_online(bool on) {
    online_ = on;
    if (on) {
        wake();
    } else {
        kick();
    }
}

void Vcpu::set_runstate(int state) {
    vcpu_runstate_info_t copy;
    {
        std::lock_guard lock(runstate_mu_);
        if (runstate_.state == state) return;
        const std::uint64_t now = now_ns();
        runstate_.time[runstate_.state] += now - runstate_.state_entry_time;
        runstate_.state = state;
        runstate_.state_entry_time = now;
        copy = runstate_;
    }
    if (runstate_area_.load() && on_own_thread()) publish_runstate(copy);
}

// Xen's update_runstate_area() runs only for v == current; another vCPU's
// registration is published when the target next enters the guest. Each
// posted copy rereads the area, so a later registration wins.
void Vcpu::set_runstate_area(std::uint64_t linear, bool is64) {
    runstate_area_is64_ = is64;
    runstate_area_ = linear;
    if (linear) post([this] { publish_runstate(runstate()); });
}

void Vcpu::set_time_area(std::uint64_t linear) {
    time_area_ = linear;
    if (linear) post([this] { publish_time(); });
}

void Vcpu::post(std::function<void()> work) {
    {
        std::unique_lock lock(mu_);
        if (thread_live_ && !on_own_thread()) {
            posted_.push_back(std::move(work));
            has_posted_ = true;
            lock.unlock();
            // Out of KVM_RUN only: unlike kick(), a vCPU blocked in
            // SCHEDOP_block stays blocked and runs the work when it wakes.
            kvm_->request_immediate_exit(true);
            if (pthread_t t = native_.load(); t != pthread_t{}) pthread_kill(t, kKickSignal);
            return;
        }
    }
    // Our own thread, or no thread at all: nobody else touches the vCPU.
    work();
}

void Vcpu::run_posted_work() {
    if (!has_posted_.load()) return;
    std::vector<std::function<void()>> work;
    {
        std::lock_guard lock(mu_);
        work.swap(posted_);
        has_posted_ = false;
    }
    for (auto& w : work) w();
}

// Writes the runstate to the guest's registered area through its current
// page tables, in the layout of the ABI it was registered from.
void Vcpu::publish_runstate(const vcpu_runstate_info_t& r) {
    const std::uint64_t area = runstate_area_.load();
    if (!area) return;
    const kvm_sregs& sregs = kvm_->sregs();
    hypercall::GuestAccess guest(domain_.memory(),
                                 {sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer});
    hypercall::write_runstate_area(
        guest, area, runstate_area_is64_.load(),
        domain_.vm_assist() & (1u << VMASST_TYPE_runstate_update_flag), r);
}

// Mirrors vcpu_info.time into the guest's registered time area.
void Vcpu::publish_time() {
    const std::uint64_t area = time_area_.load();
    vcpu_info_t* vi = domain_.vcpu_info(id_);
    if (!area || !vi) return;
    const kvm_sregs& sregs = kvm_->sregs();
    hypercall::GuestAccess guest(domain_.memory(),
                                 {sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer});
    vcpu_time_info_t t;
    std::memcpy(&t, &vi->time, sizeof t);
    if (t.version & 1) return;  // mid-update: the next refresh publishes
    guest.write(area, t);
}

vcpu_runstate_info_t Vcpu::runstate() {
    std::lock_guard lock(runstate_mu_);
    vcpu_runstate_info_t r = runstate_;
    // Report the current state's time up to now, as Xen does.
    r.time[r.state] += now_ns() - r.state_entry_time;
    return r;
}

Status Vcpu::initialise(const ::vcpu_hvm_context& ctx) {
    if (initialised_) return make_error("already initialised");
    kvm_sregs s{};
    if (auto st = kvm_->get_sregs(s); !st) return st;
    kvm_regs r{};
    if (ctx.mode == VCPU_HVM_MODE_64B) {
        const auto& c = ctx.cpu_regs.x86_64;
        // Long mode needs paging, PAE and LME/LMA, and a canonical rip.
        if (!(c.cr0 & 0x80000001u) || !(c.cr4 & 0x20) || !(c.efer & 0x100))
            return make_error("64-bit context without paging/PAE/LME");
        r.rax = c.rax; r.rcx = c.rcx; r.rdx = c.rdx; r.rbx = c.rbx;
        r.rsp = c.rsp; r.rbp = c.rbp; r.rsi = c.rsi; r.rdi = c.rdi;
        r.rip = c.rip;
        r.rflags = c.rflags | 2;
        s.cr0 = c.cr0; s.cr3 = c.cr3; s.cr4 = c.cr4;
        s.efer = c.efer | 0x400;  // LMA follows LME with paging on
        s.cs = flat_segment(0x10, 0xb, true);
        s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(0x18, 0x3, false);
    } else if (ctx.mode == VCPU_HVM_MODE_32B) {
        const auto& c = ctx.cpu_regs.x86_32;
        r.rax = c.eax; r.rcx = c.ecx; r.rdx = c.edx; r.rbx = c.ebx;
        r.rsp = c.esp; r.rbp = c.ebp; r.rsi = c.esi; r.rdi = c.edi;
        r.rip = c.eip;
        r.rflags = c.eflags | 2;
        s.cr0 = c.cr0; s.cr3 = c.cr3; s.cr4 = c.cr4; s.efer = c.efer;
        s.cs = segment_from_ar(c.cs_base, c.cs_limit, c.cs_ar);
        s.ds = segment_from_ar(c.ds_base, c.ds_limit, c.ds_ar);
        s.ss = segment_from_ar(c.ss_base, c.ss_limit, c.ss_ar);
        s.es = segment_from_ar(c.es_base, c.es_limit, c.es_ar);
        s.tr = segment_from_ar(c.tr_base, c.tr_limit, c.tr_ar);
        s.fs = s.gs = s.ds;
        if (!s.cs.present || !s.cs.s || !(s.cs.type & 0x8))
            return make_error("32-bit context with an unusable code segment");
    } else {
        return make_error("unknown vCPU context mode");
    }
    if (auto st = kvm_->set_sregs(s); !st) return st;
    if (auto st = kvm_->set_regs(r); !st) return st;
    // With the in-kernel LAPIC, application processors start in
    // wait-for-SIPI; Xen's VCPUOP_up needs no INIT/SIPI, so make it runnable.
    if (auto st = kvm_->set_mp_state(KVM_MP_STATE_RUNNABLE); !st) return st;
    initialised_ = true;
    return ok_status();
}

Vcpu::~Vcpu() { stop(); }

void Vcpu::start_thread() {
    {
        std::lock_guard lock(mu_);
        thread_live_ = true;
    }
    thread_ = std::thread([this] { thread_main(); });
}

void Vcpu::send_nmi() {
    nmi_pending_ = true;
    kick();
}

Status Vcpu::run_parked(const std::function<Status(kvm::Vcpu&)>& fn) {
    auto direct = [&]() -> Status {
        if (auto st = kvm_->flush_regs(); !st) return st;
        return fn(*kvm_);
    };
    kick();  // out of a guest sleep, so that a paused vCPU reaches its park
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    if (!cv_.wait_until(lock, deadline, [&] { return parked_task_ == nullptr; }))
        return make_error("vCPU busy with another request");
    if (!thread_live_) return direct();
    parked_task_ = &fn;
    parked_result_.reset();
    cv_.notify_all();
    const bool done = cv_.wait_until(
        lock, deadline, [&] { return parked_result_.has_value() || !thread_live_; });
    Status st = parked_result_ ? *parked_result_
                : done         ? direct()  // the thread ended first
                               : Status(make_error("vCPU did not stop"));
    parked_task_ = nullptr;
    parked_result_.reset();
    cv_.notify_all();
    return st;
}

void Vcpu::run_parked_task_locked() {
    if (!parked_task_ || parked_result_) return;
    if (auto st = kvm_->flush_regs(); !st)
        parked_result_ = st;
    else
        parked_result_ = (*parked_task_)(*kvm_);
    cv_.notify_all();
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
    set_periodic_timer(std::nullopt);
    if (thread_.joinable()) {
        kick();
        thread_.join();
    }
    state_ = State::stopped;
}

// Read live from the thread's CPU clock while it runs: a guest spinning
// without exits would otherwise show no CPU use until its next exits. A
// thread asleep for the guest (blocked, paused, offline) noted its time
// before sleeping and uses none: no syscall, so `xl list` costs no system
// call per idle domain.
double Vcpu::cpu_seconds() const {
    const State s = state_.load();
    const bool asleep = s == State::blocked || s == State::paused || s == State::stopped;
    if (const pid_t tid = tid_.load(); tid && !asleep) {
        // Linux's CPU-time clock of thread `tid` (MAKE_THREAD_CPUCLOCK(tid,
        // CPUCLOCK_SCHED)); fails once the thread has exited.
        const auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
        timespec ts{};
        if (clock_gettime(clock, &ts) == 0)
            return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    }
    return static_cast<double>(cpu_ns_.load()) / 1e9;
}

void Vcpu::thread_main() {
    native_ = pthread_self();
    kvm_->set_owner(true);
    apply_affinity_on_start();
    arm_halt_probe();
    run_loop();
    if (halt_probe_armed_) timer_delete(halt_probe_);
    note_cpu_time();  // final, so `xl list` stays right after the thread is gone
    {
        std::lock_guard lock(affinity_mu_);
        tid_ = 0;
        if (const int cpu = sched_getcpu(); cpu >= 0) last_host_cpu_ = static_cast<unsigned>(cpu);
    }
    state_ = State::stopped;
    std::lock_guard lock(mu_);
    // Nothing posted is lost: what came in after the last entry runs here,
    // still on the owner thread; from now on post() runs work in place.
    for (auto& w : std::exchange(posted_, {})) w();
    has_posted_ = false;
    kvm_->set_owner(false);
    thread_live_ = false;
    cv_.notify_all();
}

// Before the first guest instruction: name the thread "d<domid>v<vcpu>"
// (top -H, and how tests find it) and pin it to its hard affinity.
void Vcpu::apply_affinity_on_start() {
    pthread_setname_np(pthread_self(), fmt::format("d{}v{}", domain_.domid(), id_).substr(0, 15).c_str());
    std::lock_guard lock(affinity_mu_);
    tid_ = static_cast<pid_t>(::syscall(SYS_gettid));
    CpuSetBuffer set(hard_affinity_);
    if (sched_setaffinity(0, set.size, set.set) != 0)
        log::warn("d{}v{}: cannot apply hard affinity: {}", domain_.domid(), id_,
                  std::strerror(errno));
}

Vcpu::Affinity Vcpu::affinity() const {
    std::lock_guard lock(affinity_mu_);
    return {hard_affinity_, soft_affinity_};
}

Status Vcpu::set_affinity(const std::optional<CpuMask>& hard, const std::optional<CpuMask>& soft) {
    std::lock_guard lock(affinity_mu_);
    if (hard) {
        CpuMask fitted = *hard;
        fitted.resize(host_cpu_count(), false);
        CpuSetBuffer set(fitted);
        if (tid_ != 0 && sched_setaffinity(tid_, set.size, set.set) != 0)
            return make_error(std::strerror(errno));
        hard_affinity_ = std::move(fitted);
    }
    if (soft) {
        soft_affinity_ = *soft;
        soft_affinity_.resize(host_cpu_count(), false);
    }
    return ok_status();
}

Vcpu::Placement Vcpu::placement() const {
    std::lock_guard lock(affinity_mu_);
    Placement p;
    p.tid = tid_;
    p.cpu_seconds = cpu_seconds();
    p.host_cpu = last_host_cpu_;
    if (tid_ == 0) return p;
    const std::string task = fmt::format("/proc/self/task/{}", tid_);
    // stat: "pid (comm) state ..." with the comm possibly holding spaces;
    // fields count from after the last ')': state is field 3, processor 39.
    const std::string stat = read_text(task + "/stat");
    if (auto close = stat.rfind(')'); close != std::string::npos) {
        std::istringstream fields(stat.substr(close + 1));
        std::string field;
        for (int n = 3; fields >> field; ++n) {
            if (n == 3) p.thread_runnable = field == "R";
            if (n == 39) {
                unsigned cpu = 0;
                auto r = std::from_chars(field.data(), field.data() + field.size(), cpu);
                if (r.ec == std::errc()) p.host_cpu = cpu;
                break;
            }
        }
    }
    // schedstat: nanoseconds on a CPU, more precise than stat's ticks.
    std::istringstream schedstat(read_text(task + "/schedstat"));
    std::uint64_t ns = 0;
    if (schedstat >> ns) p.cpu_seconds = static_cast<double>(ns) / 1e9;
    return p;
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
        note_cpu_time();  // before the state: cpu_seconds() trusts it from then on
        state_ = State::paused;
        set_runstate(online_ ? RUNSTATE_runnable : RUNSTATE_offline);
        run_parked_task_locked();
        cv_.wait(lock);
    }
}

void Vcpu::run_loop() {
    unsigned exits = 0;
    bool first = id_ == 0;
    calibrate_clock();
    while (wait_until_runnable()) {
        if (state_ != State::dead_halt) {
            state_ = State::running;
            set_runstate(RUNSTATE_running);
        }
        run_posted_work();
        refresh_clock(false);
        if (nmi_pending_.exchange(false)) {
            if (auto st = kvm_->nmi(); !st)
                log::error("d{}v{}: {}", domain_.domid(), id_, st.error().what);
        }
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
        if (*r) {
            handle_exit();
            dead_halt_reported_ = false;
        } else if (!kicked_ && !has_posted_) {
            probe_halt();
        }
        if ((++exits & 63) == 0) note_cpu_time();
    }
}

void Vcpu::note_cpu_time() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    cpu_ns_ = ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

void Vcpu::arm_halt_probe() {
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = kKickSignal;
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &halt_probe_) != 0) return;
    itimerspec period{};
    period.it_value.tv_sec = 1;
    period.it_interval.tv_sec = 1;
    timer_settime(halt_probe_, 0, &period, nullptr);
    halt_probe_armed_ = true;
}

// KVM_RUN returned for the probe signal: a vCPU halted with interrupts
// off can only leave HLT through NMI/INIT/SMI, none of which xenolith
// sends, so it is dead. Report it once; it keeps costing nothing.
void Vcpu::probe_halt() {
    auto mp = kvm_->mp_state();
    if (!mp.ok() || *mp != KVM_MP_STATE_HALTED) {
        if (state_ == State::dead_halt) state_ = State::running;
        return;
    }
    kvm_regs regs{};
    if (!kvm_->get_regs(regs) || (regs.rflags & (1u << 9))) return;  // IF set: a normal idle HLT
    state_ = State::dead_halt;
    set_runstate(RUNSTATE_blocked);
    if (!dead_halt_reported_) {
        dead_halt_reported_ = true;
        domain_.guest_log(fmt::format(
            "vcpu {} halted with interrupts disabled and nothing pending at rip {:#x}: it cannot "
            "run again (not spinning; `xl destroy` or an on_* action ends it)",
            id_, regs.rip));
    }
}

void Vcpu::calibrate_clock() {
    auto khz = kvm_->tsc_khz();
    tsc_khz_ = khz.ok() ? *khz : 0;
    unsigned a = 0, b = 0, c = 0, d = 0;
    tsc_stable_ = __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8));  // invariant TSC
    // Bracket the guest TSC read with host TSC reads; the offset is fixed
    // for the vCPU's life (KVM keeps it unless the guest writes the TSC).
    const std::uint64_t h0 = __rdtsc();
    auto guest = kvm_->get_msr(0x10);  // IA32_TIME_STAMP_COUNTER
    const std::uint64_t h1 = __rdtsc();
    if (guest.ok())
        guest_tsc_offset_ = static_cast<std::int64_t>(*guest - (h0 / 2 + h1 / 2));
    refresh_clock(true);
}

// Rewrites vcpu_info.time with a fresh (TSC, system time) pair: at start,
// when vcpu_info moved, and at least once a second so NTP slewing of the
// host's monotonic clock never accumulates.
void Vcpu::refresh_clock(bool force) {
    if (!tsc_khz_) return;
    const auto now = std::chrono::steady_clock::now();
    vcpu_info_t* vi = domain_.vcpu_info(id_);
    if (!vi) return;
    if (!force && vi == clock_target_ && now - clock_refreshed_ < std::chrono::seconds(1)) return;
    const std::uint64_t host_tsc = __rdtsc();
    const std::uint64_t system_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
    write_vcpu_time(vi->time, host_tsc + static_cast<std::uint64_t>(guest_tsc_offset_), system_ns,
                    pvclock_scale(tsc_khz_, tsc_stable_));
    clock_target_ = vi;
    clock_refreshed_ = now;
    publish_time();
}

void Vcpu::crash(const char* why) {
    domain_.guest_log(std::string("vcpu ") + std::to_string(id_) + ": " + why);
    domain_.shutdown(SHUTDOWN_crash);
}

// Reads up to `len` guest bytes from `linear`, stopping at the first one
// the guest's page tables do not map (a crash report shows what it can).
static std::vector<std::uint8_t> read_guest_prefix(hypercall::GuestAccess& guest,
                                                   std::uint64_t linear, std::size_t len) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < len; ++i) {
        std::uint8_t b = 0;
        if (!guest.read(linear + i, b)) break;
        out.push_back(b);
    }
    return out;
}

// On this vCPU's own thread, straight after the fatal exit: the register
// caches are current, and the report lands in `xl dmesg` before the crash
// action runs.
void Vcpu::report_crash(CrashExit exit) {
    constexpr std::uint32_t kMsrKernelGsBase = 0xc0000102;
    constexpr std::size_t kCodeBytes = 32;
    constexpr std::size_t kStackWords = 16;
    kvm_run* run = kvm_->run_area();
    CrashState s;
    s.domid = domain_.domid();
    s.vcpu = id_;
    s.exit = exit;
    s.exit_reason = run->exit_reason;
    s.regs = kvm_->regs();
    s.sregs = kvm_->sregs();
    if (auto gss = kvm_->get_msr(kMsrKernelGsBase); gss.ok()) s.kernel_gs_base = *gss;
    if (exit == CrashExit::internal_error) {
        s.suberror = run->internal.suberror;
        const std::size_t n = std::min<std::size_t>(run->internal.ndata,
                                                    std::size(run->internal.data));
        s.internal_data.assign(run->internal.data, run->internal.data + n);
    } else if (exit == CrashExit::fail_entry) {
        s.hardware_entry_failure_reason = run->fail_entry.hardware_entry_failure_reason;
        s.fail_entry_cpu = run->fail_entry.cpu;
    }
    x86::PagingState paging{s.sregs.cr0, s.sregs.cr3, s.sregs.cr4, s.sregs.efer};
    hypercall::GuestAccess guest(domain_.memory(), paging);
    s.code = read_guest_prefix(guest, code_linear(s.regs, s.sregs), kCodeBytes);
    const unsigned word = stack_word_bytes(code_mode(s.sregs));
    const auto stack = read_guest_prefix(guest, stack_linear(s.regs, s.sregs), kStackWords * word);
    for (std::size_t i = 0; i + word <= stack.size(); i += word) {
        std::uint64_t v = 0;
        std::memcpy(&v, stack.data() + i, word);  // x86 is little-endian
        s.stack.push_back(v);
    }
    for (const auto& line : format_crash_report(s)) domain_.guest_log(line);
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
            if (domain_.first_time(GuestWarning::unhandled_mmio))
                domain_.guest_log(fmt::format("unhandled MMIO {} at {:#x}",
                                              run->mmio.is_write ? "write" : "read",
                                              run->mmio.phys_addr));
            return;
        case KVM_EXIT_INTR:
            return;
        case KVM_EXIT_SHUTDOWN:
            report_crash(CrashExit::triple_fault);
            crash("triple fault");
            return;
        case KVM_EXIT_HLT:
            block();
            return;
        case KVM_EXIT_INTERNAL_ERROR:
            report_crash(CrashExit::internal_error);
            crash(fmt::format("KVM internal error, suberror {}", run->internal.suberror).c_str());
            return;
        case KVM_EXIT_FAIL_ENTRY:
            report_crash(CrashExit::fail_entry);
            crash(fmt::format("VM entry failed, reason {:#x}",
                              run->fail_entry.hardware_entry_failure_reason)
                      .c_str());
            return;
        default:
            report_crash(CrashExit::other);
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
        regs.rax = hypercall::result_register(ret, call.is64);
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
    if (domain_.first_time(GuestWarning::unhandled_port_io, run->io.port))
        domain_.guest_log(fmt::format("unhandled port I/O {} {:#x}", out ? "write" : "read",
                                      run->io.port));
}

long Vcpu::run_hypercall(const hypercall::DecodedCall& call) {
    if (call.cpl != 0) return -XEN_EPERM;  // refused from guest user mode, as on Xen
    const kvm_sregs& sregs = kvm_->sregs();
    x86::PagingState paging{sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer};
    hypercall::GuestAccess guest(domain_.memory(), paging);
    GuestVcpuAdapter caller(*this);
    GuestDomainAdapter domain(domain_, caller);
    hypercall::Context ctx{domain, caller,
                           {call.arg[0], call.arg[1], call.arg[2], call.arg[3], call.arg[4]},
                           guest, call.is64};
    return hypercall::dispatch(call.nr, ctx);
}

void Vcpu::handle_xen_exit() {
    kvm_run* run = kvm_->run_area();
    if (auto call = hypercall::decode_kvm_xen_exit(run->xen)) {
        const long ret = run_hypercall(*call);
        run->xen.u.hcall.result = hypercall::result_register(ret, call->is64);
        return;
    }
    crash(fmt::format("unexpected KVM_EXIT_XEN type {}", run->xen.type).c_str());
}

void Vcpu::handle_wrmsr() {
    kvm_run* run = kvm_->run_area();
    run->msr.error = 1;  // #GP unless handled
    if (run->msr.index != kXenHypercallMsr) {
        if (domain_.first_time(GuestWarning::unknown_wrmsr))
            domain_.guest_log(fmt::format("wrmsr to unknown MSR {:#x}", run->msr.index));
        return;
    }
    // Value: page address | page index; Xen offers one hypercall page.
    const std::uint64_t gpa = run->msr.data & ~std::uint64_t{0xfff};
    if ((run->msr.data & 0xfff) != 0) return;
    std::uint8_t* page = domain_.memory().host_ptr(gpa, kPageSize);
    if (!page || !domain_.memory().is_ram_gfn(gpa >> kPageShift)) return;
    x86::fill_hypercall_page(std::span<std::uint8_t, 4096>(page, 4096));
    // Xen's hvm_init_hypercall_page latches the shared_info layout from the
    // writer's mode. (With KVM_XEN interception KVM fills the page itself
    // and only HVM_PARAM_CALLBACK_IRQ latches.)
    const kvm_sregs& sregs = kvm_->sregs();
    domain_.latch_shared_info_layout((sregs.efer & kEferLma) && sregs.cs.l);
    run->msr.error = 0;
    if (domain_.first_time(GuestWarning::hypercall_page))
        domain_.guest_log(fmt::format("hypercall page at {:#x} (transport: port I/O exits)", gpa));
}

void Vcpu::handle_rdmsr() {
    kvm_run* run = kvm_->run_area();
    run->msr.error = 1;  // the hypercall MSR is write-only, others unknown: #GP
    if (run->msr.index != kXenHypercallMsr && domain_.first_time(GuestWarning::unknown_rdmsr))
        domain_.guest_log(fmt::format("rdmsr from unknown MSR {:#x}", run->msr.index));
}

void Vcpu::block(std::optional<TimerService::Clock::time_point> deadline) {
    // Xen enables event delivery before blocking, then sleeps unless an
    // event is already pending. As Xen for HVM guests: only an upcall that
    // would interrupt the guest (a callback vector is installed) counts.
    sleep_until([this] {
        vcpu_info_t* vi = domain_.vcpu_info(id_);
        if (!vi) return false;
        __atomic_store_n(&vi->evtchn_upcall_mask, 0, __ATOMIC_SEQ_CST);
        return domain_.has_callback(id_) &&
               __atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST) != 0;
    }, deadline);
}

void Vcpu::poll(const std::function<bool()>& ready,
                std::optional<TimerService::Clock::time_point> deadline) {
    polling_ = true;  // every event delivered to the domain re-checks `ready`
    sleep_until(ready, deadline);
    polling_ = false;
}

// The one way a vCPU thread sleeps for the guest (block, poll): shown as
// blocked in `xl list` and in the runstate until `ready`, a kick, stop,
// shutdown or the deadline.
void Vcpu::sleep_until(const std::function<bool()>& ready,
                       std::optional<TimerService::Clock::time_point> deadline) {
    std::unique_lock lock(mu_);
    auto done = [&] { return stopping_ || kicked_ || domain_.is_shut_down() || ready(); };
    if (!done()) {
        note_cpu_time();  // before the state: cpu_seconds() trusts it from then on
        state_ = State::blocked;
        set_runstate(RUNSTATE_blocked);
        if (deadline)
            cv_.wait_until(lock, *deadline, done);
        else
            cv_.wait(lock, done);
        set_runstate(RUNSTATE_running);
    }
    state_ = State::running;
}

void Vcpu::set_periodic_timer(std::optional<std::chrono::nanoseconds> period) {
    std::optional<TimerService::Id> old;
    {
        std::lock_guard lock(mu_);
        ++periodic_generation_;
        old = std::exchange(periodic_timer_, std::nullopt);
    }
    // Outside mu_: cancel() waits for a tick in flight, and ticks take mu_.
    if (old) domain_.services().timers.cancel(*old);
    std::lock_guard lock(mu_);
    if (!period || stopping_) return;
    periodic_period_ = *period;
    arm_periodic(periodic_generation_);
}

// Called with mu_ held. Each tick re-arms itself unless the generation
// moved on (the timer was stopped or replaced).
void Vcpu::arm_periodic(std::uint64_t generation) {
    std::weak_ptr<evtchn::EventChannels> events = domain_.events_ptr();
    const unsigned vcpu = id_;
    periodic_timer_ = domain_.services().timers.schedule(
        TimerService::Clock::now() + periodic_period_, [this, events, vcpu, generation] {
            auto e = events.lock();
            if (!e) return;
            e->raise_virq(vcpu, VIRQ_TIMER);
            std::lock_guard lock(mu_);
            if (generation == periodic_generation_ && !stopping_) arm_periodic(generation);
        });
}

void Vcpu::set_singleshot_timer(std::optional<TimerService::Clock::time_point> when) {
    auto& timers = domain_.services().timers;
    std::optional<TimerService::Id> old;
    {
        std::lock_guard lock(mu_);
        old = std::exchange(timer_, std::nullopt);
    }
    // Outside mu_: a firing timer wakes this vCPU, which takes mu_.
    if (old) timers.cancel(*old);
    std::lock_guard lock(mu_);
    if (!when || stopping_) return;
    std::weak_ptr<evtchn::EventChannels> events = domain_.events_ptr();
    const unsigned vcpu = id_;
    timer_ = timers.schedule(*when, [events, vcpu] {
        if (auto e = events.lock()) e->raise_virq(vcpu, VIRQ_TIMER);
    });
}

}  // namespace xenolith::domain
