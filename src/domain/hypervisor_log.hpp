// The hypervisor's own log, what `xl dmesg` prints: daemon messages and
// guests' console_io / port 0xe9 output, prefixed "(dN)" as Xen does.
// A bounded ring of lines: a chatty guest cannot grow it.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace xenolith::domain {

class HypervisorLog {
public:
    explicit HypervisorLog(std::size_t max_bytes = 256 * 1024) : max_bytes_(max_bytes) {}

    void append_line(std::string line);
    std::vector<std::string> lines() const;
    void clear();

private:
    mutable std::mutex mu_;
    std::deque<std::string> lines_;
    std::size_t bytes_ = 0;
    const std::size_t max_bytes_;
};

// Assembles a guest's byte stream into lines for the log, so partial writes
// do not make partial lines. One per (domain, source).
class LineAssembler {
public:
    static constexpr std::size_t kMaxLine = 1024;
    // Calls `emit` for each completed line (without the newline).
    template <class Emit>
    void feed(const char* data, std::size_t len, Emit&& emit) {
        for (std::size_t i = 0; i < len; ++i) {
            const char c = data[i];
            if (c == '\n' || pending_.size() >= kMaxLine) {
                emit(pending_);
                pending_.clear();
                if (c == '\n') continue;
            }
            if (c != '\r') pending_.push_back(c);
        }
    }

private:
    std::string pending_;
};

}  // namespace xenolith::domain
