// Every watch of every connection, indexed by watched path, so a change
// looks up only its own path and its ancestors instead of scanning all
// watches. Firing checks that the watcher may read the node (or its parent,
// or the node before the change), as C xenstored does.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xenstore/connection.hpp"
#include "xenstore/outbox.hpp"
#include "xenstore/store.hpp"
#include "xenstore/view.hpp"

namespace xenolith::xenstore {

class WatchTable {
public:
    // Adds `w` to `conn.watches` and the index; returns the stored watch.
    const Watch& add(Connection& conn, Watch w);
    // False if `conn` has no such watch.
    bool remove(Connection& conn, std::string_view path, std::string_view token);
    void remove_all(Connection& conn);
    static const Watch* find(const Connection& conn, std::string_view path,
                             std::string_view token);

    // Queues an event for every watch `change` matches, on the committed store.
    void fire(const Change& change, const Store& store, Outbox& out) const;
    // @introduceDomain / @releaseDomain: `plain` fires "<name>" on watches
    // without a depth; `with_domid` fires "<name>/<domid>" on watches of that
    // path and on depth-limited watches of "<name>".
    void fire_special(std::string_view name, domid_t domid, bool plain, bool with_domid,
                      const Store& store, Outbox& out) const;

    std::size_t size() const { return count_; }

private:
    struct Ref {
        Connection* conn;
        const Watch* watch;
    };
    void deliver(const Ref& r, std::string_view event_path, Outbox& out) const;

    std::unordered_map<std::string, std::vector<Ref>, PathHash, std::equal_to<>> by_path_;
    std::size_t count_ = 0;
};

}  // namespace xenolith::xenstore
