// xl migrate and xl migrate-receive (Xen 4.17's tools/xl/xl_migrate.c):
// the sender runs "<sshcommand> <host> xl migrate-receive" with its stdin
// and stdout as the stream, and the two xl processes hold the handshake
// (migration/xl_migrate_messages.hpp); each side's xenolithd writes or
// reads the image through a descriptor xl passes it. Messages and exit
// statuses are xl's.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "control/libxl_compat.hpp"
#include "migration/xl_migrate_messages.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/xl/transfer.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

namespace {

using migration::XlMigrateMessage;

ByteSpan message(XlMigrateMessage m) { return migration::xl_migrate_message_bytes(m); }

// migrate_read_fixedmessage: reads `m`'s bytes and compares them.
bool read_fixed(int fd, XlMigrateMessage m, const char* what, const char* rune) {
    const ByteSpan want = message(m);
    std::vector<std::uint8_t> got(want.size());
    const char* stream = rune ? "migration receiver stream" : "migration stream";
    if (read_exactly(fd, got.data(), got.size(), stream, what)) return false;
    if (std::memcmp(got.data(), want.data(), want.size()) != 0) {
        std::fprintf(stderr, "%s contained unexpected data instead of %s\n", stream, what);
        if (rune) std::fprintf(stderr, "(command run was: %s )\n", rune);
        return false;
    }
    return true;
}

bool write_fixed(int fd, XlMigrateMessage m, const char* source, const char* what) {
    const ByteSpan b = message(m);
    return write_exactly(fd, b.data(), b.size(), source, what) == 0;
}

// The transport: `sh -c <rune>` with a pipe each way.
struct Transport {
    pid_t child = -1;
    UniqueFd send;  // its stdin
    UniqueFd recv;  // its stdout
};

Transport start_transport(const std::string& rune) {
    int to_child[2], from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) || ::pipe2(from_child, O_CLOEXEC)) {
        std::fprintf(stderr, "xl: fatal error: xl_migrate.c:44, rc=-3: libxl_pipe(ctx, sendpipe)\n");
        std::exit(EXIT_FAILURE);
    }
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) {
        std::perror("fork failed");
        std::exit(EXIT_FAILURE);
    }
    if (child == 0) {
        ::dup2(to_child[0], 0);
        ::dup2(from_child[1], 1);
        ::execlp("sh", "sh", "-c", rune.c_str(), static_cast<char*>(nullptr));
        std::perror("failed to exec sh");
        std::_Exit(EXIT_FAILURE);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    // A receiver that dies is an error to report, not a reason to die.
    ::signal(SIGPIPE, SIG_IGN);
    return Transport{child, UniqueFd(to_child[1]), UniqueFd(from_child[0])};
}

// migration_child_report: gives the transport 2 s to exit and reports a
// failure status as libxl_report_child_exitstatus does.
void report_transport(Transport& t) {
    if (t.child < 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    int recv_fd = t.recv.get();
    for (;;) {
        int status = 0;
        const pid_t got = ::waitpid(t.child, &status, WNOHANG);
        if (got == t.child) {
            const std::string what =
                "migration transport process [" + std::to_string(t.child) + "]";
            if (WIFEXITED(status) && WEXITSTATUS(status))
                libxl_log("info", "libxl_exec.c:117:libxl_report_child_exitstatus",
                          control::kNoDomid,
                          what + " exited with error status " + std::to_string(WEXITSTATUS(status)));
            else if (WIFSIGNALED(status))
                libxl_log("info", "libxl_exec.c:127:libxl_report_child_exitstatus",
                          control::kNoDomid,
                          what + " died due to fatal signal " + strsignal(WTERMSIG(status)) +
                              (WCOREDUMP(status) ? " (core dumped)" : ""));
            break;
        }
        if (got < 0) {
            std::fprintf(stderr, "wait for migration child [%ld] failed: %s\n",
                         static_cast<long>(t.child), std::strerror(errno));
            break;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now > deadline) {
            std::fprintf(stderr,
                         "migration child [%ld] not exiting, no longer waiting (exit status will "
                         "be unreported)\n",
                         static_cast<long>(t.child));
            break;
        }
        const int left_ms = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) + 1;
        if (recv_fd >= 0) {
            pollfd p{recv_fd, POLLIN, 0};
            if (::poll(&p, 1, left_ms) > 0) recv_fd = -1;  // data or EOF: just wait now
        } else {
            ::poll(nullptr, 0, 1);
        }
    }
    t.child = -1;
}

