// The hypervisor's serial input, as Xen's serial_rx_ring: bytes arriving on
// xenolithd's serial line (a file, FIFO or terminal given with
// --serial-input) are kept in a 128-byte ring for the domain that owns
// VIRQ_CONSOLE, which is told on every byte (even when the ring is full, so
// the receive path cannot get stuck) and reads them with CONSOLEIO_read.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::console {

class SerialInput {
public:
    static constexpr std::size_t kRingSize = 128;  // Xen's SERIAL_RX_SIZE

    SerialInput() = default;
    ~SerialInput();
    SerialInput(const SerialInput&) = delete;
    SerialInput& operator=(const SerialInput&) = delete;

    // Starts reading `path` on a thread; `notify` runs after each chunk of
    // bytes (send_global_virq(VIRQ_CONSOLE)). A FIFO is held open for
    // writing too, so writers may come and go without an end of file.
    Status start(const std::string& path, std::function<void()> notify);
    void stop();

    // __serial_rx: keep the byte if there is room.
    void push(char c);
    // CONSOLEIO_read: copies up to `max` bytes, oldest first, without
    // consuming them; consume() then drops what reached the guest.
    std::size_t peek(char* out, std::size_t max);
    void consume(std::size_t n);

private:
    void reader();

    std::mutex mu_;
    char ring_[kRingSize] = {};
    std::size_t prod_ = 0, cons_ = 0;  // free-running, as Xen's indexes
    UniqueFd fd_;
    UniqueFd stop_fd_;  // eventfd: wakes the reader to exit
    std::function<void()> notify_;
    std::thread thread_;
};

}  // namespace xenolith::console
