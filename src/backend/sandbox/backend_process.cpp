#include "backend/sandbox/backend_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "backend/sandbox/seccomp_policy.hpp"

namespace xenolith::backend::sandbox {

namespace {

constexpr idtype_t kPidfdId = static_cast<idtype_t>(3);  // P_PIDFD (linux/wait.h)
// Where the new root is built before pivot_root; any directory of the host
// will do, the mount is private to the child's namespace.
constexpr const char* kNewRoot = "/tmp";
// A device needs a handful; the bound keeps the child's fd shuffle on its stack.
constexpr int kMaxPassedFds = 64;

// The steps of entering the sandbox; a failing one is reported to the
// parent by index over the error pipe.
enum Step : int {
    kStepFds, kStepUnshare, kStepPrivate, kStepTmpfs, kStepUsr, kStepPivot, kStepReadOnly,
    kStepLimits, kStepBounding, kStepIds, kStepCapset, kStepFilter, kStepExec, kStepCount,
};
constexpr const char* kStepNames[kStepCount] = {
    "placing the passed fds", "unshare", "making / private", "mounting the tmpfs root",
    "binding /usr", "pivot_root", "making the root read-only", "limits", "dropping the bounding set",
    "setting ids", "capset", "seccomp filter", "execveat",
};

struct ChildFailure {
    int step;
    int err;
};

[[noreturn]] void fail(int errfd, int step, int err) {
    ChildFailure f{step, err};
    [[maybe_unused]] ssize_t n = ::write(errfd, &f, sizeof f);
    ::_exit(127);
}

// Everything before the filter, in the child. Only system calls: the child
// of a multi-threaded daemon must not take locks another thread may hold.
// Returns the error pipe's new number.
int enter_namespaces_and_drop(const SandboxSpec& spec, int errfd, bool with_usr) {
    const int n = static_cast<int>(spec.fds.size());
    const int err_target = kFirstPassedFd + n;
    // Move every fd above the targets first, so no dup2 overwrites a source.
    int high[kMaxPassedFds];
    if (n > kMaxPassedFds) fail(errfd, kStepFds, EMFILE);
    for (int i = 0; i < n; ++i) {
        high[i] = ::fcntl(spec.fds[static_cast<std::size_t>(i)], F_DUPFD_CLOEXEC, err_target + 1);
        if (high[i] < 0) fail(errfd, kStepFds, errno);
    }
    int err_high = ::fcntl(errfd, F_DUPFD_CLOEXEC, err_target + 1);
    if (err_high < 0) fail(errfd, kStepFds, errno);
    errfd = err_high;
    for (int i = 0; i < n; ++i)
        if (::dup2(high[i], kFirstPassedFd + i) < 0) fail(errfd, kStepFds, errno);
    if (::dup3(err_high, err_target, O_CLOEXEC) < 0) fail(errfd, kStepFds, errno);
    errfd = err_target;
    if (::close_range(static_cast<unsigned>(err_target + 1), ~0u, 0) != 0) fail(errfd, kStepFds, errno);

    if (::setsid() < 0) fail(errfd, kStepUnshare, errno);
    if (::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) != 0)
        fail(errfd, kStepUnshare, errno);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        fail(errfd, kStepPrivate, errno);
    if (::mount("xenolith-backend", kNewRoot, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=16k,nr_inodes=16,mode=0555") != 0)
        fail(errfd, kStepTmpfs, errno);
    if (::chdir(kNewRoot) != 0) fail(errfd, kStepTmpfs, errno);
    if (with_usr) {
        // The binary's libraries and nothing else of the host, read-only.
        if (::mkdir("usr", 0555) != 0 || ::symlink("usr/lib", "lib") != 0 ||
            ::symlink("usr/lib64", "lib64") != 0)
            fail(errfd, kStepUsr, errno);
        if (::mount("/usr", "usr", nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
            ::mount(nullptr, "usr", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                    nullptr) != 0)
            fail(errfd, kStepUsr, errno);
    }
    // pivot_root(".", ".") stacks the old root under the new one; detaching
    // it leaves the tmpfs alone.
    if (::syscall(SYS_pivot_root, ".", ".") != 0) fail(errfd, kStepPivot, errno);
    if (::umount2(".", MNT_DETACH) != 0) fail(errfd, kStepPivot, errno);
    if (::chdir("/") != 0) fail(errfd, kStepPivot, errno);
    if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                nullptr) != 0)
        fail(errfd, kStepReadOnly, errno);

    // No core file (it would hold guest data) and no ptrace by a sibling.
    rlimit zero{0, 0};
    if (::setrlimit(RLIMIT_CORE, &zero) != 0) fail(errfd, kStepLimits, errno);
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail(errfd, kStepLimits, errno);

    // The bounding set first (it needs CAP_SETPCAP), the ids while
    // CAP_SETUID/SETGID are still effective, then the sets themselves.
    for (unsigned long cap = 0; cap < 64; ++cap) {
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
        if (errno == EINVAL) break;  // past the kernel's last capability
        fail(errfd, kStepBounding, errno);
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        fail(errfd, kStepBounding, errno);
    if (spec.gid) {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(*spec.gid, *spec.gid, *spec.gid) != 0)
            fail(errfd, kStepIds, errno);
    }
    if (spec.uid && ::setresuid(*spec.uid, *spec.uid, *spec.uid) != 0) fail(errfd, kStepIds, errno);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capset, &hdr, data) != 0) fail(errfd, kStepCapset, errno);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(errfd, kStepCapset, errno);
    return errfd;
}

