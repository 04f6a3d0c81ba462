// xenstored inside xenolithd: the Server, its unix socket, the guests'
// rings, and one thread running an epoll loop over all of them.
//
// Threads and locks:
//  - the xenstore thread owns the loop; it takes `mu_` (the Server, every
//    connection, every ring) for each batch of work;
//  - xenolithd threads (xl requests, the death handler) call the public methods,
//    which take `mu_` too and then kick the loop to deliver watch events;
//  - a guest's notification runs on its vCPU thread and only queues the
//    domain id and writes an eventfd (Kicker: a leaf lock), so a vCPU never
//    waits for xenstore work;
//  - with `mu_` held the service calls into event channels (bind, send,
//    close through RingHost), never the other way round: `mu_` comes before
//    the event-channel locks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/accept_guard.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "xenstore/domain_nodes.hpp"
#include "xenstore/out_queue.hpp"
#include "xenstore/ring_transport.hpp"
#include "xenstore/server.hpp"
#include "xenstore/socket_transport.hpp"

namespace xenolith::xenstore {

// A connected ring, as the hypervisor hands it over.
struct RingBinding {
    xenstore_domain_interface* page = nullptr;
    std::function<void()> notify;  // send an event to the guest
    // Keeps the page mapped and the channel bound; releasing it unbinds.
    std::shared_ptr<void> hold;
};

// What the hypervisor provides: map a domain's ring and bind domain 0's
// end of its store channel. `on_event` runs (on any thread, with no lock
// held) whenever the guest notifies.
class RingHost {
public:
    virtual ~RingHost() = default;
    virtual XsResult<RingBinding> connect(domid_t domid, std::int64_t gfn, evtchn_port_t port,
                                          std::function<void()> on_event) = 0;
};

struct ServiceOptions {
    std::string socket_path;  // empty: no host socket (tests)
    ServerConfig server;
    // Limits per connection: output waiting before the transport stops
    // reading requests and pulling watch events.
    std::size_t max_queued_output = 64 * 1024;
};

class XenstoreService final : private DomainHooks {
public:
    // Listens on the socket, writes domain 0's nodes and starts the thread.
    static Result<std::unique_ptr<XenstoreService>> start(const ServiceOptions& opts,
                                                          RingHost* rings);
    ~XenstoreService() override;
    XenstoreService(const XenstoreService&) = delete;
    XenstoreService& operator=(const XenstoreService&) = delete;

    // Stops the thread, closes every client and removes the socket file.
    void stop();
    const std::string& socket_path() const { return opts_.socket_path; }

    // A new domain: its nodes (domain_setup_requests), then INTRODUCE
    // (ring + channel through RingHost, @introduceDomain).
    XsErr domain_created(const DomainRecord& record);
    // The guest shut down (any thread, any lock held: only queued).
    void domain_shutdown(domid_t domid);
    // The domain is gone: its nodes, its ring, @releaseDomain.
    void domain_destroyed(domid_t domid);
    // The domain was soft-reset (libxl re-introduces it): its shutdown is
    // taken into account even if still queued, then the ring is rebound to
    // the new store channel and the domain counts as running again.
    XsErr domain_soft_reset(domid_t domid, std::uint64_t store_gfn, evtchn_port_t store_port);

    // A back-end process's connection: the back-end's end of a new
    // socketpair, served like a socket client but confined to `scope`
    // (scope.hpp): it acts as scope.domid, unprivileged, and everything
    // outside the scope's prefixes is EACCES. Closing the fd disconnects.
    Result<UniqueFd> connect_scoped(const Scope& scope);

    // One request on xenolithd's own privileged connection.
    Reply request(const Message& m);
    std::optional<std::string> read(const std::string& path);
    XsErr write(const std::string& path, const std::string& value);
    // Runs `body` on xenolithd's own privileged connection with the store to
    // itself (several requests as one step, e.g. a device's transaction),
    // then delivers the watch events it fired. `body` must not call back
    // into the service.
    XsErr with_own_connection(const std::function<XsErr(Server&, Connection&)>& body);

    // Waits until `done(value of path)` (nullopt: no such node) holds or
    // the deadline passes; re-evaluated after every change to the store.
    using NodeTest = std::function<bool(const std::optional<std::string>&)>;
    bool wait_for_node(const std::string& path, const NodeTest& done,
                       std::chrono::steady_clock::time_point deadline);

    // Counters for tests and `xl dmesg`-style diagnostics.
    struct Stats {
        std::size_t socket_clients = 0;
        std::size_t rings = 0;
        std::uint64_t rings_failed = 0;
        std::uint64_t sockets_dropped = 0;  // closed for protocol violations
    };
    Stats stats();

private:
    struct Kicker;
    struct Ring {
        domid_t domid = 0;
        RingBinding binding;
        RingTransport ring;
        MessageReader reader;
        OutQueue out;
    };

    XenstoreService(const ServiceOptions& opts, RingHost* rings);

    // DomainHooks (called by the Server with mu_ held).
    XsErr introduce(domid_t domid, std::int64_t gfn, evtchn_port_t port) override;
    void release(domid_t domid) override;

    void run();
    void accept_clients();
    // Registers an accepted or scoped client (mu_ held); false if refused.
    bool add_client(UniqueFd fd, ConnId conn);
    // Out of descriptors with no spare to refuse a client with: stop
    // watching the listening socket for a while (else epoll spins on it).
    void pause_listening();
    void resume_listening_if_due();
    int wait_timeout_ms(bool busy) const;
    bool serve_client(ConnId id);  // true: more may be waiting
    bool send_client(SocketClient& c, Connection& conn);
    void close_client(ConnId id, bool violation);
    void update_interest(SocketClient& c);
    bool serve_ring(Ring& r);  // true: more may be waiting
    void fail_ring(Ring& r, std::uint32_t error, const char* why);
    bool flush_ring(Ring& r, bool* moved);
    void pull_events(Connection& conn, OutQueue& out);
    void deliver_events();
    void handle_kicks();
    Reply internal(const Message& m);  // mu_ held
    std::optional<std::string> read_locked(const std::string& path);
    void after_change();               // mu_ held: wake waiters if the store changed

    ServiceOptions opts_;
    RingHost* ring_host_;
    std::shared_ptr<Kicker> kicker_;
    UniqueFd listen_fd_;
    UniqueFd epoll_fd_;
    std::unique_ptr<AcceptGuard> accept_guard_;
    std::optional<std::chrono::steady_clock::time_point> listen_paused_until_;

    std::mutex mu_;
    std::condition_variable changed_;
    Server server_;
    ConnId self_ = 0;  // xenolithd's own privileged connection
    std::unordered_map<ConnId, std::unique_ptr<SocketClient>> clients_;
    std::map<domid_t, std::unique_ptr<Ring>> rings_;
    std::uint64_t seen_generation_ = 0;
    Stats stats_;

    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace xenolith::xenstore
