#include "backend/blk/uring_disk.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::backend::blk {

namespace {

// O_DIRECT needs buffers and offsets aligned to the logical block size; the
// ring's segments are 512-byte aligned, so only files that accept a
// 512-byte aligned read are driven directly.
bool direct_read_works(int fd) {
    void* buf = nullptr;
    if (posix_memalign(&buf, 512, 512) != 0) return false;
    ssize_t n = ::pread(fd, buf, 512, 0);
    std::free(buf);
    return n >= 0;
}

}  // namespace

Result<std::unique_ptr<UringDisk>> UringDisk::open(const DiskOpen& how) {
    std::unique_ptr<UringDisk> d(new UringDisk());
    d->readonly_ = how.readonly;
    d->path_ = how.path;
    d->queue_depth_ = how.queue_depth;
    if (how.fd >= 0) {
        d->fd_.reset(::fcntl(how.fd, F_DUPFD_CLOEXEC, 0));
    } else {
        d->fd_.reset(::open(how.path.c_str(), (how.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    }
    if (!d->fd_.valid())
        return make_error(fmt::format("{}: {}", how.path, std::strerror(errno)));
    int acc = ::fcntl(d->fd_.get(), F_GETFL);
    if (!how.readonly && (acc & O_ACCMODE) == O_RDONLY)
        return make_error(fmt::format("{}: opened read-only but the disk is writable", how.path));

    struct stat st {};
    if (::fstat(d->fd_.get(), &st) != 0)
        return make_error(fmt::format("{}: {}", how.path, std::strerror(errno)));
    if (S_ISBLK(st.st_mode)) {
        d->blockdev_ = true;
        if (::ioctl(d->fd_.get(), BLKGETSIZE64, &d->size_) != 0)
            return make_error(fmt::format("{}: BLKGETSIZE64: {}", how.path, std::strerror(errno)));
        // The kernel refuses a secure erase before looking at the range when
        // the device has none, so an empty one is a probe.
        std::uint64_t range[2] = {0, 0};
        d->secure_discard_ = !how.readonly &&
                             (::ioctl(d->fd_.get(), BLKSECDISCARD, range) == 0 || errno != EOPNOTSUPP);
    } else if (S_ISREG(st.st_mode)) {
        d->size_ = static_cast<std::uint64_t>(st.st_size);
    } else {
        return make_error(fmt::format("{}: not a regular file or block device", how.path));
    }

    if (how.direct) {
        int fl = ::fcntl(d->fd_.get(), F_GETFL);
        if (::fcntl(d->fd_.get(), F_SETFL, fl | O_DIRECT) == 0) {
            d->direct_ = direct_read_works(d->fd_.get());
            if (!d->direct_) ::fcntl(d->fd_.get(), F_SETFL, fl);
        }
    }

    d->efd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!d->efd_.valid()) return make_error(fmt::format("eventfd: {}", std::strerror(errno)));
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = how.queue_depth * 2;
    int rc = io_uring_queue_init_params(how.queue_depth, &d->ring_, &params);
    if (rc < 0) return make_error(fmt::format("io_uring_setup: {}", std::strerror(-rc)));
    d->ring_ready_ = true;
    rc = io_uring_register_eventfd(&d->ring_, d->efd_.get());
    if (rc < 0) return make_error(fmt::format("io_uring eventfd: {}", std::strerror(-rc)));
    return d;
}

UringDisk::~UringDisk() {
    if (ring_ready_) io_uring_queue_exit(&ring_);
}

io_uring_sqe* UringDisk::sqe() {
    io_uring_sqe* e = io_uring_get_sqe(&ring_);
    if (!e) {
        io_uring_submit(&ring_);
        e = io_uring_get_sqe(&ring_);
    }
    return e;
}

bool UringDisk::read(std::uint64_t offset, const iovec* iov, unsigned iovcnt, std::uint64_t cookie) {
    io_uring_sqe* e = sqe();
    if (!e) return false;
    io_uring_prep_readv(e, fd_.get(), iov, iovcnt, offset);
    io_uring_sqe_set_data64(e, cookie);
    return true;
}

bool UringDisk::write(std::uint64_t offset, const iovec* iov, unsigned iovcnt, std::uint64_t cookie) {
    io_uring_sqe* e = sqe();
    if (!e) return false;
    io_uring_prep_writev(e, fd_.get(), iov, iovcnt, offset);
    io_uring_sqe_set_data64(e, cookie);
    return true;
}

bool UringDisk::datasync(std::uint64_t cookie) {
    io_uring_sqe* e = sqe();
    if (!e) return false;
    io_uring_prep_fsync(e, fd_.get(), IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(e, cookie);
    return true;
}

bool UringDisk::discard(std::uint64_t offset, std::uint64_t len, std::uint64_t cookie) {
    io_uring_sqe* e = sqe();
    if (!e) return false;
    // On a block device the kernel turns a punched hole into a discard or
    // write-zeroes; on a file it frees the blocks and keeps the size.
    io_uring_prep_fallocate(e, fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            static_cast<off_t>(offset), static_cast<off_t>(len));
    io_uring_sqe_set_data64(e, cookie);
    return true;
}

int UringDisk::secure_discard(std::uint64_t offset, std::uint64_t len) {
    if (!secure_discard_) return -EOPNOTSUPP;
    std::uint64_t range[2] = {offset, len};
    return ::ioctl(fd_.get(), BLKSECDISCARD, range) == 0 ? 0 : -errno;
}

void UringDisk::submit() { io_uring_submit(&ring_); }

Result<std::unique_ptr<UringDisk>> UringDisk::twin() const {
    DiskOpen how;
    how.path = path_;
    how.fd = fd_.get();
    how.readonly = readonly_;
    how.direct = direct_;  // O_DIRECT is the open file's flag: already set when it worked
    how.queue_depth = queue_depth_;
    return open(how);
}

void UringDisk::reap(const std::function<void(std::uint64_t, int)>& done) {
    eventfd_t ignored;
    (void)::eventfd_read(efd_.get(), &ignored);
    io_uring_cqe* cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
        std::uint64_t cookie = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        done(cookie, res);
    }
}

}  // namespace xenolith::backend::blk
