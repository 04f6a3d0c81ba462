#include <cstdint>
#include "domain/domain.hpp"

#include <linux/kvm.h>

#include <time.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

extern "C" {
#include <xen/errno.h>
}

#include "base/log.hpp"
#include "console/console_backend.hpp"
#include "domain/pvclock.hpp"
#include "domain/vcpu.hpp"
#include "evtchn/two_level.hpp"
#include "kvm/kvm_vm.hpp"

namespace xenolith::domain {
namespace {

const char* shutdown_reason_name(unsigned reason) {
    switch (reason) {
        case SHUTDOWN_poweroff: return "poweroff";
        case SHUTDOWN_reboot: return "reboot";
        case SHUTDOWN_suspend: return "suspend";
        case SHUTDOWN_crash: return "crash";
        case SHUTDOWN_watchdog: return "watchdog";
        case SHUTDOWN_soft_reset: return "soft_reset";
        default: return "unknown";
    }
}

}  // namespace

std::chrono::nanoseconds process_cpu_time() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void Domain::log_first_entry() {
    if (id_.requested_at == std::chrono::steady_clock::time_point{}) return;
    using ms = std::chrono::duration<double, std::milli>;
    services_.hvlog.append_line(fmt::format(
        "(XEN) d{}: first guest instruction {:.2f} ms after xl create (VMM CPU {:.2f} ms)",
        id_.domid, ms(std::chrono::steady_clock::now() - id_.requested_at).count(),
        ms(process_cpu_time() - id_.requested_cpu).count()));
}

Domain::Domain(DomainIdentity id, Services& services, std::unique_ptr<kvm::Vm> vm,
               std::unique_ptr<GuestMemory> memory)
    : id_(std::move(id)),
      services_(services),
      vm_(std::move(vm)),
      memory_(std::move(memory)),
      grants_(grant::Limits{id_.max_grant_frames, id_.max_maptrack_frames}),
      shared_info_(reinterpret_cast<shared_info_t*>(own_shared_info_.data())),
      vcpu_info_(new std::atomic<vcpu_info_t*>[id_.max_vcpus]),
      upcall_vector_(new std::atomic<std::uint8_t>[id_.max_vcpus]),
      created_at_(std::chrono::steady_clock::now()) {
    for (unsigned i = 0; i < id_.max_vcpus; ++i) {
        vcpu_info_[i] = nullptr;
        upcall_vector_[i] = 0;
    }
    // Event delivery stays masked in vcpu_info until the guest says otherwise.
    for (unsigned i = 0; i < XEN_LEGACY_MAX_VCPUS; ++i)
        shared_info()->vcpu_info[i].evtchn_upcall_mask = 1;
    // Wall clock at system time 0 (system time is CLOCK_MONOTONIC).
    timespec wall{}, mono{};
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    wall_ns_at_system_zero_ =
        (wall.tv_sec - mono.tv_sec) * 1000000000ll + (wall.tv_nsec - mono.tv_nsec);
    write_wallclock(*shared_info(), shared_info_layout(), wall_ns_at_system_zero_);
    events_ = std::make_shared<evtchn::EventChannels>(
        id_.domid, this, std::make_unique<evtchn::TwoLevelDelivery>(), services_.registry,
        id_.max_event_channels + 1);
}

Domain::~Domain() { destroy(); }

std::string Domain::name() const {
    std::lock_guard lock(name_mu_);
    return id_.name;
}

void Domain::set_name(std::string name) {
    std::lock_guard lock(name_mu_);
    id_.name = std::move(name);
}

void Domain::set_console(std::unique_ptr<console::ConsoleBackend> c) { console_ = std::move(c); }

void Domain::add_vcpu(std::unique_ptr<Vcpu> v) { vcpus_.push_back(std::move(v)); }

Status Domain::register_memory_slots() {
    for (const MemoryRegion& r : memory_->regions()) {
        if (auto st = vm_->set_memory_region(next_kvm_slot_++, r.gpa, r.size,
                                             memory_->region_host(r));
            !st)
            return st;
    }
    return ok_status();
}

namespace {
// Hole pages (shared_info, grant frames) are the hypervisor's: a save
// does not send them, so their writes need no log.
bool saved_region(const MemoryRegion& r) {
    return r.is_ram || r.gpa == kSpecialPagesBase;
}
}  // namespace

Status Domain::set_dirty_logging(DirtyBitmap* software) {
    std::lock_guard lock(memory_mu_);
    const auto regions = memory_->regions();
    if (regions.size() != next_kvm_slot_) return make_error("memory regions and KVM slots disagree");
    const std::uint32_t flags = software ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    for (std::uint32_t slot = 0; slot < regions.size(); ++slot) {
        const MemoryRegion& r = regions[slot];
        if (!saved_region(r)) continue;
        if (auto st = vm_->set_memory_region(slot, r.gpa, r.size, memory_->region_host(r), flags); !st) return st;
    }
    memory_->set_dirty_log(software);
    return ok_status();
}

Status Domain::collect_dirty(DirtyBitmap& out) {
    std::lock_guard lock(memory_mu_);
    const auto regions = memory_->regions();
    std::vector<std::uint64_t> words;
    for (std::uint32_t slot = 0; slot < regions.size(); ++slot) {
        const MemoryRegion& r = regions[slot];
        if (!saved_region(r)) continue;
        const std::uint64_t pages = r.size >> kPageShift;
        words.assign((pages + 63) / 64, 0);
        if (auto st = vm_->get_dirty_log(slot, words); !st) return st;
        out.merge_words(r.gpa >> kPageShift, words.data(), pages);
    }
    return ok_status();
}

vcpu_info_t* Domain::vcpu_info(unsigned vcpu) {
    if (vcpu >= id_.max_vcpus) return nullptr;
    if (vcpu_info_t* v = vcpu_info_[vcpu].load(std::memory_order_acquire)) return v;
    if (vcpu < XEN_LEGACY_MAX_VCPUS) return &shared_info()->vcpu_info[vcpu];
    return nullptr;
}

void Domain::raise_upcall(unsigned vcpu) {
    if (vcpu >= nr_vcpus()) return;
    std::uint8_t vector = upcall_vector_[vcpu].load();
    if (!vector) {
        // HVM_PARAM_CALLBACK_IRQ of type "vector" (bits 63:56 == 2).
        const std::uint64_t via = callback_via_.load();
        if ((via >> 56) == HVM_PARAM_CALLBACK_TYPE_VECTOR) vector = via & 0xff;
        else if (via != 0 && first_time(GuestWarning::callback_via_unsupported))
            guest_log("callback via GSI/INTx is not supported; use a vector callback");
    }
    if (vector) deliver_vector(vcpu, vector);
    vcpus_[vcpu]->wake();
}

void Domain::notify_pollers(unsigned) {
    for (auto& v : vcpus_)
        if (v->polling()) v->wake();
}

std::uint8_t* Domain::guest_frame(std::uint64_t gfn) {
    if (gfn > (std::uint64_t{1} << 40)) return nullptr;
    return memory_->host_ptr(gfn << kPageShift, kPageSize);
}

bool Domain::has_callback(unsigned vcpu) const {
    if (vcpu >= id_.max_vcpus) return false;
    if (upcall_vector_[vcpu].load()) return true;
    return (callback_via_.load() >> 56) == HVM_PARAM_CALLBACK_TYPE_VECTOR;
}

void Domain::deliver_vector(unsigned vcpu, std::uint8_t vector) {
    if (auto st = vm_->signal_msi(x86::apic_id_of_vcpu(vcpu), vector); !st)
        log::warn("d{}: cannot inject vector {:#x}: {}", id_.domid, vector, st.error().what);
}

std::uint64_t Domain::param(unsigned index) {
    std::lock_guard lock(params_mu_);
    return index < params_.size() ? params_[index] : 0;
}

void Domain::set_param(unsigned index, std::uint64_t value) {
    {
        std::lock_guard lock(params_mu_);
        if (index >= params_.size()) return;
        params_[index] = value;
        if (index == HVM_PARAM_CALLBACK_IRQ) callback_via_ = value;
    }
    // A callback installed while events are pending fires at once.
    if (index == HVM_PARAM_CALLBACK_IRQ)
        for (unsigned v = 0; v < nr_vcpus(); ++v)
            if (vcpu_info_t* vi = vcpu_info(v); vi && vi->evtchn_upcall_pending) raise_upcall(v);
}

// Finds or creates the backing page of `gfn` for a frame the guest places
// there (shared_info, grant frames). Callers hold the memory and event
// locks. Returns the host page, or null with *rc set to Xen's errno.
std::uint8_t* Domain::back_frame_locked(std::uint64_t gfn, long* rc) {
    *rc = -XEN_EINVAL;
    if (gfn > (std::uint64_t{1} << 40)) return nullptr;
    const std::uint64_t gpa = gfn << kPageShift;
    if (gpa >= kSpecialPagesBase && gpa < kSpecialPagesBase + kSpecialPageCount * kPageSize)
        return nullptr;  // the toolstack's ring pages cannot be replaced
    // Nor a page a back-end has mapped (Xen would leave it to the mapper
    // and put the frame elsewhere; here the gfn is the page).
    if (memory_->frame_holds(gfn)) return nullptr;
    std::uint8_t* page = memory_->host_ptr(gpa, kPageSize);
    if (!page) {
        auto region = memory_->add_hole_page(gfn);
        if (!region) return nullptr;
        if (!vm_->set_memory_region(next_kvm_slot_++, region->gpa, region->size,
                                    memory_->region_host(*region))) {
            *rc = -XEN_ENOMEM;
            return nullptr;
        }
        page = memory_->host_ptr(gpa, kPageSize);
    } else if (memory_->is_ram_gfn(gfn)) {
        memory_->populate_page(gfn);  // a ballooned-out page is RAM again
    }
    *rc = 0;
    return page;
}

long Domain::map_shared_info(std::uint64_t gfn) {
    std::lock_guard memory_lock(memory_mu_);
    std::lock_guard event_lock(events_->mutex());
    long rc = 0;
    std::uint8_t* page = back_frame_locked(gfn, &rc);
    if (!page) return rc;
    auto* fresh = reinterpret_cast<shared_info_t*>(page);
    shared_info_t* old = shared_info();
    if (fresh != old) std::memmove(fresh, old, sizeof(shared_info_t));
    shared_info_.store(fresh, std::memory_order_release);
    shared_info_gfn_ = gfn;
    return 0;
}

long Domain::map_frame_at(std::uint64_t gfn, std::span<const std::uint8_t> initial,
                          std::uint8_t** host) {
    if (initial.size() != kPageSize) return -XEN_EINVAL;
    std::lock_guard memory_lock(memory_mu_);
    std::lock_guard event_lock(events_->mutex());
    if (gfn == shared_info_gfn_) return -XEN_EINVAL;  // Xen would unhook shared_info
    long rc = 0;
    std::uint8_t* page = back_frame_locked(gfn, &rc);
    if (!page) return rc;
    if (page != initial.data()) std::memmove(page, initial.data(), kPageSize);
    *host = page;
    return 0;
}

long Domain::register_vcpu_info(unsigned vcpu, std::uint64_t gfn, std::uint32_t offset) {
    if (vcpu >= id_.max_vcpus) return -XEN_ENOENT;
    std::lock_guard lock(events_->mutex());
    // Xen 4.17 map_vcpu_info: the area must fit in the page and be aligned
    // as the layout's vcpu_info is (64 bytes in both, 4- or 8-aligned).
    const bool compat = shared_info_layout() == evtchn::SharedInfoLayout::compat32;
    if (offset > kPageSize - sizeof(vcpu_info_t)) return -XEN_ENXIO;
    if (offset % (compat ? evtchn::compat::kVcpuInfoAlign : alignof(vcpu_info_t)))
        return -XEN_ENXIO;
    if (vcpu_info_[vcpu].load()) return -XEN_EINVAL;  // once only, as Xen
    if (gfn > (std::uint64_t{1} << 40)) return -XEN_EINVAL;
    const std::uint64_t gpa = gfn << kPageShift;
    if (gpa >= kSpecialPagesBase && gpa < kSpecialPagesBase + kSpecialPageCount * kPageSize)
        return -XEN_EINVAL;
    std::uint8_t* page = memory_->host_ptr(gpa, kPageSize);
    if (!page) return -XEN_EINVAL;
    auto* fresh = reinterpret_cast<vcpu_info_t*>(page + offset);
    if (vcpu_info_t* old = vcpu_info(vcpu)) {
        std::memmove(fresh, old, sizeof(vcpu_info_t));
    } else {
        std::memset(fresh, 0, sizeof(vcpu_info_t));
        fresh->evtchn_upcall_mask = 1;
    }
    vcpu_info_[vcpu].store(fresh, std::memory_order_release);
    // Mark everything pending so nothing is lost in the move; the guest
    // copes with a spurious upcall (Xen does the same).
    if (compat)
        __atomic_store_n(&evtchn::as_compat(fresh)->evtchn_pending_sel, ~std::uint32_t{0},
                         __ATOMIC_SEQ_CST);
    else
        __atomic_store_n(&fresh->evtchn_pending_sel, ~xen_ulong_t{0}, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fresh->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST);
    raise_upcall(vcpu);
    return 0;
}

// Under the event lock, so no delivery runs half in one layout.
void Domain::latch_shared_info_layout(bool caller_is64) {
    std::lock_guard lock(events_->mutex());
    const evtchn::SharedInfoLayout layout = evtchn::layout_for_caller(caller_is64);
    shinfo_layout_.store(layout, std::memory_order_release);
    write_wallclock(*shared_info(), layout, wall_ns_at_system_zero_);
}

void Domain::set_upcall_vector(unsigned vcpu, std::uint8_t vector) {
    if (vcpu >= id_.max_vcpus) return;
    upcall_vector_[vcpu] = vector;
    if (vcpu_info_t* vi = vcpu_info(vcpu);
        vi && __atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST))
        raise_upcall(vcpu);
}

