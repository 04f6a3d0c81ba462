// The xenstore service with no I/O: what a transport (guest ring + event
// channel, the /run/xenstored/socket unix socket) and xenolithd call.
//
// Transport contract:
//  - one Connection per socket client (connect_socket) or per introduced
//    domain (created by INTRODUCE / introduce_domain; find it with
//    domain_connection);
//  - feed bytes to a MessageReader per connection; a reader error means
//    "close this connection" (socket) or "stop serving the ring"
//    (disconnect);
//  - handle() each complete message and send the reply, then the queued
//    watch events of every connection listed by take_woken() (next_event);
//  - call reply_sent() once a reply has gone out, and stop reading a
//    connection while may_read() is false (the "outstanding" quota).
// Not thread-safe: call from one thread or under one lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/result.hpp"
#include "xenstore/connection.hpp"
#include "xenstore/core.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore {

class Server {
public:
    explicit Server(const ServerConfig& cfg = {}, DomainHooks* hooks = nullptr);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // A host client on the unix socket: dom0, privileged.
    Connection& connect_socket();
    // A confined client (a back-end process): unprivileged, acting as
    // scope.domid, only inside the scope's prefixes (scope.hpp). EINVAL for
    // prefixes that are not canonical absolute paths.
    XsResult<ConnId> connect_scoped(const Scope& scope);
    Connection* connection(ConnId id);
    Connection* domain_connection(domid_t domid);
    // Socket closed or protocol violation. A socket connection is removed; a
    // domain's ring loses its watches and transactions and is ignored until
    // the next INTRODUCE (the domain stays introduced, as in C xenstored).
    void disconnect(ConnId id);
    // A domain's ring was reset by the guest (xenstore-ring.txt
    // reconnection): drop its watches, transactions and queued events and
    // serve it again if it was ignored.
    void reset_connection(ConnId id);

    // Handles one request from `conn`.
    Reply handle(Connection& conn, const Message& request);

    // Connections with newly queued watch events since the last call.
    std::vector<ConnId> take_woken();
    // The next watch event queued for `conn` (see watch_event_message()).
    std::optional<WatchEvent> next_event(Connection& conn);

    void reply_sent(Connection& conn);
    bool may_read(const Connection& conn) const;

    // xenolithd's side of domain management: INTRODUCE without a message,
    // and the notices C xenstored gets from VIRQ_DOM_EXC.
    XsErr introduce_domain(domid_t domid, std::int64_t gfn, evtchn_port_t port);
    void domain_shutdown(domid_t domid);   // fires @releaseDomain once
    void domain_destroyed(domid_t domid);  // drops its nodes, fires @releaseDomain

    const Store& store() const { return core_->store; }
    Quotas& quotas() { return core_->quotas; }
    Status check() const { return core_->store.check(); }

private:
    std::unique_ptr<Core> core_;
};

}  // namespace xenolith::xenstore
