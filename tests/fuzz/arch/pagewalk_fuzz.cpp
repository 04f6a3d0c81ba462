// Fuzzes translate_linear() over random paging state and page-table bytes.
// Input: a 40-byte header (state, linear address, access, maxphyaddr), then
// the guest-physical memory from address 0. Checks that every walk ends
// within one read per level and that successful translations are coherent.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "arch/x86/pagewalk.hpp"

namespace {

using namespace xenolith::x86;

struct Header {
    std::uint8_t cr0_bits;  // bit 0: PG, bit 1: WP
    std::uint8_t cr4_bits;  // bit 0: PSE, bit 1: PAE, bit 2: LA57
    std::uint8_t efer_bits; // bit 0: LMA, bit 1: NXE
    std::uint8_t access;    // bit 0: write, bit 1: user
    std::uint32_t maxphy;
    std::uint64_t cr3;
    std::uint64_t linear;
    std::uint64_t cr3_noise;
    std::uint64_t pad;
};
static_assert(sizeof(Header) == 40);

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < sizeof(Header)) return 0;
    Header h;
    std::memcpy(&h, data, sizeof(h));
    const std::uint8_t* mem = data + sizeof(h);
    const std::size_t mem_size = size - sizeof(h);

    PagingState s;
    s.cr0 = 1 | ((h.cr0_bits & 1) ? 1ull << 31 : 0) | ((h.cr0_bits & 2) ? 1ull << 16 : 0);
    s.cr4 = ((h.cr4_bits & 1) ? 1ull << 4 : 0) | ((h.cr4_bits & 2) ? 1ull << 5 : 0) |
            ((h.cr4_bits & 4) ? 1ull << 12 : 0);
    s.efer = ((h.efer_bits & 1) ? 1ull << 10 : 0) | ((h.efer_bits & 2) ? 1ull << 11 : 0);
    // Mostly point CR3 into the supplied memory, sometimes anywhere.
    s.cr3 = (h.cr3_noise & 1) ? h.cr3 : (mem_size ? h.cr3 % mem_size : 0);
    const Access access{(h.access & 1) != 0, (h.access & 2) != 0};

    int reads = 0;
    auto reader = [&](std::uint64_t gpa, unsigned n) -> std::optional<std::uint64_t> {
        ++reads;
        check(n == 4 || n == 8);
        if (gpa >= mem_size || mem_size - gpa < n) return std::nullopt;
        std::uint64_t v = 0;
        std::memcpy(&v, mem + gpa, n);
        return v;
    };

    const WalkResult r = translate_linear(s, h.linear, access, reader, h.maxphy);
    check(reads <= 5);
    if (!r.ok()) {
        check(r.fault != WalkFault::kNone);
        if (!access.write) check(r.fault != WalkFault::kWriteProtected);
        if (!access.user) check(r.fault != WalkFault::kUserProtected);
        return 0;
    }
    const std::uint64_t ps = r.translation.page_size;
    check(ps == 1ull << 12 || ps == 1ull << 21 || ps == 1ull << 22 || ps == 1ull << 30);
    check((r.translation.gpa & (ps - 1)) == (h.linear & (ps - 1)));
    check(r.translation.gpa < (1ull << 52));
    if (access.user) check(r.translation.user);
    if (access.write && (access.user || (s.cr0 & (1ull << 16)))) check(r.translation.writable);
    return 0;
}