void Domain::start(bool paused) {
    if (paused) pause_count_ = 1;
    for (auto& v : vcpus_) v->start_thread();
}

void Domain::pause() {
    ++pause_count_;
    for (auto& v : vcpus_) v->kick();
}

void Domain::unpause() {
    int c = pause_count_.load();
    while (c > 0 && !pause_count_.compare_exchange_weak(c, c - 1)) {
    }
    for (auto& v : vcpus_) v->wake();
}

void Domain::shutdown(unsigned reason) {
    // The reason is published before the flag, so whoever sees the domain
    // shut down also sees why; the first caller wins.
    bool expected = false;
    if (!shutting_down_.compare_exchange_strong(expected, true)) return;
    shutdown_reason_ = reason;
    shutdown_ = true;
    services_.hvlog.append_line(fmt::format("(XEN) Domain {} ({}) shutdown: {}", id_.domid,
                                            name(), shutdown_reason_name(reason)));
    for (auto& v : vcpus_) v->kick();
    if (console_) console_->drain();
    if (services_.on_shutdown) services_.on_shutdown(id_.domid);
}

long Domain::watchdog(std::uint32_t id, std::uint32_t timeout_s) {
    auto& timers = services_.timers;
    std::weak_ptr<Domain> self = weak_from_this();
    auto arm = [&](unsigned slot) {
        watchdog_timers_[slot] = timers.schedule(
            std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s), [self] {
                if (auto d = self.lock()) d->shutdown(SHUTDOWN_watchdog);
            });
    };
    std::optional<std::uint64_t> old;
    long rc = 0;
    {
        std::lock_guard lock(watchdog_mu_);
        if (id == 0) {
            unsigned slot = 0;
            while (slot < kWatchdogs && watchdog_timers_[slot]) ++slot;
            if (slot == kWatchdogs) return -XEN_ENOSPC;
            arm(slot);
            return slot + 1;
        }
        if (id > kWatchdogs || !watchdog_timers_[id - 1]) return -XEN_EINVAL;
        old = std::exchange(watchdog_timers_[id - 1], std::nullopt);
        if (timeout_s) arm(id - 1);
        else watchdog_timers_[id - 1].reset();
        // A freed slot must read as free even before the old timer is gone.
        if (!timeout_s) watchdog_timers_[id - 1] = std::nullopt;
    }
    if (old) timers.cancel(*old);
    return rc;
}

