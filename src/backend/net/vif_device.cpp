#include "backend/net/vif_device.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::backend::net {

namespace {

constexpr const char* kBackendToken = "backend";
constexpr const char* kFrontendToken = "frontend";
constexpr int kCommitAttempts = 16;

// A front end's bytes quoted in our own `error` node: bounded, printable.
std::string quoted(const std::string& raw) {
    std::string out;
    for (char c : raw.substr(0, 32)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (raw.size() > 32) out += "...";
    return out;
}

}  // namespace

Result<std::unique_ptr<VifDevice>> VifDevice::create(VifConfig cfg, Services services,
                                                     link::GrantHolder& holder) {
    if (cfg.tap_fds.empty()) return make_error(fmt::format("{}: no TAP queue", cfg.backend_path));
    std::unique_ptr<VifDevice> dev(new VifDevice(std::move(cfg), services, holder));
    if (auto st = dev->start(); !st) return st.error();
    return dev;
}

VifDevice::VifDevice(VifConfig cfg, Services services, link::GrantHolder& holder)
    : cfg_(std::move(cfg)), svc_(services), holder_(holder), need_reset_(cfg_.relaunched) {
    offer_.max_queues = static_cast<unsigned>(cfg_.tap_fds.size());
    offer_.csum_offload = cfg_.csum_offload;
}

VifDevice::~VifDevice() {
    drop_queues();
    if (!done_) {
        svc_.xenstore.unwatch(cfg_.backend_path, kBackendToken);
        svc_.xenstore.unwatch(cfg_.frontend_path + "/state", kFrontendToken);
    }
}

Status VifDevice::start() {
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
        rc = write_offer(xs, tx, cfg_.backend_path, offer_);
        int end = xs.transaction_end(tx, rc == 0);
        if (rc != 0) break;
        rc = end;
        if (rc != EAGAIN) break;
    }
    if (rc != 0) return make_error(fmt::format("{}: writing the offer: {}", cfg_.backend_path, std::strerror(rc)));
    // The relaunch rule (VbdDevice::start): Closed until the front end resets.
    const XenbusState first = cfg_.relaunched ? XenbusStateClosed : XenbusStateInitWait;
    if (int w = xs.write(0, cfg_.backend_path + "/state", std::to_string(first)); w != 0)
        return make_error(fmt::format("{}/state: {}", cfg_.backend_path, std::strerror(w)));
    state_ = first;
    read_nodes();
    decide();
    return ok_status();
}

std::vector<int> VifDevice::fds() {
    if (done_) return {};
    std::vector<int> out{svc_.xenstore.watch_fd()};
    if (!queues_.empty()) out.push_back(svc_.evtchn.fd());
    for (Queue& q : queues_)
        if (q.netback->wants_tap()) out.push_back(q.netback->tap_fd());
    return out;
}

int VifDevice::timeout_ms() {
    int t = -1;
    for (Queue& q : queues_) {
        if (q.netback->failed()) continue;
        if (q.netback->more_work()) return 0;
        for (int d : {q.netback->rx_deadline_ms(), q.netback->tx_deadline_ms()})
            if (d >= 0 && (t < 0 || d < t)) t = d;
    }
    return t;
}

bool VifDevice::poll_once(int timeout) {
    if (done_) return false;
    // watch fd, event channel, then one entry per queue's TAP.
    std::vector<pollfd>& p = pollfds_;
    p.resize(2 + queues_.size());
    std::size_t n = 0;
    p[n++] = pollfd{svc_.xenstore.watch_fd(), POLLIN, 0};
    const bool attached = !queues_.empty();
    if (attached) p[n++] = pollfd{svc_.evtchn.fd(), POLLIN, 0};
    const std::size_t first_tap = n;
    for (Queue& q : queues_) p[n++] = pollfd{q.netback->tap_fd(), static_cast<short>(q.netback->wants_tap() ? POLLIN : 0), 0};
    int due = timeout_ms();
    if (due >= 0 && (timeout < 0 || due < timeout)) timeout = due;
    int ready = ::poll(p.data(), n, timeout);
    if (ready < 0) return false;
    bool xenstore_changed = false;
    if (p[0].revents)
        while (svc_.xenstore.next_watch_event()) xenstore_changed = true;
    if (attached) {
        std::vector<bool> tap_ready(queues_.size());
        for (std::size_t i = 0; i < queues_.size(); ++i) tap_ready[i] = p[first_tap + i].revents != 0;
        serve(&tap_ready);
    }
    if (xenstore_changed) read_nodes();
    decide();
    return ready > 0 || due == 0;
}

void VifDevice::handle() {
    if (done_) return;
    bool xenstore_changed = false;
    while (svc_.xenstore.next_watch_event()) xenstore_changed = true;
    serve(nullptr);
    if (xenstore_changed) read_nodes();
    decide();
}

