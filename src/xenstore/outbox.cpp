#include "xenstore/outbox.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_set>

extern "C" {
#include <xen/io/xs_wire.h>
}

#include "base/log.hpp"
#include "xenstore/path.hpp"

namespace xenolith::xenstore {

namespace {

std::string key_of(std::string_view path, std::string_view token) {
    std::string k;
    k.reserve(path.size() + 1 + token.size());
    k += path;
    k += '\0';
    k += token;
    return k;
}

}  // namespace

void Outbox::push(Connection& conn, std::string_view path, std::string_view token) {
    if (path.size() + token.size() + 2 > XENSTORE_PAYLOAD_MAX) return;
    const bool special = is_special(path);
    if (!special) {
        auto [it, fresh] = conn.pending_keys.insert(key_of(path, token));
        (void)it;
        if (!fresh) return;
    }
    const std::size_t cap =
        conn.privileged ? limits_.max_events_privileged : limits_.max_events;
    const std::size_t max_bytes =
        conn.privileged ? limits_.max_bytes_privileged : limits_.max_bytes;
    const std::size_t cost = event_cost(path, token);
    if (conn.events.size() >= cap || conn.event_bytes + cost > max_bytes) {
        if (!special) conn.pending_keys.erase(key_of(path, token));
        if (conn.dropped_events++ == 0)
            log::warn("xenstore: dom{} connection {}: event queue full ({} events, {} bytes), "
                      "dropping watch events",
                      conn.domid, conn.id, conn.events.size(), conn.event_bytes);
        return;
    }
    conn.event_bytes += cost;
    conn.events.push_back(WatchEvent{conn.id, std::string(path), std::string(token)});
    if (!conn.woken) {
        conn.woken = true;
        woken_.push_back(conn.id);
    }
}

std::optional<WatchEvent> Outbox::pop(Connection& conn) {
    if (conn.events.empty()) return std::nullopt;
    WatchEvent ev = std::move(conn.events.front());
    conn.events.pop_front();
    conn.event_bytes -= event_cost(ev.path, ev.token);
    if (!is_special(ev.path)) conn.pending_keys.erase(key_of(ev.path, ev.token));
    return ev;
}

void Outbox::clear(Connection& conn) {
    // Swapped out rather than cleared, so their blocks and buckets go too.
    std::deque<WatchEvent>().swap(conn.events);
    std::unordered_set<std::string>().swap(conn.pending_keys);
    conn.event_bytes = 0;
}

std::vector<ConnId> Outbox::take_woken() {
    std::vector<ConnId> out;
    out.swap(woken_);
    return out;
}

}  // namespace xenolith::xenstore
