// The back-end half of one vif: its XenbusState machine, driven by the
// front end's `state` node and the back-end dir (`online`, `rate`), with
// one Netback per queue while Connected. It sees the system only through
// the Services and the TAP queue fds it was handed (already opened and
// attached by the toolstack's side), so it runs the same in a sandboxed
// back-end process. Linux's xen-netback (xenbus.c) is the behavioural
// reference; VbdDevice is the sibling it follows rule for rule.
//
// Hotplug: the device does not wait for `hotplug-status`. xenolithd runs
// the vif script (which puts the TAP on its bridge) before it launches the
// back-end, so by the time this runs the host side is ready and the offer
// and InitWait are written at once. (Linux's netback waits because there
// the kernel creates the interface and udev runs the script afterwards.)
//
// Queues: multi-queue-max-queues offered is the number of TAP fds handed;
// a front end asking for more is refused and the device goes Closed with
// an `error` node, as Linux does past its maximum. Queue q uses TAP fd q.
//
// Rate limiting: the back-end dir's `rate` ("<bytes>,<usecs>", libxl's
// format) feeds one CreditLimiter shared by all queues (Linux gives each
// queue the whole rate; a vif's rate here is the vif's). A changed value
// applies at once; a limit added or removed while connected applies from
// the next connection. A malformed value means unlimited, as in Linux.
//
// Single-threaded event loop: the owner waits on fds() (or simply calls
// poll_once(), which waits on exactly what is worth waiting for and
// dispatches precisely) and calls handle(); nothing blocks.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/net/credit.hpp"
#include "backend/net/netback.hpp"
#include "backend/net/xenbus_keys.hpp"
#include "backend/services.hpp"
#include "backend/xenbus_state.hpp"
#include "base/result.hpp"

namespace xenolith::backend::net {

struct VifConfig {
    std::string backend_path;   // /local/domain/<backend>/backend/vif/<domid>/<devid>
    std::string frontend_path;  // /local/domain/<domid>/device/vif/<devid>
    DomId frontend = 0;
    unsigned devid = 0;
    // One per queue, borrowed, non-blocking, with a vnet header; at least one.
    std::vector<int> tap_fds;
    bool csum_offload = true;  // false: feature-no-csum-offload (and no GSO) offered
    // TUNSETOFFLOAD to what the front end takes, at each connection.
    bool set_offload = true;
    unsigned budget = 64;
    unsigned rx_hold_ms = 1000;
    // A relaunch after the previous back-end process died: starts Closed
    // and offers the vif only after the front end resets (as VbdConfig).
    bool relaunched = false;
};

struct VifStats {
    std::uint64_t connections = 0;
    std::uint64_t fatal_errors = 0;
    std::uint64_t backwards_moves = 0;
};

class VifDevice {
public:
    // Registers the watches, writes the offer and moves to InitWait (Closed
    // when relaunched). An error only when xenstore refuses the back-end's
    // own nodes or no TAP fd was given.
    // `holder` holds the guest's data pages for the queues' TAP I/O.
    static Result<std::unique_ptr<VifDevice>> create(VifConfig cfg, Services services,
                                                     link::GrantHolder& holder);
    ~VifDevice();
    VifDevice(const VifDevice&) = delete;
    VifDevice& operator=(const VifDevice&) = delete;

    // The fds worth waiting on for readability; empty once done().
    std::vector<int> fds();
    // Milliseconds until a queue's deadline (rate window, held rx frame),
    // 0 when a queue has work left over, -1 for none.
    int timeout_ms();
    // Takes whatever is ready: watch events, notifications, TAP frames.
    void handle();
    // Waits up to `timeout_ms` (shortened by timeout_ms()) and handles;
    // false when nothing happened.
    bool poll_once(int timeout_ms);

    XenbusState state() const { return state_; }
    bool connected() const { return !queues_.empty() && state_ == XenbusStateConnected; }
    bool done() const { return done_; }
    const std::string& last_error() const { return last_error_; }
    const VifStats& stats() const { return stats_; }
    unsigned queues() const { return static_cast<unsigned>(queues_.size()); }
    const Netback* queue(unsigned q) const { return q < queues_.size() ? queues_[q].netback.get() : nullptr; }
    // The limiter in force (null: unlimited).
    const CreditLimiter* rate_limiter() const { return rate_active_ ? credit_.get() : nullptr; }

private:
    enum class Goal : std::uint8_t { none, quiesce, close, remove };

    VifDevice(VifConfig cfg, Services services, link::GrantHolder& holder);
    Status start();
    void read_nodes();
    void read_rate();
    void decide();
    bool step_goal();
    bool apply_frontend_rules();
    void connect();
    Status attach_queue(unsigned q, const QueueRings& rings, const FrontendFeatures& features);
    void drop_queues();
    void fatal(const std::string& message);
    void set_state(XenbusState s);
    void serve(std::vector<bool>* tap_ready);
    void check_failed(std::size_t q);

    struct Queue {
        std::unique_ptr<Netback> netback;
        Port tx_port = 0, rx_port = 0;
        bool kicked = false;
    };

    VifConfig cfg_;
    Services svc_;
    link::GrantHolder& holder_;
    Offer offer_;
    std::vector<Queue> queues_;
    std::unique_ptr<CreditLimiter> credit_;
    std::optional<RateLimit> rate_;  // as last read
    bool rate_active_ = false;       // credit_ given to the queues attached now

    XenbusState state_ = XenbusStateInitialising;
    Goal goal_ = Goal::none;
    bool done_ = false;
    bool backend_gone_ = false;
    bool online_ = true;
    bool fatal_pending_ = false;
    std::string fatal_message_;
    bool need_reset_ = false;

    bool fe_seen_ = false;
    bool fe_present_ = false;
    std::string fe_raw_;
    std::optional<XenbusState> fe_state_;
    XenbusState fe_prev_ = XenbusStateUnknown;

    std::string last_error_;
    VifStats stats_;
    std::vector<pollfd> pollfds_;  // poll_once's, kept for reuse
};

}  // namespace xenolith::backend::net