// Routes every pending port to its queue, then serves each queue that was
// kicked, has a readable TAP (all, when `tap_ready` is null), left work
// over or reached a deadline. A queue that broke the protocol closes the
// device.
void VifDevice::serve(std::vector<bool>* tap_ready) {
    if (queues_.empty()) return;
    while (auto port = svc_.evtchn.pending()) {
        svc_.evtchn.unmask(*port);
        for (Queue& q : queues_)
            if (q.tx_port == *port || q.rx_port == *port) q.kicked = true;
    }
    for (std::size_t i = 0; i < queues_.size(); ++i) {
        Queue& q = queues_[i];
        Netback& nb = *q.netback;
        if (nb.failed()) continue;
        bool tx_due = q.kicked || nb.more_work() || nb.tx_deadline_ms() == 0;
        bool rx_due = q.kicked || nb.more_work() || nb.rx_deadline_ms() == 0 || !tap_ready || (*tap_ready)[i];
        q.kicked = false;
        if (tx_due) nb.process_tx();
        if (rx_due) nb.process_rx();
        check_failed(i);
    }
}

// A queue that broke the protocol closes the device, error written.
void VifDevice::check_failed(std::size_t i) {
    const Netback& nb = *queues_[i].netback;
    if (nb.failed() && goal_ == Goal::none)
        fatal(queues_.size() == 1 ? nb.failure() : fmt::format("queue {}: {}", i, nb.failure()));
}

void VifDevice::read_nodes() {
    Xenstore& xs = svc_.xenstore;
    if (auto [v, err] = xs.read(0, cfg_.backend_path + "/state"); err == ENOENT) backend_gone_ = true;
    if (auto [v, err] = xs.read(0, cfg_.backend_path + "/online"); err == 0) online_ = v != "0";
    read_rate();

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
        fatal_message_ = fmt::format("front-end state {} ({}) is not a vif state", xenbus_state_name(judged.state),
                                     static_cast<int>(judged.state));
        return;
    case FrontendVerdict::backwards:
        ++stats_.backwards_moves;
        [[fallthrough]];
    case FrontendVerdict::ok:
        break;
    }
    if (judged.state == XenbusStateInitWait) {
        fe_state_.reset();
        fatal_pending_ = true;
        fatal_message_ = "front-end state InitWait (2) is a back-end state";
        return;
    }
    fe_state_ = judged.state;
    fe_prev_ = judged.state;
}

// The toolstack's `rate` node (xen_net_read_rate): a new value takes effect
// at once on the limiter the queues hold.
void VifDevice::read_rate() {
    auto [v, err] = svc_.xenstore.read(0, cfg_.backend_path + "/rate");
    rate_ = err == 0 ? parse_rate(v) : std::nullopt;
    if (rate_ && rate_active_ && credit_) credit_->set_limit(*rate_);
}

void VifDevice::decide() {
    for (int round = 0; round < 16 && !done_; ++round) {
        if (fatal_pending_) {
            fatal_pending_ = false;
            fatal(fatal_message_);
        }
        bool moved = goal_ != Goal::none ? step_goal() : apply_frontend_rules();
        if (!moved) return;
    }
}

