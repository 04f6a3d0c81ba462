// A raw disk (regular file or block device) driven through io_uring. The
// back-end hands it vectored reads and writes, data syncs and discards
// tagged with a cookie, and reaps completions when completion_fd() (an
// eventfd registered with the ring) becomes readable. O_DIRECT is used when
// asked for and the file accepts it (probed with an aligned read).
#pragma once

#include <liburing.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::blk {

struct DiskOpen {
    std::string path;  // for messages only when `fd` is given
    int fd = -1;       // an fd passed in by the supervisor, or -1 to open `path`
    bool readonly = false;
    bool direct = true;  // try O_DIRECT (direct-io-safe)
    unsigned queue_depth = 256;
};

class UringDisk {
public:
    static Result<std::unique_ptr<UringDisk>> open(const DiskOpen& how);
    // Another UringDisk on the same file (its fd dup'ed): its own io_uring
    // and completion eventfd, the same access mode and O_DIRECT choice. One
    // per queue of a multi-queue vbd, so each ring reaps only its own
    // completions. Needs no open(): works inside the back-end's sandbox.
    Result<std::unique_ptr<UringDisk>> twin() const;
    ~UringDisk();
    UringDisk(const UringDisk&) = delete;
    UringDisk& operator=(const UringDisk&) = delete;

    std::uint64_t size_bytes() const { return size_; }
    bool direct() const { return direct_; }
    bool block_device() const { return blockdev_; }
    bool readonly() const { return readonly_; }
    // Discard leaves a hole (files) or unmaps (block devices).
    bool can_discard() const { return true; }
    // BLKSECDISCARD works only on block devices that support it.
    bool can_secure_discard() const { return secure_discard_; }
    int completion_fd() const { return efd_.get(); }

    // Each queues one operation; false when the submission queue is full
    // even after submitting what it held.
    bool read(std::uint64_t offset, const iovec* iov, unsigned iovcnt, std::uint64_t cookie);
    bool write(std::uint64_t offset, const iovec* iov, unsigned iovcnt, std::uint64_t cookie);
    bool datasync(std::uint64_t cookie);
    bool discard(std::uint64_t offset, std::uint64_t len, std::uint64_t cookie);
    // Secure discard runs synchronously (there is no io_uring operation for
    // it); the result is returned, 0 or -errno.
    int secure_discard(std::uint64_t offset, std::uint64_t len);
    // Hands queued operations to the kernel.
    void submit();
    // Calls `done(cookie, result)` for each completion (result as the
    // syscall's: bytes or -errno); clears the eventfd.
    void reap(const std::function<void(std::uint64_t, int)>& done);

private:
    UringDisk() = default;
    io_uring_sqe* sqe();

    std::string path_;  // for messages
    unsigned queue_depth_ = 0;
    UniqueFd fd_;
    UniqueFd efd_;
    io_uring ring_{};
    bool ring_ready_ = false;
    std::uint64_t size_ = 0;
    bool direct_ = false;
    bool blockdev_ = false;
    bool readonly_ = false;
    bool secure_discard_ = false;
};

}  // namespace xenolith::backend::blk
