// The sandbox from both sides: what a back-end can still do on the fds it
// was given, and what it cannot reach (files, exec, network, other
// processes, fds it was not given, capabilities, the host's mounts).
#include "backend/sandbox/backend_process.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "backend/blk/uring_disk.hpp"

namespace xenolith::backend::sandbox {
namespace {


struct PipeFds {
    UniqueFd r, w;
    PipeFds() {
        int p[2];
        EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
        r.reset(p[0]);
        w.reset(p[1]);
    }
};

std::string read_all(int fd) {
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

// Runs `body` sandboxed with the write end of a pipe as fd 3; returns how
// it ended and what it wrote.
std::pair<ExitInfo, std::string> run(std::function<int()> body) {
    PipeFds p;
    auto proc = BackendProcess::fork_function({"test", {p.w.get()}, {}, {}}, std::move(body));
    EXPECT_TRUE(proc.ok()) << (proc.ok() ? "" : proc.error().what);
    if (!proc.ok()) return {};
    p.w.reset();
    std::string out = read_all(p.r.get());
    return {proc->wait(), out};
}

void report(const char* s) { [[maybe_unused]] ssize_t n = ::write(kFirstPassedFd, s, std::strlen(s)); }

bool killed_by(const ExitInfo& e, int sig) { return e.signaled && e.code == sig; }

TEST(Sandbox, write_to_passed_pipe_when_sandboxed_then_arrives) {
    auto [e, out] = run([] { report("hello"); return 0; });
    EXPECT_FALSE(e.signaled);
    EXPECT_EQ(e.code, 0);
    EXPECT_EQ(out, "hello");
}

TEST(Sandbox, openat_host_file_when_sandboxed_then_killed_by_sigsys) {
    auto [e, out] = run([] {
        report("before");
        int fd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY));
        report(fd >= 0 ? "opened" : "refused");
        return 0;
    });
    EXPECT_TRUE(killed_by(e, SIGSYS)) << e.describe();
    EXPECT_EQ(out, "before");
}

TEST(Sandbox, execve_when_sandboxed_then_killed_by_sigsys) {
    auto [e, out] = run([] {
        char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
        ::syscall(SYS_execve, "/bin/true", argv, nullptr);
        report("returned");
        return 0;
    });
    EXPECT_TRUE(killed_by(e, SIGSYS)) << e.describe();
    EXPECT_EQ(out, "");
}

TEST(Sandbox, socket_when_sandboxed_then_killed_by_sigsys) {
    auto [e, out] = run([] {
        ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
        report("returned");
        return 0;
    });
    EXPECT_TRUE(killed_by(e, SIGSYS)) << e.describe();
    EXPECT_EQ(out, "");
}

TEST(Sandbox, ptrace_parent_when_sandboxed_then_killed_by_sigsys) {
    pid_t parent = ::getpid();
    auto [e, out] = run([parent] {
        ::syscall(SYS_ptrace, PTRACE_ATTACH, parent, 0, 0);
        report("returned");
        return 0;
    });
    EXPECT_TRUE(killed_by(e, SIGSYS)) << e.describe();
}

TEST(Sandbox, kill_other_process_when_sandboxed_then_killed_by_sigsys) {
    pid_t parent = ::getpid();
    auto [e, out] = run([parent] {
        ::syscall(SYS_kill, parent, 0);
        report("returned");
        return 0;
    });
    EXPECT_TRUE(killed_by(e, SIGSYS)) << e.describe();
}

TEST(Sandbox, executable_mapping_when_sandboxed_then_killed_by_sigsys) {
    auto [e, out] = run([] {
        ::syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        report("returned");
        return 0;
    });
    EXPECT_TRUE(killed_by(e, SIGSYS)) << e.describe();
}

TEST(Sandbox, fd_not_passed_when_sandboxed_then_closed) {
    PipeFds secret;  // open in the parent, not passed (and not close-on-exec)
    int raw = ::fcntl(secret.w.get(), F_DUPFD, 0);
    ASSERT_GE(raw, 0);
    auto [e, out] = run([] {
        std::string open_fds;
        for (int fd = 0; fd < 1024; ++fd)
            if (::fcntl(fd, F_GETFD) >= 0) open_fds += std::to_string(fd) + " ";
        report(open_fds.c_str());
        return 0;
    });
    ::close(raw);
    EXPECT_EQ(e.code, 0) << e.describe();
    EXPECT_EQ(out, "0 1 2 3 ");
}

TEST(Sandbox, passed_fds_when_several_then_land_in_order_from_3) {
    PipeFds a, b;
    auto proc = BackendProcess::fork_function({"test", {b.w.get(), a.w.get()}, {}, {}}, [] {
        [[maybe_unused]] ssize_t n = ::write(3, "b", 1);
        n = ::write(4, "a", 1);
        return 0;
    });
    ASSERT_TRUE(proc.ok()) << proc.error().what;
    a.w.reset();
    b.w.reset();
    EXPECT_EQ(read_all(a.r.get()), "a");
    EXPECT_EQ(read_all(b.r.get()), "b");
    EXPECT_EQ(proc->wait().code, 0);
}

std::map<std::string, std::string> proc_status(pid_t pid) {
    std::map<std::string, std::string> m;
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        m[line.substr(0, colon)] = v;
    }
    return m;
}