struct Pipe {
    UniqueFd read, write;
};

// How long a child may take from fork to exec (or to a sandbox ready for
// its function): namespaces, identities and the filter, nothing slow.
constexpr int kSetupTimeoutMs = 20000;

Result<Pipe> make_pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return make_error(fmt::format("pipe: {}", std::strerror(errno)));
    return Pipe{UniqueFd(p[0]), UniqueFd(p[1])};
}

}  // namespace

std::string ExitInfo::describe() const {
    if (!launch_error.empty()) return "could not be restarted: " + launch_error;
    if (signaled) return fmt::format("killed by signal {} ({})", code, ::strsignal(code));
    return fmt::format("exited with status {}", code);
}

// Forks, runs `child` (which never returns) in the child, and waits for
// the error pipe to close: on exec (close-on-exec) or when the sandbox is
// up (fork_function closes it). A report on it is the step that failed.
template <class Child>
Result<BackendProcess> BackendProcess::launch(const SandboxSpec& spec, Child&& child) {
    auto pipe = make_pipe();
    if (!pipe) return pipe.error();
    pid_t pid = ::fork();
    if (pid < 0) return make_error(fmt::format("{}: fork: {}", spec.name, std::strerror(errno)));
    if (pid == 0) {
        pipe->read.reset();
        child(pipe->write.get());
    }
    pipe->write.reset();
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    int open_err = errno;
    // Bounded: a child stuck before its exec (or its sandbox) must not
    // hold up the thread that launches and serves every back-end.
    pollfd ready{pipe->read.get(), POLLIN, 0};
    int polled;
    do polled = ::poll(&ready, 1, kSetupTimeoutMs);
    while (polled < 0 && errno == EINTR);
    ChildFailure f{};
    ssize_t got = -1;
    if (polled > 0) {
        do got = ::read(pipe->read.get(), &f, sizeof f);
        while (got < 0 && errno == EINTR);
    }
    if (polled <= 0 || got == static_cast<ssize_t>(sizeof f) || !pidfd.valid()) {
        int status = 0;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        if (!pidfd.valid())
            return make_error(fmt::format("{}: pidfd_open: {}", spec.name, std::strerror(open_err)));
        if (polled <= 0)
            return make_error(fmt::format("{}: sandbox: not set up within {} s (killed)", spec.name,
                                          kSetupTimeoutMs / 1000));
        const char* step = f.step >= 0 && f.step < kStepCount ? kStepNames[f.step] : "?";
        return make_error(fmt::format("{}: sandbox: {}: {}", spec.name, step, std::strerror(f.err)));
    }
    return BackendProcess(pid, std::move(pidfd));
}

Result<BackendProcess> BackendProcess::fork_function(const SandboxSpec& spec, std::function<int()> body) {
    return launch(
        spec,
        [&](int errfd) {
            errfd = enter_namespaces_and_drop(spec, errfd, false);
            // Built here because the filter names the child's own pid.
            if (!install_backend_filter(FilterStage::Running)) fail(errfd, kStepFilter, EINVAL);
            ::close(errfd);
            ::_exit(body());
        });
}

Result<BackendProcess> BackendProcess::exec(const SandboxSpec& spec, int binary_fd,
                                            const std::vector<std::string>& argv) {
    // The argument vector is built before the fork: the child only makes
    // system calls until the binary runs.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* no_env[] = {nullptr};
    SandboxSpec with_binary = spec;
    with_binary.fds.push_back(binary_fd);
    const int exec_fd = kFirstPassedFd + static_cast<int>(spec.fds.size());
    return launch(
        with_binary,
        [&](int errfd) {
            errfd = enter_namespaces_and_drop(with_binary, errfd, true);
            // The binary's fd is not the back-end's to keep.
            if (::fcntl(exec_fd, F_SETFD, FD_CLOEXEC) != 0) fail(errfd, kStepExec, errno);
            if (!install_backend_filter(FilterStage::Loader, exec_fd)) fail(errfd, kStepFilter, EINVAL);
            ::syscall(SYS_execveat, exec_fd, "", args.data(), no_env, AT_EMPTY_PATH);
            fail(errfd, kStepExec, errno);
        });
}

BackendProcess& BackendProcess::operator=(BackendProcess&& o) noexcept {
    if (this != &o) {
        kill();
        reap(true);
        pid_ = o.pid_;
        pidfd_ = std::move(o.pidfd_);
        reaped_ = o.reaped_;
    }
    return *this;
}

BackendProcess::~BackendProcess() {
    if (pidfd_.valid() && !reaped_) {
        kill();
        reap(true);
    }
}

void BackendProcess::kill() {
    if (pidfd_.valid() && !reaped_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

std::optional<ExitInfo> BackendProcess::reap(bool block) {
    if (!pidfd_.valid() || reaped_) return std::nullopt;
    siginfo_t si{};
    int rc;
    do rc = ::waitid(kPidfdId, static_cast<id_t>(pidfd_.get()), &si, WEXITED | (block ? 0 : WNOHANG));
    while (rc < 0 && errno == EINTR);
    if (rc != 0 || si.si_pid == 0) return std::nullopt;
    reaped_ = true;
    ExitInfo e;
    e.signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
    e.code = si.si_status;
    return e;
}

std::optional<ExitInfo> BackendProcess::try_reap() { return reap(false); }

ExitInfo BackendProcess::wait() {
    auto e = reap(true);
    return e ? *e : ExitInfo{};
}

}  // namespace xenolith::backend::sandbox
