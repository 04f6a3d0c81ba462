// Copies to and from guest linear addresses, translating each page through
// the guest's own page tables. Every failure (unmapped, read-only, outside
// guest memory) is a plain `false`, which hypercalls turn into -EFAULT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "arch/x86/pagewalk.hpp"
#include "memory/guest_memory.hpp"

namespace xenolith::hypercall {

class GuestAccess {
public:
    GuestAccess(const GuestMemory& mem, const x86::PagingState& paging)
        : mem_(mem), paging_(paging) {}

    bool copy_from(std::uint64_t linear, void* dst, std::size_t len);
    bool copy_to(std::uint64_t linear, const void* src, std::size_t len);

    template <class T>
    bool read(std::uint64_t linear, T& out) {
        static_assert(std::is_trivially_copyable_v<T>);
        return copy_from(linear, &out, sizeof(T));
    }
    template <class T>
    bool write(std::uint64_t linear, const T& in) {
        static_assert(std::is_trivially_copyable_v<T>);
        return copy_to(linear, &in, sizeof(T));
    }

    // Guest-physical address of `linear`, or nullopt when it faults.
    std::optional<std::uint64_t> to_gpa(std::uint64_t linear, bool write);

private:
    std::uint8_t* host_page(std::uint64_t linear, bool write, std::size_t len);

    const GuestMemory& mem_;
    x86::PagingState paging_;
};

}  // namespace xenolith::hypercall