// Inspected from outside while the back-end waits on a pipe it was given.
TEST(Sandbox, running_backend_when_inspected_then_no_caps_nnp_filter_and_own_namespaces) {
    PipeFds go;
    auto proc = BackendProcess::fork_function({"test", {go.r.get()}, {}, {}}, [] {
        char c;
        return ::read(3, &c, 1) == 1 ? 0 : 1;
    });
    ASSERT_TRUE(proc.ok()) << proc.error().what;
    auto st = proc_status(proc->pid());
    EXPECT_EQ(st["CapInh"], "0000000000000000");
    EXPECT_EQ(st["CapPrm"], "0000000000000000");
    EXPECT_EQ(st["CapEff"], "0000000000000000");
    EXPECT_EQ(st["CapBnd"], "0000000000000000");
    EXPECT_EQ(st["CapAmb"], "0000000000000000");
    EXPECT_EQ(st["NoNewPrivs"], "1");
    EXPECT_EQ(st["Seccomp"], "2");
    std::string base = "/proc/" + std::to_string(proc->pid());
    for (const char* ns : {"mnt", "net", "ipc", "uts"})
        EXPECT_NE(std::filesystem::read_symlink(base + "/ns/" + ns),
                  std::filesystem::read_symlink(std::string("/proc/self/ns/") + ns))
            << ns;
    // Its root is an empty tmpfs: no host file is there to find.
    std::error_code ec;
    EXPECT_TRUE(std::filesystem::is_empty(base + "/root", ec)) << ec.message();
    EXPECT_FALSE(std::filesystem::exists(base + "/root/etc/passwd"));
    ASSERT_EQ(::write(go.w.get(), "x", 1), 1);
    EXPECT_EQ(proc->wait().code, 0);
}

TEST(Sandbox, uid_gid_when_given_then_backend_runs_as_them) {
    PipeFds go;
    SandboxSpec spec{"test", {go.r.get()}, 65534, 65534};
    auto proc = BackendProcess::fork_function(spec, [] {
        char c;
        return ::read(3, &c, 1) == 1 ? 0 : 1;
    });
    ASSERT_TRUE(proc.ok()) << proc.error().what;
    auto st = proc_status(proc->pid());
    EXPECT_EQ(st["Uid"].substr(0, st["Uid"].find('\t')), "65534");
    EXPECT_EQ(st["Gid"].substr(0, st["Gid"].find('\t')), "65534");
    EXPECT_EQ(st["Groups"], "");
    EXPECT_EQ(st["CapEff"], "0000000000000000");
    ASSERT_EQ(::write(go.w.get(), "x", 1), 1);
    EXPECT_EQ(proc->wait().code, 0);
}

TEST(Sandbox, stat_host_path_when_sandboxed_then_not_found_and_root_read_only) {
    auto [e, out] = run([] {
        struct stat st {};
        bool passwd = ::stat("/etc/passwd", &st) == 0;
        bool root_empty_dir = ::stat("/", &st) == 0 && S_ISDIR(st.st_mode);
        report(passwd ? "passwd" : root_empty_dir ? "empty" : "?");
        return 0;
    });
    EXPECT_EQ(out, "empty") << e.describe();
}

TEST(Sandbox, caps_when_sandboxed_then_capget_reports_none) {
    auto [e, out] = run([] {
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2]{};
        if (::syscall(SYS_capget, &hdr, data) != 0) return 1;
        bool none = true;
        for (auto& d : data) none = none && d.effective == 0 && d.permitted == 0 && d.inheritable == 0;
        report(none ? "none" : "some");
        return 0;
    });
    EXPECT_EQ(out, "none") << e.describe();
}

