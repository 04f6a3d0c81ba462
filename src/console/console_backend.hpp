// The PV console back-end (io/console.h): drains the guest's output ring
// into its log file and attached `xl console` clients, and feeds client
// keystrokes into the input ring. Runs in xenolithd; the guest reaches it
// through an interdomain event channel bound to domain 0.
//
// Two sides, two locks. The ring side (ring_mu_) runs on whatever thread
// the guest's notification arrives on, a vCPU thread: it only copies ring
// bytes into a bounded buffer and wakes the back-end's I/O thread. The I/O
// side (io_mu_) owns the log file, the clients and the backlog, and is the
// only place that blocks on files or sockets. When the buffer is full the
// ring side leaves the rest in the guest's ring (the guest waits for room,
// as with a slow xenconsoled) and the I/O thread takes it once it has
// written the buffer out. The two locks are never held together; ring_mu_
// is held while notifying the guest (event locks nest inside it).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <xen/io/console.h>
}

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "evtchn/event_channels.hpp"

namespace xenolith::console {

// Console log rotation, as libxl rotates its per-domain logs: when a write
// would take <log> past kLogMaxBytes, <log>.<kLogKeep> is removed, each
// <log>.<n> becomes <log>.<n+1>, <log> becomes <log>.1 and a fresh <log>
// is opened. A domain name therefore costs at most
// (kLogKeep + 1) * kLogMaxBytes = 44 MiB of disk, however much it prints.
inline constexpr std::uint64_t kLogMaxBytes = 4 * 1024 * 1024;
inline constexpr unsigned kLogKeep = 10;

class ConsoleBackend {
public:
    // `ring` is the host mapping of the guest's console page (it lives as
    // long as the domain). `log_path` is appended to and outlives the domain.
    static Result<std::unique_ptr<ConsoleBackend>> create(xencons_interface* ring,
                                                          const std::string& log_path);
    ~ConsoleBackend();
    ConsoleBackend(const ConsoleBackend&) = delete;
    ConsoleBackend& operator=(const ConsoleBackend&) = delete;

    // Binds domain 0's end of the guest's console channel.
    Status connect(std::shared_ptr<evtchn::EventChannels> host, evtchn::EventChannels& guest,
                   evtchn::Port guest_port);

    // After a soft reset closed the guest's channels: binds domain 0's end
    // of the guest's new console channel instead of the old one.
    Status reconnect(evtchn::EventChannels& guest, evtchn::Port guest_port);

    // Takes what the guest has produced off its ring for the I/O thread.
    // Never blocks on I/O: safe on a vCPU thread.
    void drain();
    // Attaches a client socket. Output the guest wrote while nobody was
    // attached is sent first, once (as a pty would hold it). On the
    // client's connection thread; a client that does not read loses the
    // backlog after kBacklogSendTimeout rather than holding the I/O side.
    void attach(int client_fd);
    void detach(int client_fd);
    // Keystrokes from a client into the guest's input ring; returns how
    // many bytes fitted.
    std::size_t input(const char* data, std::size_t len);
    // The domain is gone: final drain, everything written out, clients see
    // end-of-stream. Not on a vCPU thread of the domain (it joins the I/O
    // thread, which may be waiting for the guest's ring).
    void close();

    const std::string& log_path() const { return log_path_; }

private:
    ConsoleBackend(xencons_interface* ring, UniqueFd log, std::uint64_t log_size,
                   std::string log_path);
    void io_thread();
    // With ring_mu_ held: ring bytes into pending_, as many as fit.
    void drain_locked();
    // With io_mu_ held: one chunk to the log and the clients (or backlog).
    void write_out(const std::string& chunk);
    void write_log(const char* data, std::size_t len);
    void rotate_log();
    void notify_guest();

    static constexpr std::size_t kMaxPending = 64 * 1024;
    static constexpr std::size_t kMaxBacklog = 64 * 1024;
    static constexpr int kBacklogSendTimeoutMs = 1000;

    // Ring side.
    std::mutex ring_mu_;
    std::condition_variable io_cv_;
    xencons_interface* ring_;
    std::string pending_;      // taken off the ring, not yet written out
    bool ring_waiting_ = false;  // the ring holds bytes that did not fit
    bool closed_ = false;      // no more drains or input
    bool stopping_ = false;    // the I/O thread ends once pending_ is empty
    std::shared_ptr<evtchn::EventChannels> host_;
    evtchn::Port host_port_ = 0;

    // I/O side.
    std::mutex io_mu_;
    UniqueFd log_;
    std::uint64_t log_size_ = 0;
    std::string log_path_;
    bool log_failed_ = false;  // warned once
    std::vector<int> clients_;
    std::string backlog_;
    bool clients_closed_ = false;

    std::thread io_thread_;  // last: starts once everything above exists
};

}  // namespace xenolith::console
