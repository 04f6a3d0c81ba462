// xenolith-netfront-responder: a stand-in guest on a vif, for proving the
// network modes end to end without a guest (tests/integration/net-modes.sh).
// The netfront harness launches the real xenolith-netback on a TAP it
// creates here (the vif's host side, for the vif script to plug in), and a
// GuestResponder answers what reaches the guest: ARP, ping, UDP echo. With
// --probe it also reaches out, through --gateway, to a host-side UDP echo.
// Test tool, not installed; must run as root.
//
//   xenolith-netfront-responder --netback BIN --tap NAME --mac MAC --ip A.B.C.D
//       [--queues N] [--probe IP:PORT --gateway IP]
//
// Prints "ready" once the front end is connected, "probe ok" when the
// probe's echo came back; exits 0 on SIGTERM/SIGINT (the back-end stopped,
// the TAP gone), 1 on a failure to start, 2 on bad usage.
#include <signal.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "backend/harness/guest_responder.hpp"
#include "backend/harness/netfront_harness.hpp"

using namespace xenolith::backend::harness;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

struct Options {
    std::string netback, tap;
    std::optional<MacAddr> mac;
    std::optional<std::uint32_t> ip, gateway, probe_ip;
    std::uint16_t probe_port = 0;
    unsigned queues = 1;
    bool probe = false;
};

int usage(const char* why) {
    std::fprintf(stderr,
                 "xenolith-netfront-responder: %s\n"
                 "usage: xenolith-netfront-responder --netback BIN --tap NAME --mac MAC --ip A.B.C.D\n"
                 "           [--queues N] [--probe IP:PORT --gateway IP]\n",
                 why);
    return 2;
}

std::optional<Options> parse(int argc, char** argv, std::string& why) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view opt = argv[i];
        if (i + 1 >= argc) {
            why = std::string(opt) + " needs a value";
            return std::nullopt;
        }
        std::string_view v = argv[++i];
        if (opt == "--netback") {
            o.netback = v;
        } else if (opt == "--tap") {
            o.tap = v;
        } else if (opt == "--mac") {
            if (!(o.mac = parse_mac_addr(v))) why = "bad --mac";
        } else if (opt == "--ip") {
            if (!(o.ip = parse_ipv4(v))) why = "bad --ip";
        } else if (opt == "--gateway") {
            if (!(o.gateway = parse_ipv4(v))) why = "bad --gateway";
        } else if (opt == "--queues") {
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), o.queues);
            if (ec != std::errc{} || end != v.data() + v.size() || o.queues < 1 || o.queues > 8)
                why = "--queues takes 1 to 8";
        } else if (opt == "--probe") {
            o.probe = true;
            auto colon = v.rfind(':');
            unsigned port = 0;
            if (colon == std::string_view::npos || !(o.probe_ip = parse_ipv4(v.substr(0, colon))) ||
                std::from_chars(v.data() + colon + 1, v.data() + v.size(), port).ec != std::errc{} || port == 0 ||
                port > 0xffff)
                why = "bad --probe (IP:PORT)";
            o.probe_port = static_cast<std::uint16_t>(port);
        } else {
            why = "unknown option " + std::string(opt);
        }
        if (!why.empty()) return std::nullopt;
    }
    if (o.netback.empty() || o.tap.empty() || !o.mac || !o.ip) why = "--netback, --tap, --mac and --ip are needed";
    else if (o.probe && !o.gateway) why = "--probe needs --gateway";
    if (!why.empty()) return std::nullopt;
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    std::string why;
    auto opts = parse(argc, argv, why);
    if (!opts) return usage(why.c_str());

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);

    NetHarnessOptions ho;
    ho.binary = opts->netback;
    ho.tap_name = opts->tap;
    ho.tap_queues = opts->queues;
    auto started = NetfrontHarness::start(ho);
    if (!started) {
        std::fprintf(stderr, "xenolith-netfront-responder: %s\n", started.error().what.c_str());
        return 1;
    }
    auto harness = std::move(started).value();
    if (auto st = harness->connect(opts->queues); !st) {
        std::fprintf(stderr, "xenolith-netfront-responder: connect: %s\n", st.error().what.c_str());
        return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);

    GuestResponder guest(*opts->mac, *opts->ip);
    if (opts->probe) guest.start_probe(*opts->gateway, *opts->probe_ip, opts->probe_port);
    auto next_probe = std::chrono::steady_clock::now();
    bool probe_reported = false;
    while (!g_stop.load()) {
        if (auto frame = harness->receive(50ms)) {
            for (const Frame& reply : guest.answer(frame->data))
                if (auto st = harness->send(frame->queue, reply, {}, 1s); !st)
                    std::fprintf(stderr, "xenolith-netfront-responder: send: %s\n", st.error().what.c_str());
        }
        harness->reap_tx();
        if (guest.probe_done() && !probe_reported) {
            probe_reported = true;
            std::printf("probe ok\n");
            std::fflush(stdout);
        }
        if (auto now = std::chrono::steady_clock::now(); now >= next_probe) {
            next_probe = now + 200ms;
            if (auto probe = guest.probe_frame()) (void)harness->send(0, *probe, {}, 1s);
        }
    }
    const auto& c = guest.counts();
    std::fprintf(stderr,
                 "xenolith-netfront-responder: %s: %llu ARP replies, %llu ping replies, %llu UDP echoes, "
                 "%llu frames ignored\n",
                 opts->tap.c_str(), static_cast<unsigned long long>(c.arp_replies),
                 static_cast<unsigned long long>(c.icmp_replies), static_cast<unsigned long long>(c.udp_echoes),
                 static_cast<unsigned long long>(c.ignored));
    return 0;
}
