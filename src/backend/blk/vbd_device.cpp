#include "backend/blk/vbd_device.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern "C" {
#include <xen/io/blkif.h>
}

namespace xenolith::backend::blk {

namespace {

constexpr const char* kBackendToken = "backend";
constexpr const char* kFrontendToken = "frontend";
// A transaction that keeps meeting EAGAIN is given up after this many tries.
constexpr int kCommitAttempts = 16;

// A front end's bytes quoted in our own `error` node: bounded, printable.
std::string quoted(const std::string& raw) {
    std::string out;
    for (char c : raw.substr(0, 32)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (raw.size() > 32) out += "...";
    return out;
}

}  // namespace

Result<std::unique_ptr<VbdDevice>> VbdDevice::create(VbdConfig cfg, Services services, UringDisk* disk) {
    if (!disk && !cfg.cdrom) return make_error(fmt::format("{}: a disk without a medium", cfg.backend_path));
    if (disk && disk->readonly() && !cfg.readonly && !cfg.cdrom)
        return make_error(fmt::format("{}: a writable vbd on a disk opened read-only", cfg.backend_path));
    std::unique_ptr<VbdDevice> dev(new VbdDevice(std::move(cfg), services, disk));
    if (auto st = dev->start(); !st) return st.error();
    return dev;
}

VbdDevice::VbdDevice(VbdConfig cfg, Services services, UringDisk* disk)
    : cfg_(std::move(cfg)), svc_(services), disk_(disk), need_reset_(cfg_.relaunched) {
    // A cdrom is read-only media; nothing may be discarded on a device
    // nothing may write, nor secure-discarded where the disk cannot.
    if (cfg_.cdrom) cfg_.readonly = true;
    if (cfg_.readonly || !disk_) cfg_.offer.discard = false;
    if (!disk_ || !disk_->can_secure_discard()) cfg_.offer.discard_secure = false;
    if (cfg_.offer.max_queues == 0) cfg_.offer.max_queues = default_max_queues();
    cfg_.offer.max_queues = std::min(cfg_.offer.max_queues, kMaxQueuesCeiling);
}

VbdDevice::~VbdDevice() {
    drop_queues();  // each waits for what is in flight before its ring is unmapped
    if (!done_) {
        svc_.xenstore.unwatch(cfg_.backend_path, kBackendToken);
        svc_.xenstore.unwatch(cfg_.frontend_path + "/state", kFrontendToken);
    }
}

Status VbdDevice::start() {
    Xenstore& xs = svc_.xenstore;
    if (int rc = xs.watch(cfg_.backend_path, kBackendToken); rc != 0)
        return make_error(fmt::format("watching {}: {}", cfg_.backend_path, std::strerror(rc)));
    if (int rc = xs.watch(cfg_.frontend_path + "/state", kFrontendToken); rc != 0)
        return make_error(fmt::format("watching {}/state: {}", cfg_.frontend_path, std::strerror(rc)));
    int rc = 0;
    for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
        auto [tx, err] = xs.transaction_start();
        if (err != 0) {
            rc = err;
            break;
        }
        rc = write_disk_facts(tx);
        if (rc == 0) rc = write_offer(xs, tx, cfg_.backend_path, cfg_.offer);
        int end = xs.transaction_end(tx, rc == 0);
        if (rc != 0) break;
        rc = end;
        if (rc != EAGAIN) break;
    }
    if (rc != 0) return make_error(fmt::format("{}: writing the disk's nodes: {}", cfg_.backend_path, std::strerror(rc)));
    // A relaunch starts Closed (what the toolstack wrote when the last
    // process died) and offers the device only once the front end has
    // reset: an InitWait now could be answered with the dead process's
    // ring, indistinguishable from a new one.
    const XenbusState first = cfg_.relaunched ? XenbusStateClosed : XenbusStateInitWait;
    if (int w = xs.write(0, cfg_.backend_path + "/state", std::to_string(first)); w != 0)
        return make_error(fmt::format("{}/state: {}", cfg_.backend_path, std::strerror(w)));
    state_ = first;
    read_nodes();
    decide();
    return ok_status();
}

// What libxl's blkback leaves for blkfront to read on connection: size,
// VDISK_* bits and sector sizes. Rewritten when connecting, so a cdrom's
// new medium is seen.
int VbdDevice::write_disk_facts(Xenstore::Tx tx) {
    std::uint32_t info = 0;
    if (cfg_.readonly) info |= VDISK_READONLY;
    if (cfg_.cdrom) info |= VDISK_CDROM | VDISK_REMOVABLE;
    std::uint64_t sectors = disk_ ? disk_->size_bytes() / 512 : 0;
    const std::pair<const char*, std::string> facts[] = {
        {"sectors", std::to_string(sectors)},
        {"info", std::to_string(info)},
        {"sector-size", "512"},
        {"physical-sector-size", std::to_string(cfg_.physical_sector_size)},
    };
    for (const auto& [key, value] : facts)
        if (int rc = svc_.xenstore.write(tx, cfg_.backend_path + "/" + key, value); rc != 0) return rc;
    return 0;
}

std::vector<int> VbdDevice::fds() const {
    if (done_) return {};
    std::vector<int> out{svc_.xenstore.watch_fd()};
    if (!queues_.empty()) out.push_back(svc_.evtchn.fd());
    for (const Queue& q : queues_)
        if (q.ring->disk_fd() >= 0) out.push_back(q.ring->disk_fd());
    return out;
}

bool VbdDevice::poll_once(int timeout_ms) {
    std::vector<pollfd> p;
    for (int fd : fds()) p.push_back(pollfd{fd, POLLIN, 0});
    if (p.empty() || ::poll(p.data(), p.size(), timeout_ms) <= 0) return false;
    handle();
    return true;
}

void VbdDevice::handle() {
    if (done_) return;
    bool xenstore_changed = false;
    while (svc_.xenstore.next_watch_event()) xenstore_changed = true;
    if (!queues_.empty()) {
        // Each pending port to its queue; a port of no queue (stale, from a
        // ring already dropped) is only taken.
        while (auto port = svc_.evtchn.pending()) {
            svc_.evtchn.unmask(*port);
            for (Queue& q : queues_)
                if (q.port == *port) q.kicked = true;
        }
        for (unsigned i = 0; i < queues_.size(); ++i) {
            Queue& q = queues_[i];
            bool due = q.ring->reap_completions() || q.kicked;
            q.kicked = false;
            if (due) q.ring->process_ring();
            // A front end that lied about its indexes gets the device closed;
            // Linux only halts the ring, which leaves the guest hanging.
            if (q.ring->broken() && goal_ == Goal::none)
                fatal(queues_.size() == 1 ? "ring broken: request producer index out of range"
                                          : fmt::format("queue {} ring broken: request producer index out of range", i));
        }
    }
    if (xenstore_changed) read_nodes();
    decide();
}

void VbdDevice::read_nodes() {
    Xenstore& xs = svc_.xenstore;
    if (auto [v, err] = xs.read(0, cfg_.backend_path + "/state"); err == ENOENT) backend_gone_ = true;
    // `online` absent counts as 1: only an explicit 0 asks for removal.
    if (auto [v, err] = xs.read(0, cfg_.backend_path + "/online"); err == 0) online_ = v != "0";

    // Unreadable counts as absent: a front end that takes our read access
    // away from its own node has removed its device.
    auto [raw, err] = xs.read(0, cfg_.frontend_path + "/state");
    if (err != 0) {
        fe_present_ = false;
        return;
    }
    bool changed = !fe_present_ || raw != fe_raw_;
    fe_present_ = true;
    fe_seen_ = true;
    if (!changed) return;
    fe_raw_ = raw;
    FrontendState judged = check_frontend_state(raw, fe_prev_);
    switch (judged.verdict) {
    case FrontendVerdict::malformed:
    case FrontendVerdict::unknown:
        fe_state_.reset();
        fatal_pending_ = true;
        fatal_message_ = fmt::format("front-end state \"{}\" is not a XenbusState", quoted(raw));
        return;
    case FrontendVerdict::unsupported:
        fe_state_.reset();
        fatal_pending_ = true;
        fatal_message_ = fmt::format("front-end state {} ({}) is not a vbd state", xenbus_state_name(judged.state),
                                     static_cast<int>(judged.state));
        return;
    case FrontendVerdict::backwards:
        ++stats_.backwards_moves;
        [[fallthrough]];
    case FrontendVerdict::ok:
        break;
    }
    // InitWait is the back end's state; a front end claiming it is broken
    // (Linux's blkback treats it as fatal too).
    if (judged.state == XenbusStateInitWait) {
        fe_state_.reset();
        fatal_pending_ = true;
        fatal_message_ = "front-end state InitWait (2) is a back-end state";
        return;
    }
    fe_state_ = judged.state;
    fe_prev_ = judged.state;
}

// Level-triggered: from the nodes as last read and where the device is,
// take every step that applies until none does (bounded: each step moves
// the state forward or waits).
void VbdDevice::decide() {
    for (int round = 0; round < 16 && !done_; ++round) {
        if (fatal_pending_) {
            fatal_pending_ = false;
            fatal(fatal_message_);
        }
        bool moved = goal_ != Goal::none ? step_goal() : apply_frontend_rules();
        if (!moved) return;
    }
}

// Closing, the ring drained and dropped, then Closed (and for removal,
// done). False while I/O is still in flight.
bool VbdDevice::step_goal() {
    if (state_ != XenbusStateClosed) set_state(XenbusStateClosing);
    if (!detach_ring()) return false;
    need_reset_ = true;
    if (goal_ == Goal::quiesce) {
        goal_ = Goal::none;
        return true;
    }
    set_state(XenbusStateClosed);
    if (goal_ == Goal::remove) {
        done_ = true;
        svc_.xenstore.unwatch(cfg_.backend_path, kBackendToken);
        svc_.xenstore.unwatch(cfg_.frontend_path + "/state", kFrontendToken);
    }
    goal_ = Goal::none;
    return true;
}

// The rules of Linux's frontend_changed, with the decisions for front ends
// that do not follow them. True when something was done.
bool VbdDevice::apply_frontend_rules() {
    if (backend_gone_) {  // the toolstack removed the device under us
        goal_ = Goal::remove;
        return true;
    }
    // Unknown (0) written by the front end means the same as no node.
    bool fe_here = fe_present_ && fe_state_ != XenbusStateUnknown;
    if (!fe_here) {
        if (fe_seen_ || !online_) {  // the front end is gone, or never came and removal is asked
            goal_ = Goal::remove;
            return true;
        }
        return false;  // not written yet: wait for it
    }
    if (!fe_state_) return false;  // garbage: already closed with an error; wait for a sane value
    XenbusState fe = *fe_state_;
    if (fe == XenbusStateClosed || fe == XenbusStateInitialising) need_reset_ = false;

    if (!online_) {
        // Removal asked (libxl writes online=0, and state=Closing itself).
        // With no ring attached go at once; with one, say Closing, keep
        // serving, and go when the front end has closed (or vanished; a
        // front end that never closes is libxl's timeout to handle: it
        // removes the back-end dir, which ends us too).
        if (fe == XenbusStateClosed || fe == XenbusStateInitialising || queues_.empty()) {
            goal_ = Goal::remove;
            return true;
        }
        if (state_ == XenbusStateConnected) {
            set_state(XenbusStateClosing);
            return true;
        }
        return false;
    }

    switch (fe) {
    case XenbusStateInitialising:
        if (state_ == XenbusStateClosed) {  // a new front end (or a reset one): serve it
            set_state(XenbusStateInitWait);
            return true;
        }
        // Initialising while attached: the front end reset without closing
        // (kexec after a crash). Drop the ring, then start over.
        if (state_ == XenbusStateConnected || state_ == XenbusStateClosing) {
            goal_ = Goal::close;
            return true;
        }
        return false;
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (state_ == XenbusStateInitWait) {
            connect();
            return true;
        }
        if (state_ == XenbusStateClosed && !need_reset_) {  // skipped Initialising after Closed
            set_state(XenbusStateInitWait);
            return true;
        }
        // Connected -> Initialised (backwards) is ignored, as Linux does;
        // after a close the front end must go through Closed or
        // Initialising first: a ring is never reattached behind a close.
        return false;
    case XenbusStateClosing:
        // Closing, and stay there until the front end is Closed, as Linux's
        // blkback: a resetting front end (xenbus_reset_state) waits to see
        // the back end in Closing before it writes Closed.
        if (state_ == XenbusStateInitWait || state_ == XenbusStateConnected) {
            goal_ = Goal::quiesce;
            return true;
        }
        return false;
    case XenbusStateClosed:
        if (state_ != XenbusStateClosed) {
            goal_ = Goal::close;
            return true;
        }
        return false;
    default:
        return false;
    }
}

void VbdDevice::connect() {
    auto fe = read_frontend_ring(svc_.xenstore, cfg_.frontend_path, cfg_.offer);
    if (!fe) return fatal(fe.error().what);
    for (unsigned q = 0; q < fe->queues.size(); ++q) {
        if (auto st = attach_queue(q, *fe); !st) {
            drop_queues();  // nothing was taken off any ring yet
            return fatal(st.error().what);
        }
    }
    ++stats_.connections;

    // The disk's facts and Connected in one transaction: blkfront reads
    // them when it sees Connected, so it never sees one without the other.
    Xenstore& xs = svc_.xenstore;
    int rc = 0;
    for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
        auto [tx, terr] = xs.transaction_start();
        if (terr != 0) {
            rc = terr;
            break;
        }
        rc = write_disk_facts(tx);
        if (rc == 0) rc = xs.write(tx, cfg_.backend_path + "/state", std::to_string(XenbusStateConnected));
        int end = xs.transaction_end(tx, rc == 0);
        if (rc != 0) break;
        rc = end;
        if (rc != EAGAIN) break;
    }
    if (rc != 0) return fatal(fmt::format("{}: writing the connected state: {}", cfg_.backend_path, std::strerror(rc)));
    state_ = XenbusStateConnected;
    for (Queue& q : queues_) q.ring->process_ring();  // anything queued before the ports were bound
}

