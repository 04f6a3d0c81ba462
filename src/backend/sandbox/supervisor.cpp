#include "backend/sandbox/supervisor.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace xenolith::backend::sandbox {

Supervisor::Supervisor(Launch launch, Gone gone, RestartPolicy policy)
    : launch_(std::move(launch)), gone_(std::move(gone)), policy_(policy),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) {
    if (!epoll_.valid() || !timer_.valid())
        throw std::runtime_error(std::string("supervisor: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = timer_.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timer_.get(), &ev) != 0)
        throw std::runtime_error(std::string("supervisor: epoll: ") + std::strerror(errno));
}

void Supervisor::watch(const BackendProcess& p) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = p.pidfd();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, p.pidfd(), &ev);
}

Status Supervisor::start() {
    auto p = launch_();
    if (!p) return p.error();
    proc_.emplace(std::move(p).value());
    watch(*proc_);
    return ok_status();
}

void Supervisor::stop() {
    given_up_ = true;
    timer_armed_ = false;
    itimerspec off{};
    ::timerfd_settime(timer_.get(), 0, &off, nullptr);
    if (proc_) {
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, proc_->pidfd(), nullptr);
        proc_.reset();  // kills and reaps
    }
}

void Supervisor::handle() {
    if (proc_) {
        if (auto e = proc_->try_reap()) {
            ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, proc_->pidfd(), nullptr);
            proc_.reset();
            went_away(std::move(*e));
        }
    }
    std::uint64_t expirations = 0;
    if (timer_armed_ && ::read(timer_.get(), &expirations, sizeof expirations) > 0) {
        timer_armed_ = false;
        relaunch();
    }
}

// Decides between another launch after a back-off and giving up.
void Supervisor::went_away(ExitInfo e) {
    if (given_up_) return;
    // Exit status 0 is a back-end whose device is gone: its work is done.
    if (!e.signaled && e.code == 0 && e.launch_error.empty()) {
        finished_ = true;
        gone_(e, false);
        return;
    }
    auto now = Clock::now();
    while (!recent_.empty() && now - recent_.front() >= policy_.window) recent_.pop_front();
    if (recent_.size() >= policy_.max_restarts) {
        given_up_ = true;
        gone_(e, false);
        return;
    }
    recent_.push_back(now);
    auto backoff = policy_.first_backoff;
    for (std::size_t i = 1; i < recent_.size() && backoff < policy_.max_backoff; ++i) backoff *= 2;
    // At least 1 ms: a zero timerfd value would disarm it, never firing.
    backoff = std::max(std::min(backoff, policy_.max_backoff), std::chrono::milliseconds(1));
    gone_(e, true);
    itimerspec when{};
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(backoff).count();
    when.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    when.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    ::timerfd_settime(timer_.get(), 0, &when, nullptr);
    timer_armed_ = true;
}

void Supervisor::relaunch() {
    auto p = launch_();
    ++restarts_;
    if (!p) {
        ExitInfo e;
        e.launch_error = p.error().what;
        went_away(std::move(e));
        return;
    }
    proc_.emplace(std::move(p).value());
    watch(*proc_);
}

}  // namespace xenolith::backend::sandbox