bool domain_request(const nlohmann::json& req) {
    auto reply = request(req);
    return reply && reply->value("ok", false);
}

bool rename_domain(std::uint32_t domid, const std::string& name) {
    return domain_request({{"cmd", "rename"}, {"domid", domid}, {"name", name}});
}

void resume_at_sender(std::uint32_t domid) {
    (void)domain_request({{"cmd", "resume_suspended"}, {"domid", domid}});
}

[[noreturn]] void failed_badly(Transport& t) {
    std::fprintf(stderr,
                 "** Migration failed during final handshake **\n"
                 "Domain state is now undefined !\n"
                 "Please CHECK AT BOTH ENDS for running instances, before renaming and\n"
                 " resuming at most one instance.  Two simultaneous instances of the domain\n"
                 " would probably result in SEVERE DATA LOSS and it is now your\n"
                 " responsibility to avoid that.  Sorry.\n");
    t.send.reset();
    report_transport(t);
    std::exit(EXIT_FAILURE);
}

[[noreturn]] void failed_resume(Transport& t, std::uint32_t domid) {
    t.send.reset();
    report_transport(t);
    std::fprintf(stderr, "Migration failed, resuming at sender.\n");
    resume_at_sender(domid);
    std::exit(EXIT_FAILURE);
}

// migrate_domain: everything after the command line.
[[noreturn]] void migrate_domain(std::uint32_t domid, const std::string& name, const char* rune,
                                 bool debug, const std::optional<std::string>& config_file) {
    // save_domain_core_begin: the config that will travel.
    std::optional<nlohmann::json> override;
    if (config_file) {
        if (!file_readable(*config_file)) {
            std::fprintf(stderr, "unable to read overridden config file\n");
            std::exit(EXIT_FAILURE);
        }
        auto cfg = load_domain_config(*config_file, {});
        if (!cfg) std::exit(EXIT_FAILURE);
        override = config::to_json(*cfg);
    } else {
        auto reply = request({{"cmd", "list"}});
        if (!reply) std::exit(EXIT_FAILURE);
        const nlohmann::json* entry = nullptr;
        for (const auto& d : (*reply)["domains"])
            if (d["domid"] == domid && domid != 0) entry = &d;
        if (!entry) {
            std::fprintf(stderr, "unable to retrieve domain configuration\n");
            std::exit(EXIT_FAILURE);
        }
        if (!entry->contains("config") || (*entry)["config"].is_null()) {
            std::fprintf(stderr, "No config file stored for running domain and none supplied - "
                                 "cannot migrate.\n");
            std::exit(EXIT_FAILURE);
        }
    }

    Transport t = start_transport(rune);
    // migrate_do_preamble: the receiver's banner first.
    if (!read_fixed(t.recv.get(), XlMigrateMessage::ReceiverBanner, "banner", rune)) {
        t.send.reset();
        report_transport(t);
        std::exit(EXIT_FAILURE);
    }

    // libxl_domain_suspend, live: xenolithd writes the header and the
    // image into the transport's stdin and keeps the domain suspended.
    nlohmann::json req = {{"cmd", "save"}, {"domid", domid}, {"live", true}, {"after", "suspended"}};
    if (override) req["config"] = std::move(*override);
    if (debug) req["debug"] = true;
    auto reply = run_transfer(req, t.send.get(), [](const nlohmann::json& ask) {
        print_saving_to("migration stream", ask);
    });
    if (!reply || !reply->value("ok", false)) {
        if (reply) std::fprintf(stderr, "%s\n", reply->value("error", std::string()).c_str());
        std::fprintf(stderr, "migration sender: libxl_domain_suspend failed (rc=%d)\n",
                     kLibxlErrorFail);
        failed_resume(t, domid);
    }

    if (!read_fixed(t.recv.get(), XlMigrateMessage::ReceiverReady, "ready message", rune))
        failed_resume(t, domid);

    // About to let the destination rename and resume: rename ours away first.
    std::fprintf(stderr, "migration sender: Target has acknowledged transfer.\n");
    const std::string away = name + "--migratedaway";
    if (!name.empty() && !rename_domain(domid, away)) failed_resume(t, domid);

    // The point of no return: once "go" may have been said, carrying on
    // alone is not safe; the domain stays renamed away.
    std::fprintf(stderr, "migration sender: Giving target permission to start.\n");
    if (!write_fixed(t.send.get(), XlMigrateMessage::PermissionToGo, "migration stream",
                     "GO message"))
        failed_badly(t);
    if (!read_fixed(t.recv.get(), XlMigrateMessage::Report, "success/failure report message", rune))
        failed_badly(t);
    char status = 0;
    if (read_exactly(t.recv.get(), &status, 1, "migration ack stream", "success/failure status"))
        failed_badly(t);

    if (status) {
        std::fprintf(stderr, "migration sender: Target reports startup failure (status code %d).\n",
                     status);
        if (!read_fixed(t.recv.get(), XlMigrateMessage::PermissionToGo,
                        "permission for sender to resume", rune))
            failed_badly(t);
        std::fprintf(stderr, "migration sender: Trying to resume at our end.\n");
        if (!name.empty()) (void)rename_domain(domid, name);
        if (domain_request({{"cmd", "resume_suspended"}, {"domid", domid}}))
            std::fprintf(stderr, "migration sender: Resumed OK.\n");
        std::fprintf(stderr, "Migration failed due to problems at target.\n");
        std::exit(EXIT_FAILURE);
    }

    std::fprintf(stderr, "migration sender: Target reports successful startup.\n");
    (void)domain_request({{"cmd", "destroy"}, {"domain", std::to_string(domid)}});  // bang!
    std::fprintf(stderr, "Migration successful.\n");
    std::exit(EXIT_SUCCESS);
}

