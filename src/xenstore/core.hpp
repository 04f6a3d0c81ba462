// Everything the xenstore service holds, and the operations shared by the
// request handlers and the Server API. Internal to src/xenstore: transports
// and daemons use server.hpp. Single-threaded: the caller serializes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

extern "C" {
#include <xen/event_channel.h>
}

#include "xenstore/connection.hpp"
#include "xenstore/outbox.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/store.hpp"
#include "xenstore/tree_ops.hpp"
#include "xenstore/watch_table.hpp"

namespace xenolith::xenstore {

struct ServerConfig {
    // The control domain's id: its connections are privileged, like the host
    // socket. With the default 0 only the socket is.
    domid_t priv_domid = 0;
    // Watch events queued per connection (and the memory they hold, see
    // Outbox::event_cost) before further ones are dropped. C xenstored
    // charges a guest's queued events to its memory quota (2.5 MiB) and
    // drops what exceeds it (XSA-326), and limits nothing for dom0; here a
    // host client that never reads is bounded too: 65536 events of a long
    // path and token held ~540 MB before.
    std::size_t max_pending_events = 1024;
    std::size_t max_pending_events_privileged = 65536;
    std::size_t max_pending_event_bytes = 512 * 1024;
    std::size_t max_pending_event_bytes_privileged = 8 * 1024 * 1024;
};

// What the core needs from the outside when domains come and go.
class DomainHooks {
public:
    virtual ~DomainHooks() = default;
    // INTRODUCE: connect the domain's ring page (at `gfn`, also grant
    // GNTTAB_RESERVED_XENSTORE) and bind its unbound event channel `port`.
    // Called again for an introduced domain to rebind the channel. A non-ok
    // result fails the INTRODUCE with that error.
    virtual XsErr introduce(domid_t domid, std::int64_t gfn, evtchn_port_t port) = 0;
    // RELEASE or destruction: unbind and unmap.
    virtual void release(domid_t domid) = 0;
};

struct DomainState {
    bool introduced = false;
    bool shutdown = false;  // @releaseDomain already fired for a shutdown
    ConnId conn = 0;
    std::int64_t gfn = 0;
    evtchn_port_t port = 0;
};

// CONTROL "log" switches.
inline constexpr std::array<const char*, 3> kTraceSwitches = {"io", "watch", "txn"};

class Core {
public:
    Core(const ServerConfig& cfg, DomainHooks* hooks);

    Connection& add_connection(ConnKind kind, domid_t domid);
    Connection* find(ConnId id);
    Connection* domain_connection(domid_t domid);
    // Drops watches, transactions and queued events (RESET_WATCHES keeps the
    // events; this is for resets of the whole connection).
    void reset_connection(Connection& c);
    void remove_connection(ConnId id);

    bool privileged_domid(domid_t d) const { return d == config.priv_domid; }
    Caller caller(const Connection& c) const;
    std::uint64_t memory_used(const Connection& c) const;
    // "nodes" limit for nodes owned by `domid` (0: unlimited).
    std::uint32_t node_limit(domid_t domid) const;
    void note_usage(Connection& c, const Caller& caller, const Transaction* tx);

    void fire(const std::vector<Change>& changes);
    bool tracing(std::size_t sw) const { return trace[sw]; }

    // Domain lifecycle (domain_lifecycle.cpp).
    XsErr introduce(domid_t domid, std::int64_t gfn, evtchn_port_t port);
    XsErr release(domid_t domid);
    XsErr resume(domid_t domid);
    void shutdown(domid_t domid);
    void destroy(domid_t domid);

    ServerConfig config;
    DomainHooks* hooks;
    Store store;
    WatchTable watches;
    Quotas quotas;
    UsageMaxima maxima;
    Outbox outbox;
    std::map<domid_t, DomainState> domains;
    std::unordered_map<ConnId, std::unique_ptr<Connection>> conns;
    std::array<bool, kTraceSwitches.size()> trace{};
    bool logging = true;

private:
    void remove_orphans(domid_t domid);
    ConnId next_id_ = 1;
};

}  // namespace xenolith::xenstore
