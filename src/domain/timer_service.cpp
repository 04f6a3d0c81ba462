#include <cstdint>
#include "domain/timer_service.hpp"

namespace xenolith::domain {

TimerService::TimerService() : thread_([this] { run(); }) {}

TimerService::~TimerService() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

TimerService::Id TimerService::schedule(Clock::time_point when, std::function<void()> fn) {
    std::lock_guard lock(mu_);
    const Id id = next_id_++;
    queue_.emplace(when, std::make_pair(id, std::move(fn)));
    cv_.notify_all();
    return id;
}

void TimerService::cancel(Id id) {
    std::unique_lock lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (it->second.first == id) {
            queue_.erase(it);
            return;
        }
    }
    if (std::this_thread::get_id() != thread_.get_id())
        done_cv_.wait(lock, [&] { return running_ != id; });
}

void TimerService::run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        if (queue_.empty()) {
            cv_.wait(lock);
            continue;
        }
        auto it = queue_.begin();
        if (it->first > Clock::now()) {
            // Copy the deadline: cancel() may erase the entry while we wait.
            const Clock::time_point when = it->first;
            cv_.wait_until(lock, when);
            continue;
        }
        auto fn = std::move(it->second.second);
        running_ = it->second.first;
        queue_.erase(it);
        lock.unlock();
        fn();
        lock.lock();
        running_ = 0;
        done_cv_.notify_all();
    }
}

}  // namespace xenolith::domain
