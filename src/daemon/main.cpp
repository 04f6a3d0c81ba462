// xenolithd: the hypervisor daemon. Owns every domain; serves xl on a unix
// socket and xenstore on another. SIGTERM/SIGINT destroy all domains (their
// console logs remain) and remove the sockets: nothing outlives the daemon.
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "base/log.hpp"
#include "base/unique_fd.hpp"
#include "control/protocol.hpp"
#include "daemon/hypervisor.hpp"
#include "daemon/requests.hpp"
#include "xenstore/socket_transport.hpp"

namespace {

using namespace xenolith;

std::atomic<int> g_listen_fd{-1};
std::atomic<bool> g_stop{false};

void on_terminate(int) {
    g_stop = true;
    // Wake accept(): shutting the listening socket down makes it return.
    if (int fd = g_listen_fd.load(); fd >= 0) shutdown(fd, SHUT_RDWR);
}

void serve_client(daemon::Hypervisor& hv, UniqueFd fd) {
    for (;;) {
        auto msg = control::recv_message(fd.get());
        if (!msg || !*msg) return;
        const nlohmann::json& req = **msg;
        const bool named = req.contains("cmd") && req["cmd"].is_string();  // else: unknown
        if (named && (req["cmd"] == "console" || req["cmd"] == "wait")) {
            // These two keep the connection; a wrongly typed field in one
            // ends it with an error reply, never the daemon.
            try {
                if (req["cmd"] == "console") daemon::serve_console(hv, fd.get(), req);
                else daemon::serve_wait(hv, fd.get(), req);
            } catch (const nlohmann::json::exception& e) {
                (void)control::send_message(
                    fd.get(), {{"ok", false}, {"error", std::string("malformed request: ") + e.what()}});
            }
            return;
        }
        if (!control::send_message(fd.get(), daemon::handle_request(hv, req))) return;
    }
}

void usage() {
    std::fprintf(stderr,
                 "Usage: xenolithd [--run-dir DIR] [--log-dir DIR] [--xenstore-socket PATH] "
                 "[--serial-input PATH] [--dump-dir DIR] [--verbose]\n"
                 "  --run-dir DIR  control socket directory (default $XENOLITH_RUN_DIR or "
                 "/run/xenolith)\n"
                 "  --log-dir DIR  console logs, guest-NAME.log (default /var/log/xen/console)\n"
                 "  --xenstore-socket PATH  xenstore's unix socket (default DIR/xenstored/socket\n"
                 "                 with a run dir other than /run/xenolith, else $XENSTORED_PATH,\n"
                 "                 else $XENSTORED_RUNDIR/socket, else %s)\n"
                 "  --serial-input PATH  the hypervisor's serial line (a FIFO, file or tty):\n"
                 "                 its bytes go to the domain with global_virqs=[\"console\"]\n"
                 "                 (VIRQ_CONSOLE, CONSOLEIO_read)\n"

                 "  --dump-dir DIR  cores of on_*=coredump-* domains, as DIR/NAME (default\n"
                 "                 RUNDIR/dump with a run dir other than /run/xenolith, else\n"
                 "                 /var/lib/xen/dump, xl's XEN_DUMP_DIR)\n",
                 xenstore::kDefaultSocketPath);
}

}  // namespace

int main(int argc, char** argv) {
    // Every mmap/munmap/mprotect of this process runs KVM's MMU notifier
    // once per VM, so malloc must not hand memory back and forth with the
    // kernel per request: no trimming, no mmap for large blocks (a 200-domain
    // "list" reply went from ~17 to ~6.5 ms; bench/list.sh).
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    daemon::HypervisorOptions opts;
    opts.run_dir = control::run_dir();
    opts.console_log_dir = "/var/log/xen/console";
    static const option longopts[] = {{"run-dir", required_argument, nullptr, 'r'},
                                      {"log-dir", required_argument, nullptr, 'l'},
                                      {"xenstore-socket", required_argument, nullptr, 'x'},
                                      {"serial-input", required_argument, nullptr, 's'},
                                      {"dump-dir", required_argument, nullptr, 'd'},
                                      {"verbose", no_argument, nullptr, 'v'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    for (int c; (c = getopt_long(argc, argv, "r:l:x:d:s:vh", longopts, nullptr)) != -1;) {
        switch (c) {
            case 'r': opts.run_dir = optarg; break;
            case 'l': opts.console_log_dir = optarg; break;
            case 'x': opts.xenstore_socket = optarg; break;
            case 's': opts.serial_input = optarg; break;
            case 'd': opts.dump_dir = optarg; break;
            case 'v': log::set_level(log::Level::debug); break;
            case 'h': usage(); return 0;
            default: usage(); return 2;
        }
    }
    // Both may be several levels deep (/var/log/xen/console on a host that
    // never had Xen): create the whole path, then report what failed.
    for (const std::string& dir : {opts.run_dir, opts.console_log_dir}) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            log::error("xenolithd: cannot create {}: {}", dir, ec.message());
            return 1;
        }
    }
    // A private run dir (tests, benchmarks) gets a private socket, so that
    // parallel daemons never collide; otherwise libxenstore's own rule, so
    // that clients in the same environment find it.
    if (opts.xenstore_socket.empty() && opts.run_dir != "/run/xenolith")
        opts.xenstore_socket = opts.run_dir + "/xenstored/socket";
    if (opts.xenstore_socket.empty()) opts.xenstore_socket = xenstore::socket_path_from_environment();
    if (opts.xenstore_socket.empty()) opts.xenstore_socket = xenstore::kDefaultSocketPath;
    // Cores follow the same rule; the directory is made at the first dump.
    if (opts.dump_dir.empty())
        opts.dump_dir = opts.run_dir != "/run/xenolith" ? opts.run_dir + "/dump"
                                                        : "/var/lib/xen/dump";

    auto hv = daemon::Hypervisor::create(opts);
    if (!hv) {
        log::error("xenolithd: {}", hv.error().what);
        return 1;
    }

    const std::string path = opts.run_dir + "/xenolithd.sock";
    UniqueFd listen_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        log::error("xenolithd: socket path too long: {}", path);
        return 1;
    }
    std::strcpy(addr.sun_path, path.c_str());
    ::unlink(path.c_str());
    if (::bind(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::chmod(path.c_str(), 0600) < 0 || ::listen(listen_fd.get(), 64) < 0) {
        log::error("xenolithd: cannot listen on {}: {}", path, std::strerror(errno));
        return 1;
    }
    g_listen_fd = listen_fd.get();

    struct sigaction sa {};
    sa.sa_handler = on_terminate;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    log::info("xenolithd listening on {}", path);
    while (!g_stop) {
        int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            if (g_stop) break;
            log::warn("accept: {}", std::strerror(errno));
            continue;
        }
        // One thread per client: xl connections are short, consoles are few.
        std::thread(serve_client, std::ref(**hv), UniqueFd(fd)).detach();
    }
    log::info("xenolithd stopping: destroying {} domain(s)", (*hv)->domains().all().size());
    ::unlink(path.c_str());
    (*hv)->domains().destroy_all();
    (*hv)->stop_xenstore();
    // Detached client threads may still hold domain references; process exit
    // reclaims them. KVM fds close with the process, so no VM outlives us.
    std::fflush(nullptr);
    _exit(0);
}