// minmsglevel_default in xl: XTL_PROGRESS, so " -vvvv" is the most -v's
// the receiver can be told about.
constexpr int kMinMsgLevelDefault = 4;

}  // namespace

// main_migrate: "FC:s:epD" and --debug, --live; two operands.
int cmd_migrate(const Args& a) {
    std::optional<std::string> config_file;
    std::string ssh_command = "ssh";
    bool daemonize = true, debug = false, pause_after = false;
    std::vector<std::string> operands;
    auto unsupported = [](char c) {
        std::fputs("option `", stderr);
        std::fputc(c, stderr);
        std::fputs("' not supported.\n", stderr);
        return 2;
    };
    bool operands_only = false;
    for (std::size_t i = 1; i < a.size(); ++i) {
        const std::string& s = a[i];
        if (operands_only || s.size() < 2 || s[0] != '-') {
            operands.push_back(s);
        } else if (s == "--") {
            operands_only = true;
        } else if (s.starts_with("--")) {
            if (s == "--debug") debug = true;
            else if (s == "--live") continue;  // ignored, as xl does (xm compatibility)
            else return unsupported('\0');
        } else {
            for (std::size_t k = 1; k < s.size(); ++k) {
                const char c = s[k];
                if (c == 'C' || c == 's') {  // take the rest of the word, or the next one
                    std::string value;
                    if (k + 1 < s.size()) value = s.substr(k + 1);
                    else if (i + 1 < a.size()) value = a[++i];
                    else return unsupported(c);
                    if (c == 'C') config_file = value;
                    else ssh_command = value;
                    break;
                }
                switch (c) {
                case 'F': daemonize = false; break;
                case 'e': daemonize = false; break;
                case 'p': pause_after = true; break;
                case 'D': break;  // preserve the domid: a new host gives a new one
                default: return unsupported(c);
                }
            }
        }
    }
    if (operands.size() < 2) {
        std::fprintf(stderr, "'xl migrate' requires at least 2 arguments.\n\n");
        print_usage("migrate");
        return 2;
    }
    const std::uint32_t domid = domain_qualifier(operands[0]);
    const std::string& host = operands[1];
    // find_domain remembers the domain's name (common_domname).
    std::string name;
    if (auto d = find_domain(operands[0]); d && !d->is_null()) name = (*d)["name"];

    const bool pass_tty_arg = progress_use_cr || ::isatty(2) > 0;
    std::string rune;
    if (ssh_command.empty()) {
        rune = host;
    } else {
        // " -v..." for each -v given to this xl, as the receiver's logger
        // should match.
        std::string verbose;
        if (verbose_count > 0)
            verbose = " -" + std::string(std::min(verbose_count, kMinMsgLevelDefault), 'v');
        rune = "exec " + ssh_command + " " + host + " xl" + (pass_tty_arg ? " -t" : "") +
               (timestamps ? " -T" : "") + verbose + " migrate-receive" +
               (daemonize ? "" : " -e") + (debug ? " -d" : "") + (pause_after ? " -p" : "");
    }
    migrate_domain(domid, name, rune.c_str(), debug, config_file);
}

