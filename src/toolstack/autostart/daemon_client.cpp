#include "toolstack/autostart/daemon_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/unique_fd.hpp"
#include "control/protocol.hpp"

namespace xenolith::autostart {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// libxl's ERROR_NOPARAVIRT, as xenolithd reports it for a shutdown request.
constexpr int kLibxlNoParavirt = -10;
// xenolithd caps the acknowledgement wait at an hour.
constexpr std::uint64_t kMaxAckWaitMs = 3'600'000;

Result<UniqueFd> connect_daemon() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return make_error(fmt::format("socket: {}", std::strerror(errno)));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = control::socket_path();
    if (path.size() >= sizeof addr.sun_path)
        return make_error(fmt::format("socket path too long: {}", path));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return make_error(fmt::format("cannot connect to xenolithd at {}: {}", path,
                                      std::strerror(errno)));
    return fd;
}

// Sends `req` on a fresh connection; the connection, for the reply.
Result<UniqueFd> send_request(const json& req) {
    auto fd = connect_daemon();
    if (!fd) return fd.error();
    if (Status st = control::send_message(fd->get(), req); !st) return st.error();
    return std::move(*fd);
}

Result<json> receive_reply(int fd) {
    auto reply = control::recv_message(fd);
    if (!reply) return reply.error();
    if (!*reply) return make_error("xenolithd closed the connection without a reply");
    return std::move(**reply);
}

Result<json> request(const json& req) {
    auto fd = send_request(req);
    if (!fd) return fd.error();
    return receive_reply(fd->get());
}

std::string reply_error(const json& reply) {
    const auto it = reply.find("error");
    return it != reply.end() && it->is_string() ? it->get<std::string>() : "request failed";
}

// One target's progress through stop_together.
struct Stopping {
    UniqueFd wait;     // reports the shutdown (xl shutdown -w's connection)
    UniqueFd control;  // the shutdown request; replies once acknowledged
    bool done = false;
    StopResult result;
};

}  // namespace

Result<std::vector<DomainInfo>> list_domains() {
    auto reply = request({{"cmd", "list"}});
    if (!reply) return reply.error();
    const auto domains = reply->find("domains");
    if (!reply->value("ok", false) || domains == reply->end() || !domains->is_array())
        return make_error("xenolithd: list: " + reply_error(*reply));
    std::vector<DomainInfo> out;
    for (const json& d : *domains) {
        if (!d.is_object() || !d.contains("name") || !d["name"].is_string() ||
            !d.contains("domid") || !d["domid"].is_number_unsigned())
            return make_error("xenolithd: list: malformed domain entry");
        DomainInfo info;
        info.name = d["name"].get<std::string>();
        info.domid = d["domid"].get<unsigned>();
        info.shut_down = d.value("shutdown", false);
        info.paused = d.value("paused", false);
        if (info.domid != 0) out.push_back(std::move(info));
    }
    return out;
}

Status send_sysrq(unsigned domid, char key) {
    auto reply = request({{"cmd", "sysrq"}, {"domid", domid}, {"key", std::string(1, key)}});
    if (!reply) return reply.error();
    if (!reply->value("ok", false)) return make_error(reply_error(*reply));
    return ok_status();
}

Status destroy_domain(unsigned domid) {
    auto reply = request({{"cmd", "destroy"}, {"domain", std::to_string(domid)}});
    if (!reply) return reply.error();
    if (!reply->value("ok", false)) return make_error(reply_error(*reply));
    return ok_status();
}

