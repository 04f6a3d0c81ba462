// bench/migrate.sh's driver: guest memory through xenolith's save and
// live-migration paths (src/save) against plain copies of the same bytes.
//
//   migrate_bench save    MiB FILE      a whole saved domain (xl header, libxl
//                                       and libxc streams) of MiB of RAM
//   migrate_bench restore MiB FILE      FILE into a fresh domain
//   migrate_bench migrate MiB idle|busy pre-copy over a socketpair into a
//                                       second domain's RAM, checked equal
//   migrate_bench plain   MiB           the same RAM as plain bytes over the
//                                       same socketpair, read straight into
//                                       the destination's memory (prefaulted
//                                       as a restore's is)
//
// No KVM: the "guest" is its memory. A busy guest is a thread rewriting a
// 16 MiB working set and marking the software dirty bitmap as it goes, so
// KVM's own dirty-log cost is not in these figures; what is in them is
// everything xenolith does per page (stream framing, gathered writes,
// the reader's checks, the receiver's checks and copy).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

extern "C" {
#include <xen/hvm/params.h>
}

#include "migration/libxc_stream.hpp"
#include "migration/xl_savefile.hpp"
#include "memory/dirty_bitmap.hpp"
#include "save/domain_image.hpp"
#include "save/page_receiver.hpp"
#include "save/page_sender.hpp"
#include "save/precopy.hpp"

using namespace xenolith;
namespace mig = xenolith::migration;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "migrate_bench: %s\n", what.c_str());
    std::exit(1);
}

std::unique_ptr<GuestMemory> guest(std::uint64_t mib, const char* name) {
    auto m = GuestMemory::create(mib * kMiB, name);
    if (!m) die(m.error().what);
    return std::move(*m);
}

// Every page written, so the memory is really there (no zero-page reads).
void touch(GuestMemory& m) {
    for (std::uint64_t gfn = 0; gfn <= m.max_ram_gfn(); ++gfn) {
        if (auto off = m.frame_offset(gfn)) {
            std::uint8_t* p = m.page_at_offset(*off);
            std::memset(p, static_cast<int>(gfn * 7), kPageSize);
            std::memcpy(p, &gfn, sizeof gfn);
        }
    }
}

void check(const Status& st, const char* what) {
    if (!st) die(std::string(what) + ": " + st.error().what);
}

// What the image carries besides memory: one vCPU as a suspended guest
// leaves it, the toolstack pages' params.
save::DomainState one_vcpu(const GuestMemory& m) {
    save::DomainState s;
    s.vcpus.resize(1);
    s.vcpus[0].sregs.cr0 = 0x60000010;
    s.vcpus[0].regs.rflags = 2;
    s.params = {{HVM_PARAM_STORE_PFN, m.special_page_gpa(kXenstoreSpecialPage) >> kPageShift},
                {HVM_PARAM_CONSOLE_PFN, m.special_page_gpa(kConsoleSpecialPage) >> kPageShift}};
    return s;
}

// Reads a whole image into `m`; the time the libxl END was seen.
double receive(int fd, GuestMemory& m) {
    mig::FdSource src(fd);
    mig::InputStream in(src);
    if (auto h = mig::read_xl_save_header(in); !h) die(h.error().what);
    auto image = save::read_image(in, m, 1, mig::HostVcpuCaps{});
    if (!image) die(image.error().what);
    return now_ms();
}

bool same(const GuestMemory& a, const GuestMemory& b) {
    for (std::uint64_t gfn = 0; gfn <= a.max_ram_gfn(); ++gfn) {
        auto oa = a.frame_offset(gfn), ob = b.frame_offset(gfn);
        if (oa.has_value() != ob.has_value()) return false;
        if (oa && std::memcmp(a.page_at_offset(*oa), b.page_at_offset(*ob), kPageSize) != 0) return false;
    }
    return true;
}

class BitmapLog final : public save::DirtyLog {
public:
    explicit BitmapLog(DirtyBitmap& b) : b_(b) {}
    Result<std::vector<std::uint64_t>> take_dirty() override { return b_.take(); }

private:
    DirtyBitmap& b_;
};

int cmd_save(std::uint64_t mib, const char* file) {
    auto m = guest(mib, "bench-save");
    touch(*m);
    const double t0 = now_ms();
    const int fd = ::open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die(std::string("open ") + file);
    mig::FdSink sink(fd);
    save::ImageWriter w(sink);
    check(w.write_headers(std::nullopt), "headers");
    save::PageSender sender(*m, sink);
    check(sender.send_all(), "sending pages");
    check(w.write_state(one_vcpu(*m)), "state");
    ::close(fd);
    std::printf("save mib=%llu ms=%.1f\n", static_cast<unsigned long long>(mib), now_ms() - t0);
    return 0;
}

int cmd_restore(std::uint64_t mib, const char* file) {
    auto m = guest(mib, "bench-restore");
    const double t0 = now_ms();

    const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(std::string("open ") + file);
    receive(fd, *m);
    ::close(fd);
    std::printf("restore mib=%llu ms=%.1f\n", static_cast<unsigned long long>(mib), now_ms() - t0);
    return 0;
}

