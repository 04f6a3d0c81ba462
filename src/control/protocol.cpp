#include "control/protocol.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace xenolith::control {

std::string run_dir() {
    const char* d = std::getenv("XENOLITH_RUN_DIR");
    return d && *d ? d : "/run/xenolith";
}

std::string socket_path() { return run_dir() + "/xenolithd.sock"; }

Status send_message(int fd, const nlohmann::json& msg) {
    std::string line = msg.dump();
    line.push_back('\n');
    const char* p = line.data();
    std::size_t left = line.size();
    while (left) {
        ssize_t n = ::send(fd, p, left, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return make_error(std::string("control socket: ") + std::strerror(errno));
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return ok_status();
}

// Reads byte by byte up to the newline: messages are small, and the console
// stream that may follow must not be swallowed into a buffer.
Result<std::optional<nlohmann::json>> recv_message(int fd) {
    std::string line;
    for (;;) {
        char c;
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return make_error(std::string("control socket: ") + std::strerror(errno));
        if (n == 0) {
            if (line.empty()) return std::optional<nlohmann::json>{};
            return make_error("control socket: truncated message");
        }
        if (c == '\n') break;
        if (line.size() >= kMaxMessageBytes) return make_error("control socket: message too large");
        line.push_back(c);
    }
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error("control socket: malformed message");
    return std::optional<nlohmann::json>(std::move(j));
}

}  // namespace xenolith::control
