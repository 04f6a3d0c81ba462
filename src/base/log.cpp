#include "base/log.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>

namespace xenolith::log {
namespace {
std::atomic<Level> g_level{Level::info};
const char* name(Level l) {
    switch (l) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warn";
        case Level::error: return "error";
    }
    return "?";
}
}  // namespace

void set_level(Level level) { g_level = level; }
bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view msg) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    std::fprintf(stderr, "[%lld.%03ld] %s: %.*s\n", static_cast<long long>(ts.tv_sec),
                 ts.tv_nsec / 1000000, name(level), static_cast<int>(msg.size()), msg.data());
}

}  // namespace xenolith::log
