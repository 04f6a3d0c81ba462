// One thread that fires deadlines for every domain (set_timer_op and, later,
// periodic timers). Callbacks run on the timer thread and must be short.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace xenolith::domain {

class TimerService {
public:
    using Clock = std::chrono::steady_clock;
    using Id = std::uint64_t;

    TimerService();
    ~TimerService();
    TimerService(const TimerService&) = delete;
    TimerService& operator=(const TimerService&) = delete;

    Id schedule(Clock::time_point when, std::function<void()> fn);
    // Removes a pending timer; if its callback is running on the timer
    // thread right now, waits for it to finish (so the caller may free what
    // the callback uses). Must not be called with a lock the callback takes.
    void cancel(Id id);

private:
    void run();

    std::mutex mu_;
    std::condition_variable cv_;
    std::multimap<Clock::time_point, std::pair<Id, std::function<void()>>> queue_;
    Id next_id_ = 1;
    Id running_ = 0;  // the id whose callback is executing, 0 if none
    std::condition_variable done_cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace xenolith::domain
