#include "save/domain_save.hpp"

#include <cpuid.h>

#include <chrono>
#include <mutex>

#include <fmt/format.h>

#include "domain/vcpu.hpp"
#include "kvm/kvm_vcpu.hpp"
#include "save/page_sender.hpp"

namespace xenolith::save {

namespace {

// Counts what reaches the real sink, for the report.
class CountingSink final : public migration::ByteSink {
public:
    explicit CountingSink(migration::ByteSink& inner) : inner_(inner) {}
    Status write(ByteSpan bytes) override {
        count_ += bytes.size();
        return inner_.write(bytes);
    }
    Status write_gather(std::span<const ByteSpan> pieces) override {
        for (const auto& p : pieces) count_ += p.size();
        return inner_.write_gather(pieces);
    }
    std::uint64_t count() const { return count_; }

private:
    migration::ByteSink& inner_;
    std::uint64_t count_ = 0;
};

std::uint32_t host_cpuid_signature() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return a;
}

std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point since) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - since).count());
}

}  // namespace

Status read_vcpu_state(kvm::Vcpu& k, migration::VcpuArchState& s) {
    if (auto st = k.get_regs(s.regs); !st) return st;
    if (auto st = k.get_sregs(s.sregs); !st) return st;
    if (auto st = k.get_debugregs(s.debugregs); !st) return st;
    if (auto st = k.get_xsave(s.xsave); !st) return st;
    if (auto st = k.get_xcrs(s.xcrs); !st) return st;
    if (auto st = k.get_lapic(s.lapic); !st) return st;
    if (auto st = k.get_vcpu_events(s.events); !st) return st;
    auto mp = k.mp_state();
    if (!mp) return mp.error();
    s.mp_state = *mp;
    auto msrs = k.get_msrs(migration::saved_msr_indices());
    if (!msrs) return msrs.error();
    s.msrs.clear();
    for (const auto& m : *msrs) s.msrs[m.index] = m.value;
    // Xen sends those of its list the host has; KVM answers one at a time.
    for (const std::uint32_t index : migration::cpu_msr_indices())
        if (auto v = k.get_msr(index)) s.msrs[index] = *v;
    return ok_status();
}

Status write_vcpu_state(kvm::Vcpu& k, const migration::VcpuArchState& s) {
    if (auto st = k.set_sregs(s.sregs); !st) return st;
    if (auto st = k.set_regs(s.regs); !st) return st;
    if (auto st = k.set_xcrs(s.xcrs); !st) return st;
    if (auto st = k.set_xsave(s.xsave); !st) return st;
    if (auto st = k.set_debugregs(s.debugregs); !st) return st;
    if (auto st = k.set_lapic(s.lapic); !st) return st;
    const auto msrs = migration::restorable_msrs(s);
    if (auto st = k.set_msrs(msrs); !st) return st;
    if (auto st = k.set_vcpu_events(s.events); !st) return st;
    return k.set_mp_state(s.mp_state);
}

Result<DomainState> capture_domain_state(domain::Domain& d) {
    DomainState state;
    state.vcpus.resize(d.nr_vcpus());
    std::uint32_t khz = 0;
    for (unsigned i = 0; i < d.nr_vcpus(); ++i) {
        domain::Vcpu& v = d.vcpu(i);
        migration::VcpuArchState& s = state.vcpus[i];
        // A vCPU never brought up has no context: Xen saves no CPU record.
        s.online = v.online() && v.initialised();
        auto st = v.run_parked([&](kvm::Vcpu& k) -> Status {
            if (i == 0) {
                if (auto t = k.tsc_khz()) khz = *t;
            }
            return read_vcpu_state(k, s);
        });
        if (!st) return make_error(fmt::format("vCPU {}: {}", i, st.error().what));
    }
    state.hvm_header.cpuid = host_cpuid_signature();
    state.hvm_header.gtsc_khz = khz;
    state.tsc.khz = khz;
    state.tsc.nsec = elapsed_ns(d.created_at());
    for (const std::uint32_t index : saved_hvm_params())
        if (const std::uint64_t value = d.param(index)) state.params.push_back({index, value});
    return state;
}

