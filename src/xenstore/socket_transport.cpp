#include "xenstore/socket_transport.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::xenstore {

namespace {

bool fill_address(const std::string& path, sockaddr_un& addr) {
    addr = sockaddr_un{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

// mkdir -p for the directory holding `path`.
Status make_parent_dirs(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return ok_status();
    const std::string dir = path.substr(0, slash);
    for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        const std::string part = dir.substr(0, pos);
        if (::mkdir(part.c_str(), 0755) < 0 && errno != EEXIST)
            return make_error(fmt::format("cannot create {}: {}", part, std::strerror(errno)));
    }
    return ok_status();
}

bool someone_listens(const sockaddr_un& addr) {
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) return false;
    return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace

std::string socket_path_from_environment() {
    if (const char* p = std::getenv("XENSTORED_PATH"); p && *p) return p;
    if (const char* d = std::getenv("XENSTORED_RUNDIR"); d && *d) return std::string(d) + "/socket";
    return {};
}

Result<UniqueFd> listen_unix(const std::string& path) {
    sockaddr_un addr;
    if (!fill_address(path, addr))
        return make_error(fmt::format("xenstore socket path '{}' is empty or too long", path));
    if (auto st = make_parent_dirs(path); !st) return st.error();
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return make_error(fmt::format("{} exists and is not a socket", path));
        if (someone_listens(addr))
            return make_error(fmt::format("another xenstored is listening on {}", path));
        ::unlink(path.c_str());
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return make_error(fmt::format("socket: {}", std::strerror(errno)));
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0 ||
        ::chmod(path.c_str(), 0600) < 0 || ::listen(fd.get(), 128) < 0)
        return make_error(fmt::format("cannot listen on {}: {}", path, std::strerror(errno)));
    return fd;
}

SocketIo receive(SocketClient& c, std::size_t max) {
    c.in.resize(max);
    c.in_pos = 0;
    for (;;) {
        const ssize_t n = ::recv(c.fd.get(), c.in.data(), max, MSG_DONTWAIT);
        if (n > 0) {
            c.in.resize(static_cast<std::size_t>(n));
            return SocketIo::ok;
        }
        c.in.clear();
        if (n == 0) return SocketIo::closed;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return SocketIo::again;
        return SocketIo::closed;
    }
}

SocketIo send_queued(SocketClient& c, unsigned* replies) {
    *replies = 0;
    while (!c.out.empty()) {
        const ByteSpan chunk = c.out.front();
        const ssize_t n = ::send(c.fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return SocketIo::again;
            return SocketIo::closed;
        }
        if (c.out.advance(static_cast<std::size_t>(n))) ++*replies;
    }
    return SocketIo::ok;
}

}  // namespace xenolith::xenstore
