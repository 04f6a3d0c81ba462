// A client of the store: a unix-socket client on the host (privileged, dom0)
// or a domain's ring. The core keeps its watches, open transactions, the
// count of replies the transport has not yet delivered, and the watch events
// waiting to go out. The transport reads this state; the Server changes it.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "xenstore/perms.hpp"
#include "xenstore/scope.hpp"
#include "xenstore/transaction.hpp"
#include "xenstore/types.hpp"

namespace xenolith::xenstore {

enum class ConnKind : std::uint8_t { socket, domain };

struct Watch {
    std::string path;            // canonical: absolute or "@special"
    std::string token;
    std::size_t prefix_len = 0;  // stripped from event paths (relative watch)
    int depth = -1;              // levels below `path` to match; -1: any
};

// A watch event to deliver as XS_WATCH_EVENT "<path>\0<token>\0" with
// req_id and tx_id 0.
struct WatchEvent {
    ConnId conn = 0;
    std::string path;
    std::string token;
};

struct Connection {
    ConnId id = 0;
    ConnKind kind = ConnKind::socket;
    domid_t domid = 0;
    bool privileged = false;
    std::optional<domid_t> target;  // SET_TARGET: acts for this domain too
    // Protocol violation on a ring: nothing is processed until INTRODUCE.
    bool ignored = false;
    // A confined (back-end) connection: unprivileged, acting as
    // scope->domid, limited to its prefixes (scope.hpp). Null: unconfined.
    std::shared_ptr<const Scope> scope;

    std::list<Watch> watches;  // a list: the watch index points into it
    std::uint64_t watch_bytes = 0;

    std::map<std::uint32_t, std::unique_ptr<Transaction>> transactions;
    std::uint32_t next_tx_id = 1;

    std::uint32_t outstanding = 0;  // replies handed out, not yet delivered
    bool over_soft_memory = false;  // warned about the soft memory quota

    std::deque<WatchEvent> events;
    std::unordered_set<std::string> pending_keys;  // "path\0token" of queued non-special events
    std::size_t event_bytes = 0;  // Outbox::event_cost of the queued events
    std::uint64_t dropped_events = 0;
    bool woken = false;  // listed in the next Server::take_woken()

    Identity identity() const { return Identity{domid, privileged, target}; }
};

}  // namespace xenolith::xenstore
