#include "backend/blk/xenbus_keys.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace xenolith::backend::blk {

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

}  // namespace

int write_offer(Xenstore& xs, Xenstore::Tx tx, const std::string& backend_path, const Offer& offer) {
    auto put = [&](const char* key, const std::string& value) {
        return xs.write(tx, backend_path + "/" + key, value);
    };
    std::vector<std::pair<const char*, std::string>> keys = {
        {"feature-flush-cache", "1"},
        {"feature-barrier", "1"},
        {"feature-discard", offer.discard ? "1" : "0"},
        {"feature-max-indirect-segments", std::to_string(offer.max_indirect_segments)},
        {"feature-persistent", offer.persistent ? "1" : "0"},
        {"max-ring-page-order", std::to_string(offer.max_ring_page_order)},
    };
    // One queue offers nothing: the front end then uses the flat keys.
    if (offer.max_queues > 1) keys.emplace_back("multi-queue-max-queues", std::to_string(offer.max_queues));
    if (offer.discard) {
        keys.emplace_back("discard-granularity", std::to_string(offer.discard_granularity));
        keys.emplace_back("discard-alignment", "0");
        keys.emplace_back("discard-secure", offer.discard_secure ? "1" : "0");
    }
    for (const auto& [k, v] : keys)
        if (int rc = put(k, v); rc != 0) return rc;
    return 0;
}

Result<FrontendRing> read_frontend_ring(Xenstore& xs, const std::string& frontend_path, const Offer& offer) {
    FrontendRing ring;
    auto read = [&](const std::string& key) { return xs.read(0, frontend_path + "/" + key); };
    auto number = [&](const std::string& key) -> Result<std::uint32_t> {
        auto [v, err] = read(key);
        if (err != 0) return make_error(fmt::format("{}/{}: missing", frontend_path, key));
        auto n = parse_u32(v);
        if (!n) return make_error(fmt::format("{}/{}: not a number: \"{}\"", frontend_path, key, v));
        return *n;
    };

    unsigned queues = 1;
    const unsigned max_queues = std::max(offer.max_queues, 1u);
    if (auto [v, err] = read("multi-queue-num-queues"); err == 0) {
        auto n = parse_u32(v);
        if (!n) return make_error(fmt::format("{}/multi-queue-num-queues: not a number: \"{}\"", frontend_path, v));
        if (*n == 0 || *n > max_queues)
            return make_error(fmt::format("{}/multi-queue-num-queues: {} queues asked for, {} offered",
                                          frontend_path, *n, max_queues));
        queues = *n;
    }

    unsigned order = 0;
    bool multi_page = false;
    if (auto [v, err] = read("ring-page-order"); err == 0) {
        auto n = parse_u32(v);
        if (!n) return make_error(fmt::format("{}/ring-page-order: not a number: \"{}\"", frontend_path, v));
        if (*n > offer.max_ring_page_order)
            return make_error(fmt::format("{}/ring-page-order: {} exceeds max-ring-page-order {}",
                                          frontend_path, *n, offer.max_ring_page_order));
        order = *n;
        multi_page = true;
    }
    for (unsigned q = 0; q < queues; ++q) {
        // One queue keeps the flat keys, as blkfront writes them.
        const std::string dir = queues == 1 ? "" : fmt::format("queue-{}/", q);
        FrontendQueue queue;
        if (!multi_page) {
            auto ref = number(dir + "ring-ref");
            if (!ref) return ref.error();
            queue.ring_refs.push_back(*ref);
        } else {
            for (unsigned i = 0; i < (1u << order); ++i) {
                auto ref = number(fmt::format("{}ring-ref{}", dir, i));
                if (!ref) return ref.error();
                queue.ring_refs.push_back(*ref);
            }
        }
        auto port = number(dir + "event-channel");
        if (!port) return port.error();
        queue.event_channel = *port;
        ring.queues.push_back(std::move(queue));
    }

    auto [proto, perr] = read("protocol");
    auto abi = abi_from_protocol(perr == 0 ? proto : "");
    if (!abi) return make_error(fmt::format("{}/protocol: unknown front-end protocol \"{}\"", frontend_path, proto));
    ring.abi = *abi;

    // feature-persistent counts only when offered; a malformed value is "no".
    if (auto [v, err] = read("feature-persistent"); err == 0 && offer.persistent) {
        auto n = parse_u32(v);
        ring.persistent = n && *n != 0;
    }
    return ring;
}

}  // namespace xenolith::backend::blk
