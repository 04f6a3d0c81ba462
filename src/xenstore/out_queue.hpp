// Messages waiting to go out on one connection (socket or ring), in order.
// The transport writes the front message in pieces; when a reply has left
// completely it tells the Server (reply_sent), which is what the
// "outstanding" quota counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "base/bytes.hpp"

namespace xenolith::xenstore {

class OutQueue {
public:
    void push(std::vector<std::uint8_t> bytes, bool reply) {
        bytes_ += bytes.size();
        items_.push_back(Item{std::move(bytes), 0, reply});
    }

    bool empty() const { return items_.empty(); }
    // Bytes not yet written.
    std::size_t bytes() const { return bytes_; }

    // What is left of the front message.
    ByteSpan front() const {
        const Item& it = items_.front();
        return ByteSpan(it.data.data() + it.sent, it.data.size() - it.sent);
    }

    // `n` bytes of the front message were written (n <= front().size()).
    // True if that finished a reply.
    bool advance(std::size_t n) {
        Item& it = items_.front();
        it.sent += n;
        bytes_ -= n;
        if (it.sent < it.data.size()) return false;
        const bool reply = it.reply;
        items_.pop_front();
        return reply;
    }

    void clear() {
        items_.clear();
        bytes_ = 0;
    }

private:
    struct Item {
        std::vector<std::uint8_t> data;
        std::size_t sent = 0;
        bool reply = false;
    };
    std::deque<Item> items_;
    std::size_t bytes_ = 0;
};

}  // namespace xenolith::xenstore