// main_migrate_receive: "Fedrp" (and the COLO options, which xenolith
// does not have); no operands. stdin and stdout are the stream.
int cmd_migrate_receive(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "migrate-receive", "Fedrp",
                           {{"colo", 'K'}, {"userspace-colo-proxy", 'U'}}, 0, rc);
    if (!o) return rc;
    if (!o->args.empty()) {
        print_usage("migrate-receive");
        return EXIT_FAILURE;
    }
    if (has_flag(*o, 'r') || has_flag(*o, 'K') || has_flag(*o, 'U')) {
        std::fprintf(stderr, "migration target: Remus and COLO checkpointed streams are not "
                             "supported by xenolith\n");
        return EXIT_FAILURE;
    }
    const bool pause_after = has_flag(*o, 'p');
    constexpr int send_fd = STDOUT_FILENO, recv_fd = STDIN_FILENO;
    ::signal(SIGPIPE, SIG_IGN);

    std::fprintf(stderr, "migration target: Ready to receive domain.\n");
    const ByteSpan banner = message(XlMigrateMessage::ReceiverBanner);
    check_errnoval(write_exactly(send_fd, banner.data(), banner.size(), "migration ack stream",
                                 "banner"),
                   "xl_migrate.c:337",
                   "libxl_write_exactly( ctx, send_fd, migrate_receiver_banner, "
                   "sizeof(migrate_receiver_banner)-1, \"migration ack stream\", \"banner\")");

    std::string common_name;
    RestoreRun run;
    run.fd = recv_fd;
    run.source = "<incoming migration stream>";
    run.paused = true;
    run.debug = has_flag(*o, 'd');
    run.incoming = true;
    run.common_name = &common_name;
    const int created = restore_domain(run);
    if (created < 0) {
        std::fprintf(stderr, "migration target: Domain creation failed (code %d).\n", created);
        return EXIT_FAILURE;
    }
    const auto domid = static_cast<std::uint32_t>(created);

    std::fprintf(stderr, "migration target: Transfer complete, requesting permission to start "
                         "domain.\n");
    if (!write_fixed(send_fd, XlMigrateMessage::ReceiverReady, "migration ack stream",
                     "ready message"))
        return EXIT_FAILURE;

    int result = 0;  // libxl's rc: 0, or what failed
    if (!read_fixed(recv_fd, XlMigrateMessage::PermissionToGo, "GO message", nullptr)) {
        result = 1;
    } else {
        std::fprintf(stderr, "migration target: Got permission, starting domain.\n");
        if (!common_name.empty() && !rename_domain(domid, common_name)) result = kLibxlErrorFail;
        if (!result && !pause_after &&
            !domain_request({{"cmd", "unpause"}, {"domain", std::to_string(domid)}}))
            result = kLibxlErrorFail;
        if (!result) std::fprintf(stderr, "migration target: Domain started successsfully.\n");
    }

    // The report and its status byte: -rc, as xl sends it.
    if (!write_fixed(send_fd, XlMigrateMessage::Report, "migration ack stream",
                     "success/failure report"))
        return EXIT_FAILURE;
    const char status = static_cast<char>(-result);
    if (write_exactly(send_fd, &status, 1, "migration ack stream", "success/failure code"))
        return EXIT_FAILURE;
    if (result) {
        std::fprintf(stderr, "migration target: Failure, destroying our copy.\n");
        if (!domain_request({{"cmd", "destroy"}, {"domain", std::to_string(domid)}})) {
            std::fprintf(stderr, "migration target: Failed to destroy our copy (code %d).\n",
                         kLibxlErrorFail);
            return EXIT_FAILURE;
        }
        std::fprintf(stderr, "migration target: Cleanup OK, granting sender permission to "
                             "resume.\n");
        if (!write_fixed(send_fd, XlMigrateMessage::PermissionToGo, "migration ack stream",
                         "permission to sender to have domain back"))
            return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

}  // namespace xenolith::xl
