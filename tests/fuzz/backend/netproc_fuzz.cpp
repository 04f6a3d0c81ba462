// libFuzzer target for what the network back-end process parses that is
// new: its command line (netback_args; the launcher is trusted, but a wrong
// argv must be refused, never misread) and the vif's `rate` node (written
// by the toolstack into a directory the guest cannot write, still parsed
// strictly), plus the credit limiter fed any sizes and clock steps. The
// first byte picks the target; the rest is its input.
//   build-fuzz/tests/fuzz/backend/netproc_fuzz -max_total_time=60 corpus-dir
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/net/credit.hpp"
#include "backend/net/netback_args.hpp"

using namespace xenolith::backend::net;

namespace {

void fuzz_args(const std::uint8_t* p, std::size_t n) {
    // NUL-separated arguments after the program name.
    std::vector<std::string> argv{"xenolith-netback"};
    std::string cur;
    for (std::size_t i = 0; i < n; ++i) {
        if (p[i] == 0) {
            argv.push_back(cur);
            cur.clear();
        } else {
            cur += static_cast<char>(p[i]);
        }
    }
    argv.push_back(cur);
    auto a = parse_netback_args(argv);
    if (!a) return;
    // What parses must survive the launcher's round trip unchanged.
    auto b = parse_netback_args(to_argv(*a));
    if (!b || b->frontend != a->frontend || b->devid != a->devid || b->queues != a->queues ||
        b->backend_path != a->backend_path || b->frontend_path != a->frontend_path ||
        b->csum_offload != a->csum_offload || b->relaunched != a->relaunched)
        std::abort();
    if (a->queues == 0 || a->queues > kMaxTapQueues) std::abort();
}

void fuzz_rate(const std::uint8_t* p, std::size_t n) {
    auto r = parse_rate(std::string_view(reinterpret_cast<const char*>(p), n));
    if (r && (r->bytes == 0 || r->window.count() <= 0)) std::abort();
}

// Bytes 0-3 the credit, 4-5 the window in µs, then (size, step) pairs: the
// credit taken must stay within one window's worth per window elapsed, plus
// one window of start-up credit, plus oversized packets (one per window).
void fuzz_credit(const std::uint8_t* p, std::size_t n) {
    if (n < 6) return;
    std::uint32_t bytes;
    std::uint16_t window;
    std::memcpy(&bytes, p, 4);
    std::memcpy(&window, p + 4, 2);
    if (bytes == 0 || window == 0) return;
    const auto t0 = CreditLimiter::Clock::time_point{};
    CreditLimiter c({bytes, std::chrono::microseconds(window)}, t0);
    auto now = t0;
    std::uint64_t taken = 0, largest = bytes;
    for (std::size_t i = 6; i + 4 <= n; i += 4) {
        std::uint16_t size, step;
        std::memcpy(&size, p + i, 2);
        std::memcpy(&step, p + i + 2, 2);
        now += std::chrono::microseconds(step);
        if (c.take(size, now)) {
            taken += size;
            if (size > largest) largest = size;
        }
        if (c.wait_ms(now) < 0) std::abort();
    }
    auto windows = static_cast<std::uint64_t>((now - t0) / std::chrono::microseconds(window));
    if (taken > (windows + 2) * largest) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    switch (data[0] % 3) {
    case 0: fuzz_args(data + 1, size - 1); break;
    case 1: fuzz_rate(data + 1, size - 1); break;
    default: fuzz_credit(data + 1, size - 1); break;
    }
    return 0;
}
