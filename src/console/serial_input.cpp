#include "console/serial_input.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "base/log.hpp"

namespace xenolith::console {

SerialInput::~SerialInput() { stop(); }

Status SerialInput::start(const std::string& path, std::function<void()> notify) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return make_error(fmt::format("serial input {}: {}", path, std::strerror(errno)));
    const int mode = S_ISFIFO(st.st_mode) ? O_RDWR : O_RDONLY;
    fd_.reset(::open(path.c_str(), mode | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd_.valid())
        return make_error(fmt::format("serial input {}: {}", path, std::strerror(errno)));
    stop_fd_.reset(::eventfd(0, EFD_CLOEXEC));
    if (!stop_fd_.valid()) return make_error(fmt::format("eventfd: {}", std::strerror(errno)));
    notify_ = std::move(notify);
    thread_ = std::thread([this] { reader(); });
    return ok_status();
}

void SerialInput::stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
}

void SerialInput::push(char c) {
    std::lock_guard lock(mu_);
    if (prod_ - cons_ == kRingSize) return;  // full: the byte is lost, as on Xen
    ring_[prod_++ % kRingSize] = c;
}

std::size_t SerialInput::peek(char* out, std::size_t max) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (std::size_t i = cons_; n < max && i != prod_; ++i) out[n++] = ring_[i % kRingSize];
    return n;
}

void SerialInput::consume(std::size_t n) {
    std::lock_guard lock(mu_);
    cons_ += std::min(n, prod_ - cons_);
}

void SerialInput::reader() {
    char buf[256];
    for (;;) {
        pollfd p[2] = {{fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            log::warn("serial input: poll: {}", std::strerror(errno));
            return;
        }
        if (p[1].revents) return;
        const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) return;  // end of a file or terminal: nothing more will come
        for (ssize_t i = 0; i < n; ++i) push(buf[i]);
        if (notify_) notify_();
    }
}

}  // namespace xenolith::console
