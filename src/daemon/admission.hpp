// Admission of new domains against host memory. Xen refuses a domain it
// cannot back (xc_dom_boot_mem_init: "Cannot allocate memory"); here guest
// RAM is a memfd populated on first touch, so nothing would fail at create
// and the host would be overcommitted until the OOM killer chooses. A domain
// is therefore admitted only if the memory promised to every domain (its
// laid-out RAM, maxmem, which the guest may populate at will, plus KVM's
// per-page slot metadata, which is allocated at once) fits in host RAM.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "base/result.hpp"

namespace xenolith::daemon {

// Host memory a domain with `max_memory_kib` of RAM space may take: the RAM
// plus KVM's memslot metadata (rmap and large-page info, measured at ~2.2 GiB
// per TiB of slot: 9 bytes per 4 KiB page).
std::uint64_t promised_kib(std::uint64_t max_memory_kib);

class MemoryAdmission {
public:
    explicit MemoryAdmission(std::uint64_t host_kib) : host_kib_(host_kib) {}

    // Held while a domain is being built: its memory counts as promised
    // until the domain is in the table (then it is counted twice for a
    // moment, which only errs on the safe side).
    class Ticket {
    public:
        Ticket() = default;
        Ticket(MemoryAdmission* a, std::uint64_t kib) : a_(a), kib_(kib) {}
        Ticket(Ticket&& o) noexcept : a_(o.a_), kib_(o.kib_) { o.a_ = nullptr; }
        Ticket& operator=(Ticket&&) = delete;
        ~Ticket();

    private:
        MemoryAdmission* a_ = nullptr;
        std::uint64_t kib_ = 0;
    };

    // Admits a domain of `max_memory_kib` named `name` when the domains that
    // exist already are promised `existing_kib`, or says why not.
    Result<Ticket> admit(const std::string& name, std::uint64_t max_memory_kib,
                         std::uint64_t existing_kib);

    std::uint64_t in_flight_kib();

private:
    std::mutex mu_;
    std::uint64_t host_kib_;
    std::uint64_t in_flight_kib_ = 0;
};

}  // namespace xenolith::daemon
