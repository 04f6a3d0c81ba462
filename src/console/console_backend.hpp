// The PV console back-end (io/console.h): drains the guest's output ring
// into its log file and attached `xl console` clients, and feeds client
// keystrokes into the input ring. Runs in xenolithd; the guest reaches it
// through an interdomain event channel bound to domain 0.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include <xen/io/console.h>
}

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "evtchn/event_channels.hpp"

namespace xenolith::console {

class ConsoleBackend {
public:
    // `ring` is the host mapping of the guest's console page (it lives as
    // long as the domain). `log_path` is appended to and outlives the domain.
    static Result<std::unique_ptr<ConsoleBackend>> create(xencons_interface* ring,
                                                          const std::string& log_path);
    ~ConsoleBackend();

    // Binds domain 0's end of the guest's console channel.
    Status connect(std::shared_ptr<evtchn::EventChannels> host, evtchn::EventChannels& guest,
                   evtchn::Port guest_port);

    // After a soft reset closed the guest's channels: binds domain 0's end
    // of the guest's new console channel instead of the old one.
    Status reconnect(evtchn::EventChannels& guest, evtchn::Port guest_port);

    // Copies everything the guest has produced to the log and clients.
    void drain();
    // Attaches a client socket. Output the guest wrote while nobody was
    // attached is sent first, once (as a pty would hold it).
    void attach(int client_fd);
    void detach(int client_fd);
    // Keystrokes from a client into the guest's input ring; returns how
    // many bytes fitted.
    std::size_t input(const char* data, std::size_t len);
    // The domain is gone: final drain, clients see end-of-stream.
    void close();

    const std::string& log_path() const { return log_path_; }

private:
    ConsoleBackend(xencons_interface* ring, UniqueFd log, std::string log_path)
        : ring_(ring), log_(std::move(log)), log_path_(std::move(log_path)) {}
    void emit(const char* data, std::size_t len);
    void notify_guest();

    static constexpr std::size_t kMaxBacklog = 64 * 1024;

    std::mutex mu_;
    xencons_interface* ring_;
    UniqueFd log_;
    std::string log_path_;
    std::shared_ptr<evtchn::EventChannels> host_;
    evtchn::Port host_port_ = 0;
    std::vector<int> clients_;
    std::string backlog_;
    bool closed_ = false;
};

}  // namespace xenolith::console
