// The real domain and vCPU behind the hypercall seam (hypercall/
// guest_domain.hpp): thin forwarding adapters, made on the vCPU's thread
// for the length of one hypercall.
#pragma once

#include <deque>

#include "hypercall/guest_domain.hpp"

namespace xenolith::domain {

class Domain;
class Vcpu;

class GuestVcpuAdapter final : public hypercall::GuestVcpu {
public:
    explicit GuestVcpuAdapter(Vcpu& vcpu) : v_(vcpu) {}

    unsigned id() const override;
    bool initialised() const override;
    bool initialise(const vcpu_hvm_context_t& ctx) override;
    bool online() const override;
    void set_online(bool on) override;
    vcpu_runstate_info_t runstate() override;
    void set_runstate_area(std::uint64_t linear, bool is64) override;
    void set_time_area(std::uint64_t linear) override;
    void set_singleshot_timer(std::optional<hypercall::Deadline> when) override;
    void set_periodic_timer(std::optional<std::chrono::nanoseconds> period) override;
    void block() override;
    void poll(const std::function<bool()>& ready,
              std::optional<hypercall::Deadline> deadline) override;

private:
    Vcpu& v_;
};

class GuestDomainAdapter final : public hypercall::GuestDomain {
public:
    // `caller` is the vCPU making the hypercall (one of `domain`'s).
    GuestDomainAdapter(Domain& domain, GuestVcpuAdapter& caller) : d_(domain), caller_(caller) {}

    domid_t domid() const override;
    const std::array<std::uint8_t, 16>& handle() const override;
    bool domain_exists(domid_t domid) override;
    unsigned nr_vcpus() const override;
    hypercall::GuestVcpu* vcpu(unsigned id) override;
    GuestMemory& memory() override;
    std::mutex& memory_lock() override;
    const std::vector<x86::MemmapEntry>& memory_map() const override;
    long map_shared_info(std::uint64_t gfn) override;
    long map_frame_at(std::uint64_t gfn, std::span<const std::uint8_t> initial,
                      std::uint8_t** host) override;
    evtchn::EventChannels& events() override;
    grant::GrantTable& grants() override;
    const grant::DomainLookup& grant_domains() override;
    long register_vcpu_info(unsigned vcpu, std::uint64_t gfn, std::uint32_t offset) override;
    void set_upcall_vector(unsigned vcpu, std::uint8_t vector) override;
    std::uint64_t param(unsigned index) override;
    void set_param(unsigned index, std::uint64_t value) override;
    void latch_shared_info_layout(bool caller_is64) override;
    unsigned vm_assist() const override;
    void set_vm_assist(unsigned bits) override;
    void shutdown(unsigned reason) override;
    void set_shutdown_code(unsigned code) override;
    long watchdog(std::uint32_t id, std::uint32_t timeout_s) override;
    void console_write(std::span<const char> text) override;
    bool is_console() const override;
    console::SerialInput* serial_input() override;
    void guest_log(std::string_view line) override;
    bool first_time(GuestWarning kind, std::uint64_t detail) override;

private:
    Domain& d_;
    GuestVcpuAdapter& caller_;
    std::deque<GuestVcpuAdapter> others_;  // other vCPUs the call named
};

}  // namespace xenolith::domain
