// xl console: raw terminal pass-through until the domain goes away or the
// user types the escape character, Ctrl-] (as xenconsole).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "control/protocol.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

constexpr char kEscape = 0x1d;  // Ctrl-]

class RawTerminal {
public:
    RawTerminal() {
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
            termios raw = saved_;
            cfmakeraw(&raw);
            raw.c_oflag |= OPOST;  // keep \n -> \r\n on output
            tcsetattr(STDIN_FILENO, TCSANOW, &raw);
            active_ = true;
        }
    }
    ~RawTerminal() { restore(); }
    void restore() {
        if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
        active_ = false;
    }
    bool active() const { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

bool write_all(int fd, const char* p, std::size_t n) {
    while (n) {
        ssize_t w = ::write(fd, p, n);
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

// After the stream ended: was it the domain going away (the daemon shuts
// the stream and keeps listening) or the daemon itself dying (its listening
// socket went with it, closed before the stream as the process exited)?
bool daemon_listening() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", control::socket_path().c_str());
    return fd.valid() &&
           ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace

int run_console(UniqueFd fd) {
    auto reply = control::recv_message(fd.get());
    if (!reply || !*reply) {
        std::fprintf(stderr, "Unable to attach console\n");
        return 1;
    }
    if (!(**reply)["ok"].get<bool>()) {
        std::fprintf(stderr, "%s\n", (**reply)["error"].get<std::string>().c_str());
        return 1;
    }
    RawTerminal term;
    bool stdin_open = true;
    char buf[4096];
    for (;;) {
        pollfd fds[2] = {{fd.get(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        if (::poll(fds, stdin_open ? 2 : 1, -1) < 0) continue;
        if (fds[0].revents) {
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;  // the domain or the daemon is gone
            if (!write_all(STDOUT_FILENO, buf, static_cast<std::size_t>(n))) break;
        }
        if (stdin_open && fds[1].revents) {
            ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0) {
                stdin_open = false;  // keep showing output after input ends
                continue;
            }
            for (ssize_t i = 0; i < n; ++i)
                if (buf[i] == kEscape) return 0;
            if (!write_all(fd.get(), buf, static_cast<std::size_t>(n))) break;
        }
    }
    if (!daemon_listening()) {
        term.restore();
        std::fprintf(stderr, "xl: lost the connection to xenolithd\n");
        return 1;
    }
    return 0;
}

int cmd_console(const Args& a) {
    std::string dom;
    for (std::size_t i = 1; i < a.size(); ++i) {
        if ((a[i] == "-t" || a[i] == "-n") && i + 1 < a.size()) {
            if (a[i] == "-t" && a[i + 1] != "pv") {
                std::fprintf(stderr, "only the pv console is available\n");
                return 1;
            }
            ++i;
        } else {
            dom = a[i];
        }
    }
    if (dom.empty()) return print_usage("console"), 2;
    UniqueFd fd = connect_daemon();
    if (!fd.valid()) return 1;
    if (!control::send_message(fd.get(), {{"cmd", "console"}, {"domain", dom}})) return 1;
    return run_console(std::move(fd));
}

}  // namespace xenolith::xl
