// WATCH, UNWATCH, RESET_WATCHES. The tx_id of WATCH and UNWATCH is ignored
// (dispatch table flag).
#include <climits>

#include "xenstore/args.hpp"
#include "xenstore/path.hpp"
#include "xenstore/request.hpp"

namespace xenolith::xenstore {

XsErr do_watch(Request& r) {
    auto args = split_strings(r.payload());
    int depth = -1;
    if (args.size() == 3) {
        auto d = parse_decimal(args[2], INT_MAX);
        if (!d) return XsErr::inval;
        depth = static_cast<int>(*d);
    } else if (args.size() != 2) {
        return XsErr::inval;
    }
    const std::string_view raw = args[0];
    const std::string_view token = args[1];
    auto path = r.path(raw, true);
    if (!path) return path.error();
    if (WatchTable::find(r.conn, *path, token)) return XsErr::exist;

    if (!r.conn.privileged) {
        const auto& q = r.core.quotas;
        if (exceeds(q.hard(Quota::watches), r.conn.watches.size() + 1)) return XsErr::nospc;
        if (exceeds(q.hard(Quota::memory),
                    r.core.memory_used(r.conn) + path->size() + token.size()))
            return XsErr::nomem;
    }

    Watch w;
    w.prefix_len = (raw[0] == '/' || raw[0] == '@') ? 0 : domain_path(r.conn.domid).size() + 1;
    w.path = std::move(path.value());
    w.token.assign(token);
    w.depth = depth;
    const Watch& stored = r.core.watches.add(r.conn, std::move(w));
    r.ack();
    // Every watch fires once when set up, with the path as registered. The
    // transport sends the reply before the queued events.
    r.core.outbox.push(r.conn, std::string_view(stored.path).substr(stored.prefix_len),
                       stored.token);
    return XsErr::ok;
}

XsErr do_unwatch(Request& r) {
    auto args = split_strings(r.payload());
    if (args.size() != 2) return XsErr::inval;
    auto path = r.path(args[0], true);
    if (!path) return path.error();
    if (!r.core.watches.remove(r.conn, *path, args[1])) return XsErr::noent;
    r.ack();
    return XsErr::ok;
}

XsErr do_reset_watches(Request& r) {
    r.core.watches.remove_all(r.conn);
    r.conn.transactions.clear();
    r.tx = nullptr;
    r.ack();
    return XsErr::ok;
}

}  // namespace xenolith::xenstore