// Closing, the queues dropped (nothing is ever in flight: grant copies are
// synchronous), then Closed, and for removal done.
bool VifDevice::step_goal() {
    if (state_ != XenbusStateClosed) set_state(XenbusStateClosing);
    drop_queues();
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

// Linux's frontend_changed for a vif, with VbdDevice's decisions for
// front ends that do not follow it.
bool VifDevice::apply_frontend_rules() {
    if (backend_gone_) {
        goal_ = Goal::remove;
        return true;
    }
    bool fe_here = fe_present_ && fe_state_ != XenbusStateUnknown;
    if (!fe_here) {
        if (fe_seen_ || !online_) {
            goal_ = Goal::remove;
            return true;
        }
        return false;
    }
    if (!fe_state_) return false;
    XenbusState fe = *fe_state_;
    if (fe == XenbusStateClosed || fe == XenbusStateInitialising) need_reset_ = false;

    if (!online_) {
        // Removal asked (online=0; libxl writes Closing itself): go once the
        // front end has closed, or at once when nothing is attached.
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
        if (state_ == XenbusStateClosed) {
            set_state(XenbusStateInitWait);
            return true;
        }
        if (state_ == XenbusStateConnected || state_ == XenbusStateClosing) {
            goal_ = Goal::close;
            return true;
        }
        return false;
    case XenbusStateInitialised:
    case XenbusStateConnected:
        // netfront writes its keys and goes straight to Connected; one
        // that passes through Initialised is served as well.
        if (state_ == XenbusStateInitWait) {
            connect();
            return true;
        }
        if (state_ == XenbusStateClosed && !need_reset_) {
            set_state(XenbusStateInitWait);
            return true;
        }
        return false;
    case XenbusStateClosing:
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

void VifDevice::connect() {
    auto fe = read_frontend(svc_.xenstore, cfg_.frontend_path, offer_);
    if (!fe) return fatal(fe.error().what);
    if (cfg_.set_offload) {
        // The device's setting, through any of its queues: the TAP hands us
        // only frames this front end can take.
        if (auto st = set_tap_offload(cfg_.tap_fds[0], offload_for(fe->features)); !st)
            return fatal(fmt::format("{}: {}", cfg_.backend_path, st.error().what));
    }
    rate_active_ = false;
    if (rate_) {
        if (credit_) credit_->set_limit(*rate_);
        else credit_ = std::make_unique<CreditLimiter>(*rate_, CreditLimiter::Clock::now());
        rate_active_ = true;
    }
    for (unsigned q = 0; q < fe->queues.size(); ++q) {
        if (auto st = attach_queue(q, fe->queues[q], fe->features); !st) {
            drop_queues();
            return fatal(st.error().what);
        }
    }
    ++stats_.connections;
    if (int rc = svc_.xenstore.write(0, cfg_.backend_path + "/state", std::to_string(XenbusStateConnected)); rc != 0)
        return fatal(fmt::format("{}/state: {}", cfg_.backend_path, std::strerror(rc)));
    state_ = XenbusStateConnected;
    // Anything the front end queued before the ports were bound.
    for (std::size_t i = 0; i < queues_.size(); ++i) {
        queues_[i].netback->process_tx();
        queues_[i].netback->process_rx();
        check_failed(i);
    }
}

Status VifDevice::attach_queue(unsigned q, const QueueRings& rings, const FrontendFeatures& features) {
    const std::string dir = fmt::format("{} queue {}", cfg_.frontend_path, q);
    Queue queue;
    auto [tx_port, err] = svc_.evtchn.bind_interdomain(cfg_.frontend, rings.tx_event_channel);
    if (err != 0)
        return make_error(fmt::format("{}: binding port {}: {}", dir, rings.tx_event_channel, std::strerror(-err)));
    queue.tx_port = queue.rx_port = tx_port;
    if (rings.split) {
        auto [rx_port, rerr] = svc_.evtchn.bind_interdomain(cfg_.frontend, rings.rx_event_channel);
        if (rerr != 0) {
            svc_.evtchn.unbind(tx_port);
            return make_error(fmt::format("{}: binding port {}: {}", dir, rings.rx_event_channel, std::strerror(-rerr)));
        }
        queue.rx_port = rx_port;
    }
    QueueConfig qc;
    qc.frontend = cfg_.frontend;
    qc.tx_ring_ref = rings.tx_ring_ref;
    qc.rx_ring_ref = rings.rx_ring_ref;
    qc.tx_port = queue.tx_port;
    qc.rx_port = queue.rx_port;
    qc.features = features;
    qc.tap_fd = cfg_.tap_fds[q];
    qc.budget = cfg_.budget;
    qc.rx_hold_ms = cfg_.rx_hold_ms;
    qc.tx_credit = rate_active_ ? credit_.get() : nullptr;
    auto nb = Netback::create(qc, svc_.grants, holder_, svc_.evtchn);
    if (!nb) {
        svc_.evtchn.unbind(queue.tx_port);
        if (queue.rx_port != queue.tx_port) svc_.evtchn.unbind(queue.rx_port);
        return make_error(fmt::format("{}: {}", dir, nb.error().what));
    }
    queue.netback = std::move(nb).value();
    queues_.push_back(std::move(queue));
    return ok_status();
}

void VifDevice::drop_queues() {
    for (Queue& q : queues_) {
        q.netback.reset();
        svc_.evtchn.unbind(q.tx_port);
        if (q.rx_port != q.tx_port) svc_.evtchn.unbind(q.rx_port);
    }
    queues_.clear();
}

void VifDevice::fatal(const std::string& message) {
    last_error_ = message;
    ++stats_.fatal_errors;
    if (!backend_gone_) svc_.xenstore.write(0, cfg_.backend_path + "/error", message);
    need_reset_ = true;
    if (goal_ == Goal::none) goal_ = Goal::close;
}

void VifDevice::set_state(XenbusState s) {
    if (s == state_ || !backend_transition_legal(state_, s)) return;
    if (!backend_gone_) svc_.xenstore.write(0, cfg_.backend_path + "/state", std::to_string(s));
    state_ = s;
}

}  // namespace xenolith::backend::net
