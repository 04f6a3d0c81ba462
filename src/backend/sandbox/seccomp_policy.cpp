#include "backend/sandbox/seccomp_policy.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

#include <fmt/format.h>

namespace xenolith::backend::sandbox {

namespace {

struct CtxDeleter {
    void operator()(scmp_filter_ctx c) const { seccomp_release(c); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

// Calls allowed with any arguments in every profile: I/O on fds already
// held, memory housekeeping, waiting, time, signals to itself, exit.
constexpr int kAnyArgs[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(close),
    SCMP_SYS(fstat), SCMP_SYS(newfstatat),
    SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk),
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl),
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2),
    SCMP_SYS(eventfd2), SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime), SCMP_SYS(futex),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
    SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(sched_yield),
    SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(sigaltstack), SCMP_SYS(restart_syscall),
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getrandom), SCMP_SYS(capget),
    // Sockets it was handed (the services' channel to xenolithd).
    SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(shutdown),
    SCMP_SYS(exit), SCMP_SYS(exit_group),
};

// blkback's disk: positioned and vectored I/O, sync, io_uring.
constexpr int kBlockAnyArgs[] = {
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
    SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(lseek),
    SCMP_SYS(fdatasync), SCMP_SYS(fsync), SCMP_SYS(fallocate),
    SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
};

// What glibc's dynamic loader and libc start-up add, for the Loader stage.
constexpr int kLoaderAnyArgs[] = {
    SCMP_SYS(arch_prctl), SCMP_SYS(set_tid_address), SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq), SCMP_SYS(prlimit64), SCMP_SYS(access), SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getdents64),
    SCMP_SYS(sysinfo), SCMP_SYS(uname),
    // lock_down() stacking the Running filter.
    SCMP_SYS(seccomp),
};

}  // namespace

Status install_backend_filter(FilterStage stage, int exec_fd, Profile profile) {
    Ctx ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
    if (!ctx) return make_error("seccomp_init failed");
    int rc = 0;
    auto allow = [&](int nr, std::initializer_list<scmp_arg_cmp> args) {
        if (rc == 0)
            rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_ALLOW, nr,
                                        static_cast<unsigned>(args.size()), args.begin());
    };
    for (int nr : kAnyArgs) allow(nr, {});
    const bool block = profile == Profile::block || stage == FilterStage::Loader;
    const bool net = profile == Profile::net || stage == FilterStage::Loader;
    if (block)
        for (int nr : kBlockAnyArgs) allow(nr, {});
#if defined(__SANITIZE_ADDRESS__)
    // Sanitized builds only: UBSan's vptr check probes an object's memory
    // through a pipe (IsAccessibleMemoryRange); without it a sanitized
    // back-end is killed at its first polymorphic constructor. A pipe
    // reaches nothing outside the process; release builds do not allow it.
    allow(SCMP_SYS(pipe2), {});
#endif

    // Anonymous and fd-backed memory, never executable: a back-end maps
    // grants, rings and buffers, not code.
    allow(SCMP_SYS(mmap), {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
    allow(SCMP_SYS(mprotect), {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
    // Signals only to itself (abort(), raise()): never another process.
    auto self = static_cast<scmp_datum_t>(::getpid());
    allow(SCMP_SYS(tgkill), {SCMP_A0(SCMP_CMP_EQ, self)});
    allow(SCMP_SYS(kill), {SCMP_A0(SCMP_CMP_EQ, self)});
    for (int cmd : {F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC})
        allow(SCMP_SYS(fcntl), {SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(cmd))});
    // Non-blocking mode; the disk's size and secure discard (blk/uring_disk);
    // the TAP's offloads (net/tap), which only touch the device of a TAP fd
    // already held (any other fd answers EINVAL/ENOTTY).
    std::vector<scmp_datum_t> ioctls = {FIONBIO, FIONREAD};
    if (block) ioctls.insert(ioctls.end(), {BLKGETSIZE64, BLKSECDISCARD});
    if (net) ioctls.push_back(TUNSETOFFLOAD);
    for (scmp_datum_t cmd : ioctls)
        allow(SCMP_SYS(ioctl), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, cmd)});
    for (int opt : {PR_CAPBSET_READ, PR_GET_NO_NEW_PRIVS})
        allow(SCMP_SYS(prctl), {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(opt))});

    if (stage == FilterStage::Loader) {
        for (int nr : kLoaderAnyArgs) allow(nr, {});
        for (int opt : {PR_SET_NO_NEW_PRIVS, PR_GET_SECCOMP})
            allow(SCMP_SYS(prctl), {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(opt))});
        allow(SCMP_SYS(mmap), {});
        allow(SCMP_SYS(mprotect), {});
        // Read-only opens: the sandbox root holds only /usr, read-only.
        constexpr scmp_datum_t kWriteish = O_ACCMODE | O_CREAT | O_TRUNC | O_TMPFILE;
        allow(SCMP_SYS(openat), {SCMP_A2(SCMP_CMP_MASKED_EQ, kWriteish, O_RDONLY)});
        allow(SCMP_SYS(open), {SCMP_A1(SCMP_CMP_MASKED_EQ, kWriteish, O_RDONLY)});
        allow(SCMP_SYS(execveat), {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(exec_fd)),
                                   SCMP_A4(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)});
    }
    if (rc != 0) return make_error(fmt::format("seccomp rule: {}", std::strerror(-rc)));
    // libseccomp sets no_new_privs itself before loading (SCMP_FLTATR_CTL_NNP).
    rc = seccomp_load(ctx.get());
    if (rc != 0) return make_error(fmt::format("seccomp_load: {}", std::strerror(-rc)));
    return ok_status();
}

}  // namespace xenolith::backend::sandbox