int cmd_migrate(std::uint64_t mib, bool busy) {
    auto src = guest(mib, "bench-src");
    auto dst = guest(mib, "bench-dst");
    touch(*src);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    double received_at = 0;
    std::thread receiver([&] { received_at = receive(sv[1], *dst); });

    mig::FdSink sink(sv[0]);
    save::ImageWriter w(sink);
    check(w.write_headers(std::nullopt), "headers");
    save::PageSender sender(*src, sink);
    DirtyBitmap dirty(sender.frame_limit());
    BitmapLog log(dirty);

    // The busy guest: rewrites a 16 MiB working set (from 1/4 of RAM up)
    // page by page, marking each page before it writes it.
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> writes{0};
    std::thread writer;
    if (busy) {
        writer = std::thread([&] {
            const std::uint64_t first = (mib * kMiB / 4) / kPageSize, n = 16 * kMiB / kPageSize;
            for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
                const std::uint64_t gfn = first + (i * 2654435761u) % n;
                dirty.mark(gfn);
                std::memset(src->page_at_offset(*src->frame_offset(gfn)) + 64, static_cast<int>(i), 512);
                writes.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    double paused_at = 0;
    save::PrecopyHooks hooks;
    hooks.pause = [&] {
        stop = true;
        if (writer.joinable()) writer.join();
        paused_at = now_ms();
        return ok_status();
    };
    hooks.send_paused_state = [&] { return w.write_state(one_vcpu(*src)); };
    hooks.resume_after_failure = [] {};
    const double t0 = now_ms();
    auto r = save::run_precopy(sender, log, {}, hooks);
    if (!r) die(r.error().what);
    receiver.join();
    const double total = received_at - t0;
    std::string rounds;
    for (const auto& round : r->rounds) rounds += (rounds.empty() ? "" : ",") + std::to_string(round.pages);
    const bool ok = same(*src, *dst);
    std::printf("migrate mib=%llu guest=%s total_ms=%.1f downtime_ms=%.2f sender_paused_ms=%.2f rounds=%s "
                "bytes=%llu mbps=%.0f writes=%llu verified=%s\n",
                static_cast<unsigned long long>(mib), busy ? "busy" : "idle", total, received_at - paused_at,
                r->paused_ns / 1e6, rounds.c_str(), static_cast<unsigned long long>(sender.counts().bytes),
                sender.counts().bytes / kMiB / (total / 1000), static_cast<unsigned long long>(writes.load()),
                ok ? "yes" : "NO");
    return ok ? 0 : 1;
}

int cmd_plain(std::uint64_t mib) {
    auto src = guest(mib, "bench-plain-src");
    auto dst = guest(mib, "bench-plain-dst");
    touch(*src);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    const std::uint64_t bytes = src->ram_bytes();
    std::uint8_t* from = src->host_ptr(0, bytes < kLowRamLimit ? bytes : kLowRamLimit);
    std::uint8_t* to = dst->host_ptr(0, bytes < kLowRamLimit ? bytes : kLowRamLimit);
    if (!from || !to) die("plain copies RAM below the MMIO hole only");
    const double t0 = now_ms();
    // The destination's RAM faulted in before it is filled, as a restore
    // faults in each record's frames first: both sides pay the same for
    // fresh memory.
    dst->prefault_populated();
    std::thread reader([&] {
        for (std::uint64_t got = 0; got < bytes;) {
            const ssize_t n = ::read(sv[1], to + got, bytes - got);
            if (n <= 0) die("plain read");
            got += static_cast<std::uint64_t>(n);
        }
    });
    for (std::uint64_t put = 0; put < bytes;) {
        const std::uint64_t chunk = std::min<std::uint64_t>(4 * kMiB, bytes - put);
        const ssize_t n = ::write(sv[0], from + put, chunk);
        if (n <= 0) die("plain write");
        put += static_cast<std::uint64_t>(n);
    }
    reader.join();
    const double ms = now_ms() - t0;
    std::printf("plain mib=%llu ms=%.1f mbps=%.0f\n", static_cast<unsigned long long>(mib), ms,
                static_cast<double>(bytes) / kMiB / (ms / 1000));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) die("usage: migrate_bench save|restore|migrate|plain MiB [FILE|idle|busy]");
    const std::string cmd = argv[1];
    const std::uint64_t mib = std::strtoull(argv[2], nullptr, 10);
    if (mib < 4 || mib % 2) die("MiB must be even and at least 4");
    if (cmd == "save" && argc == 4) return cmd_save(mib, argv[3]);
    if (cmd == "restore" && argc == 4) return cmd_restore(mib, argv[3]);
    if (cmd == "migrate" && argc == 4) return cmd_migrate(mib, std::string(argv[3]) == "busy");
    if (cmd == "plain") return cmd_plain(mib);
    die("bad arguments");
}
