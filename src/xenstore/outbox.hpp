// Queues watch events on connections, bounded per connection in number and
// in memory, dropping an event identical to one still queued (as C
// xenstored), events too long for one message and events over the bounds
// (logged once per connection, counted in dropped_events). Remembers which
// connections have new events so the transport can kick them.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "xenstore/connection.hpp"

namespace xenolith::xenstore {

struct OutboxLimits {
    std::size_t max_events;
    std::size_t max_events_privileged;
    std::size_t max_bytes;
    std::size_t max_bytes_privileged;
};

class Outbox {
public:
    explicit Outbox(const OutboxLimits& limits) : limits_(limits) {}

    // Memory one queued event holds: its strings, its queue entry and its
    // key in pending_keys (an estimate of the allocator's real cost).
    static std::size_t event_cost(std::string_view path, std::string_view token) {
        return 2 * (path.size() + token.size()) + 160;
    }

    void push(Connection& conn, std::string_view path, std::string_view token);
    static std::optional<WatchEvent> pop(Connection& conn);
    static void clear(Connection& conn);

    std::vector<ConnId> take_woken();

private:
    OutboxLimits limits_;
    std::vector<ConnId> woken_;
};

}  // namespace xenolith::xenstore