// Binds queue q's port, gives it its disk and maps its ring.
Status VbdDevice::attach_queue(unsigned q, const FrontendRing& fe) {
    const FrontendQueue& want = fe.queues[q];
    // Keys named as the front end wrote them: flat for one queue.
    const std::string dir = fe.queues.size() == 1 ? cfg_.frontend_path : fmt::format("{}/queue-{}", cfg_.frontend_path, q);
    auto [port, err] = svc_.evtchn.bind_interdomain(cfg_.frontend, want.event_channel);
    if (err != 0)
        return make_error(fmt::format("{}/event-channel: binding port {}: {}", dir, want.event_channel, std::strerror(-err)));
    Queue queue;
    queue.port = port;
    UringDisk* disk = disk_;
    if (disk_ && q > 0) {
        auto twin = disk_->twin();
        if (!twin) {
            svc_.evtchn.unbind(port);
            return make_error(fmt::format("{}: queue {}: {}", cfg_.backend_path, q, twin.error().what));
        }
        queue.own_disk = std::move(twin).value();
        disk = queue.own_disk.get();
    }
    Config bc;
    bc.frontend = cfg_.frontend;
    bc.abi = fe.abi;
    bc.ring_refs = want.ring_refs;
    bc.port = port;
    bc.readonly = cfg_.readonly;
    bc.max_indirect_segments = cfg_.offer.max_indirect_segments;
    bc.discard = cfg_.offer.discard;
    bc.max_in_flight = cfg_.max_in_flight;
    bc.persistent = fe.persistent;
    auto back = disk ? Blkback::create(bc, svc_.grants, svc_.evtchn, *disk)
                     : Blkback::create_empty(bc, svc_.grants, svc_.evtchn);
    if (!back) {
        svc_.evtchn.unbind(port);
        return make_error(fmt::format("{}/ring-ref: {}", dir, back.error().what));
    }
    queue.ring = std::move(back).value();
    queues_.push_back(std::move(queue));
    return ok_status();
}

