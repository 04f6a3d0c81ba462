#include "daemon/admission.hpp"

#include <fmt/format.h>

namespace xenolith::daemon {

std::uint64_t promised_kib(std::uint64_t max_memory_kib) {
    const std::uint64_t pages = max_memory_kib / 4;
    return max_memory_kib + (pages * 9 + 1023) / 1024;
}

MemoryAdmission::Ticket::~Ticket() {
    if (!a_) return;
    std::lock_guard lock(a_->mu_);
    a_->in_flight_kib_ -= kib_;
}

Result<MemoryAdmission::Ticket> MemoryAdmission::admit(const std::string& name,
                                                       std::uint64_t max_memory_kib,
                                                       std::uint64_t existing_kib) {
    const std::uint64_t need = promised_kib(max_memory_kib);
    std::lock_guard lock(mu_);
    const std::uint64_t taken = existing_kib + in_flight_kib_;
    const std::uint64_t free = taken >= host_kib_ ? 0 : host_kib_ - taken;
    if (need > free)
        return make_error(fmt::format(
            "cannot allocate memory for domain '{}': it needs {} MiB (maxmem and KVM's "
            "metadata), and {} MiB of the host's {} MiB are not promised to other domains",
            name, (need + 1023) / 1024, free / 1024, host_kib_ / 1024));
    in_flight_kib_ += need;
    return Ticket(this, need);
}

std::uint64_t MemoryAdmission::in_flight_kib() {
    std::lock_guard lock(mu_);
    return in_flight_kib_;
}

}  // namespace xenolith::daemon
