#include <cstdint>
#include "domain/hypervisor_log.hpp"

namespace xenolith::domain {

void HypervisorLog::append_line(std::string line) {
    std::lock_guard lock(mu_);
    bytes_ += line.size() + 1;
    lines_.push_back(std::move(line));
    while (bytes_ > max_bytes_ && !lines_.empty()) {
        bytes_ -= lines_.front().size() + 1;
        lines_.pop_front();
    }
}

std::vector<std::string> HypervisorLog::lines() const {
    std::lock_guard lock(mu_);
    return {lines_.begin(), lines_.end()};
}

void HypervisorLog::clear() {
    std::lock_guard lock(mu_);
    lines_.clear();
    bytes_ = 0;
}

}  // namespace xenolith::domain
