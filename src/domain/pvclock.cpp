#include "domain/pvclock.hpp"

#include "arch/x86/cpuid_xen.hpp"

namespace xenolith::domain {
namespace {

template <class T>
void store(T* p, T v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

}  // namespace

PvclockScale pvclock_scale(std::uint64_t tsc_khz, bool tsc_stable) {
    const x86::TscScale s = x86::tsc_to_ns_scale(tsc_khz);
    return {s.mul_frac, s.shift, tsc_stable};
}

void write_vcpu_time(vcpu_time_info_t& t, std::uint64_t guest_tsc, std::uint64_t system_ns,
                     const PvclockScale& scale) {
    // The guest may read concurrently: odd version first, then the fields,
    // then the next even version, each step ordered.
    const std::uint32_t v = __atomic_load_n(&t.version, __ATOMIC_RELAXED);
    __atomic_store_n(&t.version, (v | 1) + ((v & 1) ? 2 : 0), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    store(&t.tsc_timestamp, guest_tsc);
    store(&t.system_time, system_ns);
    store(&t.tsc_to_system_mul, scale.mul);
    store(&t.tsc_shift, scale.shift);
    store(&t.flags, static_cast<std::uint8_t>(scale.tsc_stable ? XEN_PVCLOCK_TSC_STABLE_BIT : 0));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&t.version, ((v | 1) + ((v & 1) ? 2 : 0)) + 1, __ATOMIC_RELAXED);
}

std::uint64_t read_vcpu_time(const vcpu_time_info_t& t, std::uint64_t tsc) {
    std::uint64_t delta = tsc - t.tsc_timestamp;
    if (t.tsc_shift >= 0)
        delta <<= t.tsc_shift;
    else
        delta >>= -t.tsc_shift;
    // (delta * mul) >> 32 without a 128-bit type: split delta at bit 32.
    const std::uint64_t mul = t.tsc_to_system_mul;
    return t.system_time + (delta >> 32) * mul + (((delta & 0xffffffffu) * mul) >> 32);
}

namespace {

struct WallclockFields {
    std::uint32_t* version;
    std::uint32_t* sec;
    std::uint32_t* nsec;
    std::uint32_t* sec_hi;
};

WallclockFields wallclock_fields(shared_info_t& s, evtchn::SharedInfoLayout layout) {
    if (layout == evtchn::SharedInfoLayout::compat32) {
        evtchn::compat::SharedInfo* c = evtchn::as_compat(&s);
        return {&c->wc_version, &c->wc_sec, &c->wc_nsec, &c->arch.wc_sec_hi};
    }
    return {&s.wc_version, &s.wc_sec, &s.wc_nsec, &s.wc_sec_hi};
}

}  // namespace

void write_wallclock(shared_info_t& s, evtchn::SharedInfoLayout layout,
                     std::int64_t wall_ns_at_system_zero) {
    const WallclockFields f = wallclock_fields(s, layout);
    const std::uint32_t v = __atomic_load_n(f.version, __ATOMIC_RELAXED);
    const std::uint32_t odd = (v | 1) + ((v & 1) ? 2 : 0);
    __atomic_store_n(f.version, odd, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    const std::uint64_t sec = static_cast<std::uint64_t>(wall_ns_at_system_zero / 1000000000);
    store(f.sec, static_cast<std::uint32_t>(sec));
    store(f.nsec, static_cast<std::uint32_t>(wall_ns_at_system_zero % 1000000000));
    store(f.sec_hi, static_cast<std::uint32_t>(sec >> 32));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(f.version, odd + 1, __ATOMIC_RELAXED);
}

}  // namespace xenolith::domain
