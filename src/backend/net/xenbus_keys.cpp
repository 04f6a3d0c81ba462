#include "backend/net/xenbus_keys.hpp"

#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace xenolith::backend::net {

namespace {

// A xenstore value as an unsigned decimal: digits only, no sign, no
// blanks, no overflow (stricter than the kernel's "%u", on purpose).
std::optional<std::uint32_t> parse_u32(const std::string& v) {
    if (v.empty() || v.size() > 10) return std::nullopt;
    std::uint32_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n, 10);
    if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
    return n;
}

class Reader {
public:
    Reader(Xenstore& xs, std::string dir) : xs_(xs), dir_(std::move(dir)) {}
    std::string path(const std::string& key) const { return dir_ + "/" + key; }
    std::optional<std::string> raw(const std::string& key) const {
        auto [v, err] = xs_.read(0, path(key));
        if (err != 0) return std::nullopt;
        return v;
    }
    Result<std::uint32_t> number(const std::string& key) const {
        auto v = raw(key);
        if (!v) return make_error(fmt::format("{}: missing", path(key)));
        auto n = parse_u32(*v);
        if (!n) return make_error(fmt::format("{}: not a number: \"{}\"", path(key), *v));
        return *n;
    }
    bool flag(const std::string& key) const {
        auto v = raw(key);
        auto n = v ? parse_u32(*v) : std::nullopt;
        return n && *n != 0;
    }

private:
    Xenstore& xs_;
    std::string dir_;
};

Result<QueueRings> read_queue(const Reader& r, const Offer& offer) {
    QueueRings q;
    auto tx = r.number("tx-ring-ref");
    if (!tx) return tx.error();
    auto rx = r.number("rx-ring-ref");
    if (!rx) return rx.error();
    q.tx_ring_ref = *tx;
    q.rx_ring_ref = *rx;
    if (offer.split_event_channels && r.raw("event-channel-tx")) {
        auto etx = r.number("event-channel-tx");
        if (!etx) return etx.error();
        auto erx = r.number("event-channel-rx");
        if (!erx) return erx.error();
        q.tx_event_channel = *etx;
        q.rx_event_channel = *erx;
        q.split = true;
    } else {
        auto e = r.number("event-channel");
        if (!e) return e.error();
        q.tx_event_channel = q.rx_event_channel = *e;
    }
    return q;
}

}  // namespace

int write_offer(Xenstore& xs, Xenstore::Tx tx, const std::string& backend_path, const Offer& offer) {
    const char* offload = offer.csum_offload ? "1" : "0";
    std::vector<std::pair<const char*, std::string>> keys = {
        {"feature-sg", "1"},
        {"feature-gso-tcpv4", offload},
        {"feature-gso-tcpv6", offload},
        {"feature-ipv6-csum-offload", offload},
        {"feature-no-csum-offload", offer.csum_offload ? "0" : "1"},
        {"feature-rx-copy", "1"},
        {"feature-rx-flip", "0"},
        {"feature-multicast-control", "0"},
        {"feature-split-event-channels", offer.split_event_channels ? "1" : "0"},
        {"multi-queue-max-queues", std::to_string(offer.max_queues == 0 ? 1 : offer.max_queues)},
    };
    for (const auto& [k, v] : keys)
        if (int rc = xs.write(tx, backend_path + "/" + k, v); rc != 0) return rc;
    return 0;
}

Result<FrontendNet> read_frontend(Xenstore& xs, const std::string& frontend_path, const Offer& offer) {
    Reader top(xs, frontend_path);
    FrontendNet net;

    unsigned queues = 1;
    if (top.raw("multi-queue-num-queues")) {
        auto n = top.number("multi-queue-num-queues");
        if (!n) return n.error();
        unsigned max = offer.max_queues == 0 ? 1 : offer.max_queues;
        if (*n == 0 || *n > max)
            return make_error(fmt::format("{}: {} queues, 1 to multi-queue-max-queues {} allowed",
                                          top.path("multi-queue-num-queues"), *n, max));
        queues = *n;
    }

    // request-rx-copy: absent or 0 asks for page flipping, which neither
    // modern Linux nor xenolith implements.
    auto copy = top.raw("request-rx-copy");
    if (!copy || parse_u32(*copy).value_or(0) != 1)
        return make_error(fmt::format("{}: rx-copy is required (rx-flip is not supported)", top.path("request-rx-copy")));
    if (!top.flag("feature-rx-notify"))
        return make_error(fmt::format("{}: feature-rx-notify is required", top.path("feature-rx-notify")));

    // As Linux: one queue (asked for or not) has its keys at the top
    // level, several have them in queue-N/.
    for (unsigned i = 0; i < queues; ++i) {
        Reader r(xs, queues > 1 ? fmt::format("{}/queue-{}", frontend_path, i) : frontend_path);
        auto q = read_queue(r, offer);
        if (!q) return q.error();
        net.queues.push_back(*q);
    }

    FrontendFeatures& f = net.features;
    f.sg = top.flag("feature-sg");
    f.gso_tcpv4 = f.sg && top.flag("feature-gso-tcpv4");
    f.gso_tcpv6 = f.sg && top.flag("feature-gso-tcpv6");
    f.csum = !top.flag("feature-no-csum-offload");
    f.ipv6_csum = top.flag("feature-ipv6-csum-offload");
    return net;
}

}  // namespace xenolith::backend::net