// blkback's disk (liburing: io_uring_setup, register, enter; eventfd;
// O_DIRECT probe) on a disk fd passed in, under the Running filter.
TEST(Sandbox, uring_disk_on_passed_fd_when_sandboxed_then_writes_and_reads) {
    char path[] = "/tmp/xenolith-sandbox-XXXXXX";
    UniqueFd disk(::mkstemp(path));
    ASSERT_TRUE(disk.valid());
    ::unlink(path);
    ASSERT_EQ(::ftruncate(disk.get(), 1 << 20), 0);
    PipeFds p;
    auto proc = BackendProcess::fork_function({"test", {p.w.get(), disk.get()}, {}, {}}, [] {
        auto d = blk::UringDisk::open({"disk", 4, false, true, 8});
        if (!d) { report(d.error().what.c_str()); return 1; }
        alignas(4096) static char out[4096], in[4096];
        std::memset(out, 0x5a, sizeof out);
        iovec wv{out, sizeof out}, rv{in, sizeof in};
        int done = 0, failed = 0;
        auto reap = [&] {
            pollfd pfd{(*d)->completion_fd(), POLLIN, 0};
            ::poll(&pfd, 1, 5000);
            (*d)->reap([&](std::uint64_t, int res) { ++done; failed += res < 0; });
        };
        (*d)->write(8192, &wv, 1, 1);
        (*d)->datasync(2);
        (*d)->submit();
        while (done < 2) reap();
        (*d)->read(8192, &rv, 1, 3);
        (*d)->submit();
        while (done < 3) reap();
        report(failed == 0 && std::memcmp(in, out, sizeof in) == 0 ? "same" : "differs");
        return 0;
    });
    ASSERT_TRUE(proc.ok()) << proc.error().what;
    p.w.reset();
    std::string out = read_all(p.r.get());
    auto e = proc->wait();
    EXPECT_EQ(out, "same") << e.describe();
    EXPECT_FALSE(e.signaled) << e.describe();
    // The open file description is shared, so it may be O_DIRECT now.
    alignas(4096) static char back[4096];
    ASSERT_EQ(::pread(disk.get(), back, sizeof back, 8192), 4096);
    EXPECT_EQ(back[0], 0x5a);
}

// io_uring operations are not system calls, so seccomp never sees them:
// what stops an IORING_OP_OPENAT is the mount namespace, whose root is
// empty. This is the path a compromised blkback would try.
TEST(Sandbox, io_uring_openat_of_host_file_when_sandboxed_then_not_found) {
    auto [e, out] = run([] {
        io_uring ring{};
        if (io_uring_queue_init(4, &ring, 0) != 0) return 1;
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (!sqe) return 3;
        io_uring_prep_openat(sqe, AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
        io_uring_submit(&ring);
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring, &cqe) != 0) return 2;
        report(cqe->res == -ENOENT ? "enoent" : cqe->res >= 0 ? "opened" : "other error");
        io_uring_cqe_seen(&ring, cqe);
        io_uring_queue_exit(&ring);
        return 0;
    });
    EXPECT_FALSE(e.signaled) << e.describe();
    EXPECT_EQ(out, "enoent");
}

TEST(Sandbox, exec_binary_when_locked_down_then_runs_on_passed_fd) {
    UniqueFd bin(::open(SANDBOX_PROBE, O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(bin.valid());
    PipeFds p;
    auto proc = BackendProcess::exec({"probe", {p.w.get()}, {}, {}}, bin.get(), {"sandbox_probe"});
    ASSERT_TRUE(proc.ok()) << proc.error().what;
    p.w.reset();
    EXPECT_EQ(read_all(p.r.get()), "probe ok");
    auto e = proc->wait();
    EXPECT_FALSE(e.signaled) << e.describe();
    EXPECT_EQ(e.code, 0);
}

TEST(Sandbox, exec_binary_when_it_opens_a_file_after_lock_down_then_killed_by_sigsys) {
    UniqueFd bin(::open(SANDBOX_PROBE, O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(bin.valid());
    PipeFds p;
    auto proc = BackendProcess::exec({"probe", {p.w.get()}, {}, {}}, bin.get(), {"sandbox_probe", "open"});
    ASSERT_TRUE(proc.ok()) << proc.error().what;
    EXPECT_TRUE(killed_by(proc->wait(), SIGSYS));
}

TEST(Sandbox, bad_fd_when_launching_then_error_names_the_step) {
    auto proc = BackendProcess::fork_function({"blkback d1", {999}, {}, {}}, [] { return 0; });
    ASSERT_FALSE(proc.ok());
    EXPECT_NE(proc.error().what.find("blkback d1: sandbox: placing the passed fds"), std::string::npos)
        << proc.error().what;
}

}  // namespace
}  // namespace xenolith::backend::sandbox