std::vector<StopResult> stop_together(const std::vector<StopTarget>& targets,
                                      std::optional<Clock::time_point> deadline) {
    const Clock::time_point began = Clock::now();
    std::vector<Stopping> st(targets.size());
    auto finish = [&](std::size_t i, StopResult::Outcome outcome) {
        st[i].done = true;
        st[i].result.outcome = outcome;
        st[i].result.took = Clock::now() - began;
        st[i].wait.reset();
        st[i].control.reset();
    };
    auto destroy = [&](std::size_t i, StopResult::Outcome outcome) {
        if (Status s = destroy_domain(targets[i].domid); !s) {
            st[i].result.detail = s.error().what;
            // "invalid domain identifier": it went away by itself meanwhile.
            finish(i, s.error().what.find("invalid domain") != std::string::npos
                          ? StopResult::Outcome::gone
                          : StopResult::Outcome::destroy_failed);
            return;
        }
        finish(i, outcome);
    };

    std::uint64_t ack_wait_ms = kMaxAckWaitMs;
    if (deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - began);
        ack_wait_ms = static_cast<std::uint64_t>(std::clamp<std::int64_t>(left.count(), 1, kMaxAckWaitMs));
    }
    // Arm every wait before the first request, as xl shutdown -w does, so a
    // guest that powers off at once is seen shutting down.
    for (std::size_t i = 0; i < targets.size(); ++i) {
        auto w = send_request({{"cmd", "wait"}, {"domid", targets[i].domid}, {"death", false}});
        if (w) {
            if (auto armed = receive_reply(w->get()); armed) st[i].wait = std::move(*w);
        }
        if (!st[i].wait.valid()) {
            st[i].result.detail = w ? "xenolithd did not arm the wait" : w.error().what;
            finish(i, StopResult::Outcome::destroy_failed);
        }
    }
    for (std::size_t i = 0; i < targets.size(); ++i) {
        if (st[i].done) continue;
        auto c = send_request({{"cmd", "shutdown"},
                               {"domain", std::to_string(targets[i].domid)},
                               {"action", "poweroff"},
                               {"timeout_ms", ack_wait_ms}});
        if (c) st[i].control = std::move(*c);
        else st[i].result.detail = c.error().what;
    }

    for (;;) {
        std::vector<pollfd> fds;
        std::vector<std::pair<std::size_t, bool>> owner;  // target, is the wait connection
        for (std::size_t i = 0; i < st.size(); ++i) {
            if (st[i].done) continue;
            fds.push_back({st[i].wait.get(), POLLIN, 0});
            owner.emplace_back(i, true);
            if (st[i].control.valid()) {
                fds.push_back({st[i].control.get(), POLLIN, 0});
                owner.emplace_back(i, false);
            }
        }
        if (fds.empty()) break;
        int timeout_ms = -1;
        if (deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline -
                                                                                    Clock::now());
            if (left.count() <= 0) break;
            timeout_ms = static_cast<int>(std::min<std::int64_t>(left.count() + 1, 60'000));
        }
        const int n = ::poll(fds.data(), fds.size(), timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;  // the deadline is checked at the top
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (!fds[k].revents) continue;
            const auto [i, is_wait] = owner[k];
            if (st[i].done) continue;
            auto reply = receive_reply(fds[k].fd);
            if (is_wait) {
                // Any event (shut down, or gone) ends the wait; a broken
                // connection means xenolithd went away, and its domains
                // with it.
                if (!reply) st[i].result.detail = reply.error().what;
                finish(i, reply ? StopResult::Outcome::shut_down : StopResult::Outcome::gone);
                continue;
            }
            st[i].control.reset();
            if (!reply) continue;
            if (reply->value("ok", false)) {
                st[i].result.acknowledged = true;
            } else if (reply->value("libxl_rc", 0) == kLibxlNoParavirt) {
                st[i].result.detail = "no PV control interface";
                destroy(i, StopResult::Outcome::destroyed_no_pv);
            } else if (reply->value("rc", 0) == 2) {
                finish(i, StopResult::Outcome::gone);
            } else {
                st[i].result.detail = reply_error(*reply);
            }
        }
    }
    for (std::size_t i = 0; i < st.size(); ++i)
        if (!st[i].done) destroy(i, StopResult::Outcome::destroyed);

    std::vector<StopResult> out;
    for (Stopping& s : st) out.push_back(std::move(s.result));
    return out;
}

}  // namespace xenolith::autostart
