// The back-end half of one vbd: its XenbusState machine, driven by the
// front end's `state` node and the back-end dir (`online`), with the ring
// served by a Blkback while Connected. It sees the system only through the
// Services and the disk it was handed (already opened by xenolithd), so it
// runs the same in a sandboxed back-end process. Linux's xen-blkback
// (xenbus.c) is the behavioural reference; where a front end misbehaves the
// decision taken is written next to the rule (and in ARCHITECTURE.md,
// "Back-ends", vbd lifecycle).
//
// Single-threaded event loop: the owner waits on fds() (the xenstore watch
// fd, and while rings are attached the event-channel fd and each queue's
// disk-completion fd) and calls handle() when any is readable. handle()
// never blocks. The EventChannels service must be this device's alone:
// handle() takes every pending port and routes it to the queue bound to it
// (one back-end process serves one device).
//
// Multi-queue (blkif.h "Multi-queue"): multi-queue-max-queues is offered
// when above one; the front end's multi-queue-num-queues rings each get a
// Blkback with its own port, its own persistent grants and its own
// UringDisk (io_uring and completion eventfd; queue 0 uses the disk it was
// handed, the others twins of it), so a queue's completions come back to it
// alone and queues could later run on threads of their own.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/blk/blkback.hpp"
#include "backend/blk/uring_disk.hpp"
#include "backend/blk/xenbus_keys.hpp"
#include "backend/services.hpp"
#include "backend/xenbus_state.hpp"
#include "base/result.hpp"

namespace xenolith::backend::blk {

struct VbdConfig {
    std::string backend_path;   // /local/domain/<backend>/backend/vbd/<domid>/<devid>
    std::string frontend_path;  // /local/domain/<domid>/device/vbd/<devid>
    DomId frontend = 0;
    unsigned devid = 0;
    bool readonly = false;  // mode=r: VDISK_READONLY, only reads served
    bool cdrom = false;     // device-type=cdrom: VDISK_CDROM | VDISK_REMOVABLE, read-only
    std::uint32_t physical_sector_size = 512;  // as the disk reports it
    Offer offer;                               // features offered; max_queues 0: default_max_queues()
    unsigned max_in_flight = 0;                // Blkback's, 0: one per ring slot
    // A relaunch after the previous back-end process died: the device
    // starts Closed and is offered (InitWait) only after the front end
    // resets (Closed or Initialising), never to the dead process's ring.
    bool relaunched = false;
};

// What the device has done, for the owner's log and the tests.
struct VbdStats {
    std::uint64_t connections = 0;     // rings attached
    std::uint64_t fatal_errors = 0;    // `error` nodes written
    std::uint64_t backwards_moves = 0; // front-end moves the judge called backwards
};

class VbdDevice {
public:
    // Registers the watches, writes the disk's facts and the feature offer,
    // and moves to InitWait. `disk` may be null only for a cdrom with no
    // medium (0 sectors, every read fails). An error when xenstore refuses
    // the back-end's own nodes; nothing guest-controlled fails here.
    static Result<std::unique_ptr<VbdDevice>> create(VbdConfig cfg, Services services, UringDisk* disk);
    ~VbdDevice();
    VbdDevice(const VbdDevice&) = delete;
    VbdDevice& operator=(const VbdDevice&) = delete;

    // The fds to wait on for readability; empty once done().
    std::vector<int> fds() const;
    // Takes whatever is ready on any of them: watch events, notifications,
    // disk completions; never blocks.
    void handle();
    // Waits up to `timeout_ms` on fds() and handles; false on timeout.
    bool poll_once(int timeout_ms);

    // The state this back-end last wrote.
    XenbusState state() const { return state_; }
    bool connected() const { return !queues_.empty() && state_ == XenbusStateConnected; }
    // The device is finished for good (front end gone, back-end dir
    // removed, or online=0 and closed): the owner may destroy it.
    bool done() const { return done_; }
    // The last message written to the `error` node, empty if none.
    const std::string& last_error() const { return last_error_; }
    const VbdStats& stats() const { return stats_; }
    // Queue `q`'s core while attached, for statistics; null otherwise
    // (ring() is queue 0: null exactly when no ring is attached).
    const Blkback* ring(unsigned q = 0) const { return q < queues_.size() ? queues_[q].ring.get() : nullptr; }
    // Queues attached now (0 while no ring is).
    unsigned queues() const { return static_cast<unsigned>(queues_.size()); }
    // The multi-queue-max-queues offered (1: not offered).
    unsigned max_queues() const { return cfg_.offer.max_queues; }

private:
    // What the device is on its way to; the ring must drain first.
    // quiesce: ring dropped, staying Closing until the front end closes.
    enum class Goal : std::uint8_t { none, quiesce, close, remove };

    VbdDevice(VbdConfig cfg, Services services, UringDisk* disk);
    Status start();
    int write_disk_facts(Xenstore::Tx tx);
    void read_nodes();
    void decide();
    bool step_goal();
    bool apply_frontend_rules();
    void connect();
    Status attach_queue(unsigned q, const FrontendRing& fe);
    void drop_queues();
    void fatal(const std::string& message);
    void set_state(XenbusState s);
    // Drops every ring once nothing is in flight on any; true when none is left.
    bool detach_ring();

    struct Queue {
        std::unique_ptr<UringDisk> own_disk;  // queues 1..: a twin of the device's disk
        std::unique_ptr<Blkback> ring;        // after own_disk: destroyed first
        Port port = 0;
        bool kicked = false;  // its port was pending
    };

    VbdConfig cfg_;
    Services svc_;
    UringDisk* disk_;
    std::vector<Queue> queues_;

    XenbusState state_ = XenbusStateInitialising;
    Goal goal_ = Goal::none;
    bool done_ = false;
    bool backend_gone_ = false;  // the toolstack removed our dir: write nothing more
    bool online_ = true;
    bool fatal_pending_ = false;
    std::string fatal_message_;
    // After any close the front end must pass through Closed or
    // Initialising (or vanish) before it is served again.
    bool need_reset_ = false;

    // The front end's state node as last read.
    bool fe_seen_ = false;     // it has existed at least once
    bool fe_present_ = false;  // it exists now
    std::string fe_raw_;
    std::optional<XenbusState> fe_state_;  // nullopt: garbage
    XenbusState fe_prev_ = XenbusStateUnknown;  // last well-formed state, for the judge

    std::string last_error_;
    VbdStats stats_;
};

}  // namespace xenolith::backend::blk