bool Domain::is_console() const {
    const auto& v = id_.global_virqs;
    return std::find(v.begin(), v.end(), unsigned{VIRQ_CONSOLE}) != v.end();
}

long Domain::soft_reset() {
    if (!is_shut_down() || destroyed_) return -XEN_EINVAL;
    if (long rc = events_->reset(); rc) return rc;
    {
        std::lock_guard memory_lock(memory_mu_);
        std::lock_guard event_lock(events_->mutex());
        for (unsigned i = 0; i < id_.max_vcpus; ++i) vcpu_info_[i].store(nullptr);
        if (shared_info_gfn_ != ~0ull) {
            // Xen keeps the shared_info page and puts a new page at its gfn.
            shared_info_t* mapped = shared_info();
            auto* own = reinterpret_cast<shared_info_t*>(own_shared_info_.data());
            std::memmove(own, mapped, sizeof(shared_info_t));
            shared_info_.store(own, std::memory_order_release);
            std::memset(static_cast<void*>(mapped), 0, kPageSize);
            shared_info_gfn_ = ~0ull;
        }
    }
    for (auto& v : vcpus_) {
        v->set_runstate_area(0);
        v->set_time_area(0);
    }
    return 0;
}

void Domain::resume(std::string_view after) {
    shutdown_reason_ = 0;
    shutdown_ = false;
    shutting_down_ = false;
    services_.hvlog.append_line(
        fmt::format("(XEN) Domain {} ({}) resumed after {}", id_.domid, name(), after));
    for (auto& v : vcpus_) v->wake();
}

