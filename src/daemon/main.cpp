// xenolithd: the hypervisor daemon. Owns every domain; serves xl on a unix
// socket and xenstore on another. SIGTERM/SIGINT destroy all domains (their
// console logs remain) and remove the sockets: nothing outlives the daemon.
// SIGHUP is ignored (see "Stopping xenolithd" in ARCHITECTURE.md).
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
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
#include <memory>
#include <string>

#include "base/accept_guard.hpp"
#include "base/log.hpp"
#include "base/unique_fd.hpp"
#include "control/protocol.hpp"
#include "daemon/caller.hpp"
#include "daemon/hypervisor.hpp"
#include "daemon/requests.hpp"
#include "xenstore/socket_transport.hpp"

namespace {

using namespace xenolith;

std::atomic<int> g_listen_fd{-1};
std::atomic<bool> g_stop{false};

void on_terminate(int) {
    g_stop = true;
    // Wake the accept loop's poll(): shutting the listening socket down
    // makes it return (the 1 s timeout would do too, later).
    if (int fd = g_listen_fd.load(); fd >= 0) shutdown(fd, SHUT_RDWR);
}

// Control connections: one thread each, because a console connection lives
// as long as `xl console` and a "wait" as long as `xl shutdown -w`; every
// other xl request is one short exchange. The number is capped and a thread
// that cannot be made (EAGAIN/ENOMEM under a task or memory limit) only
// costs that client its connection.
constexpr unsigned kMaxConnections = 512;
// Enough for the deepest request (create: the domain builder, the JSON
// parser at the depth recv_request allows); 1/8 of glibc's default, so a
// memory limit that still lets the guests run also lets clients in.
constexpr std::size_t kConnectionStack = 1 << 20;

std::atomic<unsigned> g_connections{0};
// Creates and destroys finished since the heap was last trimmed, and
// requests in progress: the heap is trimmed when domains came or went and
// the control socket has been quiet for a while (see trim_when_quiet).
std::atomic<unsigned> g_domain_churn{0};
std::atomic<unsigned> g_requests_busy{0};

void serve_client(daemon::Hypervisor& hv, UniqueFd fd) {
    auto caller = daemon::peer_caller(fd.get());
    if (!caller) {
        log::warn("control connection: {}; closing it", caller.error().what);
        return;
    }
    const daemon::CallerScope scope(&*caller);
    for (;;) {
        auto msg = control::recv_request(fd.get(), control::kRequestLimits);
        if (!msg) {
            log::warn("control connection (pid {}, uid {}): {}; closing it", caller->pid,
                      caller->uid, msg.error().what);
            (void)control::send_message(fd.get(), {{"ok", false}, {"error", msg.error().what}});
            return;
        }
        if (!*msg) return;
        const nlohmann::json& req = **msg;
        const bool named = req.contains("cmd") && req["cmd"].is_string();  // else: unknown
        const bool transfer = named && (req["cmd"] == "save" || req["cmd"] == "restore");
        if (named && (req["cmd"] == "console" || req["cmd"] == "wait" || transfer)) {
            // These keep the connection; a wrongly typed field in one
            // ends it with an error reply, never the daemon.
            try {
                if (req["cmd"] == "console") daemon::serve_console(hv, fd.get(), req);
                else if (req["cmd"] == "wait") daemon::serve_wait(hv, fd.get(), req);
                else {
                    struct Busy {
                        Busy() { ++g_requests_busy; }
                        ~Busy() { --g_requests_busy; ++g_domain_churn; }  // a domain came or went
                    } busy;
                    daemon::serve_transfer(hv, fd.get(), req);
                }
            } catch (const nlohmann::json::exception& e) {
                (void)control::send_message(
                    fd.get(), {{"ok", false}, {"error", std::string("malformed request: ") + e.what()}});
            }
            return;
        }
        ++g_requests_busy;
        const nlohmann::json reply = daemon::handle_request(hv, req);
        if (named && (req["cmd"] == "create" || req["cmd"] == "destroy")) ++g_domain_churn;
        --g_requests_busy;
        if (!control::send_message(fd.get(), reply)) return;
    }
}

struct ConnectionStart {
    daemon::Hypervisor* hv;
    UniqueFd fd;
};

void* connection_main(void* arg) {
    std::unique_ptr<ConnectionStart> start(static_cast<ConnectionStart*>(arg));
    try {
        serve_client(*start->hv, std::move(start->fd));
    } catch (const std::exception& e) {
        // Out of memory or threads inside a request: that client loses its
        // connection; the daemon and its guests go on.
        log::error("control connection: {}; closing it", e.what());
    }
    --g_connections;
    return nullptr;
}

// Serves `fd` on a thread of its own, or refuses it (closing it) when the
// cap is reached or no thread can be made. Logs a refusal once per episode.
void start_connection(daemon::Hypervisor& hv, UniqueFd fd) {
    static bool refusing = false;
    auto refuse = [&](const char* why) {
        if (!refusing) log::warn("control connection refused: {} (logged once until one is served)", why);
        refusing = true;
    };
    if (g_connections.load() >= kMaxConnections) return refuse("too many connections");
    auto* start = new (std::nothrow) ConnectionStart{&hv, std::move(fd)};
    if (!start) return refuse("out of memory");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, kConnectionStack);
    ++g_connections;
    pthread_t thread;
    const int err = pthread_create(&thread, &attr, connection_main, start);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        --g_connections;
        delete start;  // closes the client's fd
        return refuse(std::strerror(err));
    }
    pthread_setname_np(thread, "control");
    if (refusing) log::info("control connections served again");
    refusing = false;
}

