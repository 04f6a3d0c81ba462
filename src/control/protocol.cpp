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

// Consumes exactly one line: it peeks at what has arrived and reads only up
// to the newline, so a console stream that follows the reply stays in the
// socket (and a large reply costs a few reads, not one per byte).
namespace {

Result<std::optional<std::string>> recv_line(int fd, std::size_t max_bytes) {
    std::string line;
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return make_error(std::string("control socket: ") + std::strerror(errno));
        if (n == 0) {
            if (line.empty()) return std::optional<std::string>{};
            return make_error("control socket: truncated message");
        }
        const auto* newline = static_cast<const char*>(std::memchr(buf, '\n', static_cast<std::size_t>(n)));
        const std::size_t take = newline ? static_cast<std::size_t>(newline - buf) + 1
                                         : static_cast<std::size_t>(n);
        // Only this reader drains the socket, so the peeked bytes are there.
        std::size_t got = 0;
        while (got < take) {
            const ssize_t r = ::read(fd, buf + got, take - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return make_error(std::string("control socket: ") + std::strerror(errno));
            got += static_cast<std::size_t>(r);
        }
        line.append(buf, newline ? take - 1 : take);
        if (line.size() > max_bytes) return make_error("control socket: message too large");
        if (newline) break;
    }
    return std::optional<std::string>(std::move(line));
}

Result<std::optional<nlohmann::json>> parse_object(const std::string& line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error("control socket: malformed message");
    return std::optional<nlohmann::json>(std::move(j));
}

}  // namespace

Status check_json_shape(std::string_view text, unsigned max_depth, std::size_t max_values) {
    unsigned depth = 0;
    std::size_t values = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            continue;
        }
        switch (c) {
            case '"': in_string = true; break;
            case '[':
            case '{':
                if (++depth > max_depth)
                    return make_error("control socket: message nested too deeply");
                [[fallthrough]];
            case ',':
                if (++values > max_values)
                    return make_error("control socket: message has too many values");
                break;
            case ']':
            case '}':
                if (depth) --depth;
                break;
            default: break;
        }
    }
    return ok_status();
}

Result<std::optional<nlohmann::json>> recv_message(int fd) {
    auto line = recv_line(fd, kMaxMessageBytes);
    if (!line) return line.error();
    if (!*line) return std::optional<nlohmann::json>{};
    return parse_object(**line);
}

Result<std::optional<nlohmann::json>> recv_request(int fd, const RequestLimits& limits) {
    auto line = recv_line(fd, limits.max_bytes);
    if (!line) return line.error();
    if (!*line) return std::optional<nlohmann::json>{};
    if (auto st = check_json_shape(**line, limits.max_depth, limits.max_values); !st)
        return st.error();
    return parse_object(**line);
}

}  // namespace xenolith::control