void Domain::destroy() {
    bool expected = false;
    if (!destroyed_.compare_exchange_strong(expected, true)) return;
    shutting_down_ = true;
    shutdown_ = true;
    std::array<std::optional<std::uint64_t>, kWatchdogs> dogs;
    {
        std::lock_guard lock(watchdog_mu_);
        dogs = std::exchange(watchdog_timers_, {});
    }
    for (auto& t : dogs)
        if (t) services_.timers.cancel(*t);
    for (auto& v : vcpus_) v->stop();
    if (console_) console_->close();
    events_->close_all();
    events_->detach_target();
}

RunState Domain::state() const {
    if (destroyed_) return RunState::dying;
    if (shutdown_) return shutdown_reason_ == SHUTDOWN_crash ? RunState::crashed
                                                             : RunState::shutdown;
    if (pause_count_ > 0) return RunState::paused;
    return RunState::running;
}

bool Domain::all_vcpus_blocked() const {
    for (const auto& v : vcpus_)
        if (v->online() && v->state() != Vcpu::State::blocked &&
            v->state() != Vcpu::State::dead_halt)
            return false;
    return true;
}

double Domain::cpu_seconds() const {
    double s = 0;
    for (const auto& v : vcpus_) s += v->cpu_seconds();
    return s;
}

void Domain::guest_log(std::string_view line) {
    services_.hvlog.append_line(fmt::format("(d{}) {}", id_.domid, line));
}

void Domain::debug_port_write(char c) {
    std::lock_guard lock(log_mu_);
    debug_port_.feed(&c, 1, [this](const std::string& line) { guest_log(line); });
}

}  // namespace xenolith::domain
