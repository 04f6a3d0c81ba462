// What an accept loop does when the process is out of file descriptors (or
// the kernel out of memory for a socket). Linux's accept() fails with EMFILE
// before it looks at the queue, so a blocking accept returns at once and a
// level-triggered listening fd stays readable: without care the loop spins at
// 100% CPU and logs each failure. AcceptGuard keeps one spare descriptor:
// at the limit it gives the spare back, accepts one waiting client and closes
// it (the client sees its connection refused instead of hanging in the
// backlog), then takes the spare again. It logs once per episode.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/log.hpp"
#include "base/unique_fd.hpp"

namespace xenolith {

class AcceptGuard {
public:
    explicit AcceptGuard(std::string what) : what_(std::move(what)) { take_spare(); }

    static bool out_of_resources(int err) {
        return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
    }

    enum class Refusal {
        refused,      // one waiting client was closed: try the next
        none_waiting, // nobody is waiting (the listening fd must be non-blocking)
        no_spare,     // no spare fd: stop accepting for a while, do not retry at once
    };

    // After accept() failed with `err` (out_of_resources): logs once, then
    // refuses one waiting client with the spare fd. Without a spare (another
    // thread took the freed number) the caller must back off.
    Refusal refuse_one(int listen_fd, int err) {
        if (!exhausted_) {
            log::warn("{}: {}; refusing connections until descriptors are free", what_,
                      std::strerror(err));
            exhausted_ = true;
        }
        if (!spare_.valid()) {
            take_spare();
            return Refusal::no_spare;
        }
        spare_.reset();
        UniqueFd client(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        const bool refused = client.valid();
        client.reset();
        take_spare();
        if (!spare_.valid()) return Refusal::no_spare;
        return refused ? Refusal::refused : Refusal::none_waiting;
    }

    // A connection was accepted: the episode, if any, is over.
    void accepted() {
        if (!exhausted_) return;
        exhausted_ = false;
        log::info("{}: accepting connections again", what_);
    }

private:
    void take_spare() { spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

    std::string what_;
    UniqueFd spare_;
    bool exhausted_ = false;
};

}  // namespace xenolith