// Every ring unmapped (each Blkback waits for its disk first), then every
// port unbound.
void VbdDevice::drop_queues() {
    for (Queue& q : queues_) {
        q.ring.reset();
        q.own_disk.reset();
        svc_.evtchn.unbind(q.port);
    }
    queues_.clear();
}

// Linux's xenbus_dev_fatal: the reason in the back-end's `error` node, and
// the device closes. It stays closed until the front end resets.
void VbdDevice::fatal(const std::string& message) {
    last_error_ = message;
    ++stats_.fatal_errors;
    if (!backend_gone_) svc_.xenstore.write(0, cfg_.backend_path + "/error", message);
    need_reset_ = true;
    if (goal_ == Goal::none) goal_ = Goal::close;
}

void VbdDevice::set_state(XenbusState s) {
    if (s == state_ || !backend_transition_legal(state_, s)) return;
    if (!backend_gone_) svc_.xenstore.write(0, cfg_.backend_path + "/state", std::to_string(s));
    state_ = s;
}

bool VbdDevice::detach_ring() {
    bool busy = false;
    for (Queue& q : queues_) {
        q.ring->stop_intake();
        if (q.ring->in_flight() > 0) busy = true;
    }
    if (busy) return false;
    drop_queues();
    return true;
}

}  // namespace xenolith::backend::blk