// glibc keeps freed memory (M_TRIM_THRESHOLD, set in main), which is right
// while requests come and go but lets RSS creep as domains are created and
// destroyed. When domains came or went and no request has been in progress
// for `kQuiet`, the heap is trimmed once: one pass of MMU notifiers at an
// idle moment instead of one per request.
constexpr int kQuietMs = 1000;

void trim_when_quiet(unsigned& trimmed_churn) {
    const unsigned churn = g_domain_churn.load();
    if (churn == trimmed_churn || g_requests_busy.load() != 0) return;
    trimmed_churn = churn;
    malloc_trim(0);
}

void usage() {
    std::fprintf(stderr,
                 "Usage: xenolithd [--run-dir DIR] [--log-dir DIR] [--xenstore-socket PATH] "
                 "[--serial-input PATH] [--dump-dir DIR] [--xl-conf PATH] [--verbose]\n"
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
                 "                 /var/lib/xen/dump, xl's XEN_DUMP_DIR)\n"
                 "  --xl-conf PATH  xl.conf for vif.default.* and run_hotplug_scripts (default\n"
                 "                 /etc/xen/xl.conf; absent: libxl's defaults)\n",
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
    // glibc gives threads up to 8 arenas per CPU, each keeping its own
    // free memory; vCPU and connection threads would pin one each. Four
    // arenas keep malloc contention low and the heap trim-able.
    mallopt(M_ARENA_MAX, 4);
    daemon::HypervisorOptions opts;
    opts.run_dir = control::run_dir();
    opts.console_log_dir = "/var/log/xen/console";
    static const option longopts[] = {{"run-dir", required_argument, nullptr, 'r'},
                                      {"log-dir", required_argument, nullptr, 'l'},
                                      {"xenstore-socket", required_argument, nullptr, 'x'},
                                      {"serial-input", required_argument, nullptr, 's'},
                                      {"dump-dir", required_argument, nullptr, 'd'},
                                      {"xl-conf", required_argument, nullptr, 'c'},
                                      {"verbose", no_argument, nullptr, 'v'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    for (int c; (c = getopt_long(argc, argv, "r:l:x:d:s:c:vh", longopts, nullptr)) != -1;) {
        switch (c) {
            case 'r': opts.run_dir = optarg; break;
            case 'l': opts.console_log_dir = optarg; break;
            case 'x': opts.xenstore_socket = optarg; break;
            case 's': opts.serial_input = optarg; break;
            case 'd': opts.dump_dir = optarg; break;
            case 'c': opts.xl_conf = optarg; break;
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
    UniqueFd listen_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
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
    // A terminal hang-up (started from a shell that exits) must not kill every
    // guest. Xen's daemons take SIGHUP to reopen their logs; xenolithd's log
    // is its stderr (the journal under systemd), so there is nothing to do.
    signal(SIGHUP, SIG_IGN);

    log::info("xenolithd listening on {}", path);
    AcceptGuard guard("control socket");
    unsigned trimmed_churn = 0;
    while (!g_stop) {
        // accept() would block forever; poll first so that a quiet socket
        // is noticed (and the heap trimmed).
        pollfd p{listen_fd.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, kQuietMs);
        if (g_stop) break;
        if (ready == 0) {
            trim_when_quiet(trimmed_churn);
            continue;
        }
        if (ready < 0) continue;  // EINTR
        // The listening fd is non-blocking; the connection is served with
        // blocking I/O (Linux does not pass O_NONBLOCK on).
        int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err == EINTR || err == EAGAIN || err == ECONNABORTED) continue;
            if (g_stop) break;
            if (AcceptGuard::out_of_resources(err)) {
                if (guard.refuse_one(listen_fd.get(), err) == AcceptGuard::Refusal::no_spare)
                    ::poll(nullptr, 0, 100);
                continue;
            }
            log::warn("accept: {}", std::strerror(err));
            ::poll(nullptr, 0, 100);  // an unexpected error must not spin either
            continue;
        }
        guard.accepted();
        start_connection(**hv, UniqueFd(fd));
    }
    log::info("xenolithd stopping: destroying {} domain(s)", (*hv)->domains().all().size());
    ::unlink(path.c_str());
    (*hv)->toolstack().destroy_all();  // devices first: back-ends, scripts, nodes
    (*hv)->stop_xenstore();
    // Detached client threads may still hold domain references; process exit
    // reclaims them. KVM fds close with the process, so no VM outlives us.
    std::fflush(nullptr);
    _exit(0);
}
