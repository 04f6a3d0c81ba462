// Queues watch events on connections, bounded per connection, dropping an
// event identical to one still queued (as C xenstored) and events too long
// for one message. Remembers which connections have new events so the
// transport can kick them.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "xenstore/connection.hpp"

namespace xenolith::xenstore {

class Outbox {
public:
    Outbox(std::size_t max_unprivileged, std::size_t max_privileged)
        : max_unpriv_(max_unprivileged), max_priv_(max_privileged) {}

    void push(Connection& conn, std::string_view path, std::string_view token);
    static std::optional<WatchEvent> pop(Connection& conn);
    static void clear(Connection& conn);

    std::vector<ConnId> take_woken();

private:
    std::size_t max_unpriv_;
    std::size_t max_priv_;
    std::vector<ConnId> woken_;
};

}  // namespace xenolith::xenstore
