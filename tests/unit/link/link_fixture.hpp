// A link between a back-end and its server for tests: a SOCK_SEQPACKET
// pair, the server driven by its own thread (as xenolithd's loop would),
// and helpers to look at server-side state under that thread's lock.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "backend/link/link_server.hpp"

namespace xenolith::backend::link::test {

struct SocketPair {
    int server = -1, client = -1;
    SocketPair() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        server = sv[0];
        client = sv[1];
    }
};

// Runs server.handle() whenever its fd is readable, under a lock the test
// takes to look at what the server and its provider hold.
class ServerThread {
public:
    explicit ServerThread(LinkServer& server) : server_(server), thread_([this] { loop(); }) {}
    ~ServerThread() {
        stop_ = true;
        thread_.join();
    }

    template <class F>
    auto with(F f) {
        std::lock_guard lock(mu_);
        return f();
    }
    // Waits (at most 5 s) until `pred` holds under the lock.
    template <class F>
    bool until(F pred) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            if (with(pred)) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return false;
    }

private:
    void loop() {
        while (!stop_) {
            pollfd p{server_.fd(), POLLIN, 0};
            ::poll(&p, 1, 5);
            std::lock_guard lock(mu_);
            server_.handle();
        }
    }

    LinkServer& server_;
    std::mutex mu_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace xenolith::backend::link::test
