#include <cstdint>
#include "hypercall/guest_access.hpp"

#include <cstring>

namespace xenolith::hypercall {

std::optional<std::uint64_t> GuestAccess::to_gpa(std::uint64_t linear, bool write) {
    auto reader = [this](std::uint64_t gpa, unsigned size) -> std::optional<std::uint64_t> {
        const std::uint8_t* p = mem_.host_ptr(gpa, size);
        if (!p) return std::nullopt;
        std::uint64_t v = 0;
        std::memcpy(&v, p, size);  // page-table entries are little-endian
        return v;
    };
    x86::Access access;
    access.write = write;
    const x86::WalkResult r = x86::translate_linear(paging_, linear, access, reader);
    if (!r.ok()) return std::nullopt;
    return r.translation.gpa;
}

// Host pointer for `len` bytes at `linear`, which must not cross a page.
std::uint8_t* GuestAccess::host_page(std::uint64_t linear, bool write, std::size_t len) {
    auto gpa = to_gpa(linear, write);
    if (!gpa) return nullptr;
    return mem_.host_ptr(*gpa, len);
}

bool GuestAccess::copy_from(std::uint64_t linear, void* dst, std::size_t len) {
    auto* out = static_cast<std::uint8_t*>(dst);
    while (len) {
        const std::size_t chunk = std::min<std::size_t>(len, kPageSize - (linear & (kPageSize - 1)));
        const std::uint8_t* src = host_page(linear, false, chunk);
        if (!src) return false;
        std::memcpy(out, src, chunk);
        out += chunk;
        linear += chunk;
        len -= chunk;
    }
    return true;
}

bool GuestAccess::copy_to(std::uint64_t linear, const void* src, std::size_t len) {
    auto* in = static_cast<const std::uint8_t*>(src);
    while (len) {
        const std::size_t chunk = std::min<std::size_t>(len, kPageSize - (linear & (kPageSize - 1)));
        std::uint8_t* dst = host_page(linear, true, chunk);
        if (!dst) return false;
        std::memcpy(dst, in, chunk);
        in += chunk;
        linear += chunk;
        len -= chunk;
    }
    return true;
}

}  // namespace xenolith::hypercall