Status apply_domain_state(domain::Domain& d, const DomainState& s) {
    if (s.vcpus.size() != d.nr_vcpus())
        return make_error(fmt::format("the image has {} vCPU(s), the domain {}", s.vcpus.size(), d.nr_vcpus()));
    for (unsigned i = 0; i < d.nr_vcpus(); ++i) {
        domain::Vcpu& v = d.vcpu(i);
        const migration::VcpuArchState& s_i = s.vcpus[i];
        if (!s_i.online) {
            v.set_online(false);
            continue;
        }
        auto st = v.run_parked([&](kvm::Vcpu& k) { return write_vcpu_state(k, s_i); });
        if (!st) return make_error(fmt::format("vCPU {}: {}", i, st.error().what));
        v.mark_initialised();
        v.set_online(true);
    }
    for (const auto& p : s.params) d.set_param(static_cast<unsigned>(p.index), p.value);
    return ok_status();
}

Result<std::unique_ptr<DomainDirtyLog>> DomainDirtyLog::start(domain::Domain& d, std::uint64_t frames) {
    std::unique_ptr<DomainDirtyLog> log(new DomainDirtyLog(d, frames));
    if (auto st = d.set_dirty_logging(&log->bitmap_); !st) {
        (void)d.set_dirty_logging(nullptr);
        return st.error();
    }
    return log;
}

DomainDirtyLog::~DomainDirtyLog() { (void)domain_.set_dirty_logging(nullptr); }

Result<std::vector<std::uint64_t>> DomainDirtyLog::take_dirty() {
    if (auto st = domain_.collect_dirty(bitmap_); !st) return st.error();
    return bitmap_.take();
}

std::vector<std::uint64_t> DomainDirtyLog::writably_mapped() { return domain_.grants().writably_pinned_frames(); }

Result<DomainSaveStats> save_domain_image(domain::Domain& d, migration::ByteSink& out,
                                          const std::optional<std::string>& config_json, bool live,
                                          const DomainSaveHooks& hooks) {
    CountingSink sink(out);
    ImageWriter writer(sink);
    PageSender sender(d.memory(), sink);
    DomainSaveStats stats;
    auto say = [&](const std::string& line) {
        if (hooks.progress) hooks.progress(line);
    };

    auto send_state = [&]() -> Status {
        auto state = capture_domain_state(d);
        if (!state) return state.error();
        return writer.write_state(*state);
    };

    if (!live) {
        if (auto st = hooks.suspend(); !st) return st.error();
        const auto paused_at = std::chrono::steady_clock::now();
        auto fail = [&](const Error& e) -> Result<DomainSaveStats> {
            if (hooks.resume_after_failure) hooks.resume_after_failure();
            return e;
        };
        if (auto st = writer.write_headers(config_json); !st) return fail(st.error());
        {
            // Nothing changes the guest's memory while it is suspended but
            // the balloon path, which takes this lock.
            std::lock_guard lock(d.memory_lock());
            if (auto st = sender.send_all(); !st) return fail(st.error());
        }
        if (auto st = send_state(); !st) return fail(st.error());
        stats.rounds = 1;
        stats.paused_ns = elapsed_ns(paused_at);
    } else {
        if (auto st = writer.write_headers(config_json); !st) return st.error();
        auto log = DomainDirtyLog::start(d, sender.frame_limit());
        if (!log) return make_error(fmt::format("cannot start dirty logging: {}", log.error().what));
        PrecopyHooks precopy;
        precopy.pause = hooks.suspend;
        precopy.send_paused_state = send_state;
        precopy.resume_after_failure = hooks.resume_after_failure;
        precopy.progress = [&](const PrecopyRound& r) {
            say(fmt::format("migration round {}{}: {} pages, {:.1f} MiB in {:.0f} ms", r.iteration,
                            r.paused ? " (guest paused)" : "", r.pages, static_cast<double>(r.bytes) / (1 << 20),
                            static_cast<double>(r.ns) / 1e6));
        };
        auto result = run_precopy(sender, **log, PrecopyPolicy{}, precopy);
        if (!result) return result.error();
        stats.rounds = static_cast<unsigned>(result->rounds.size());
        stats.paused_ns = result->paused_ns;
    }
    stats.pages = sender.counts().pages_with_data + sender.counts().pages_absent + sender.counts().pages_unwritten;
    stats.bytes = sink.count();
    return stats;
}

}  // namespace xenolith::save
