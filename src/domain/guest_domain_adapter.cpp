#include "domain/guest_domain_adapter.hpp"

#include "domain/domain.hpp"
#include "domain/vcpu.hpp"

namespace xenolith::domain {

unsigned GuestVcpuAdapter::id() const { return v_.id(); }
bool GuestVcpuAdapter::initialised() const { return v_.initialised(); }
bool GuestVcpuAdapter::initialise(const vcpu_hvm_context_t& ctx) {
    return v_.initialise(ctx).ok();
}
bool GuestVcpuAdapter::online() const { return v_.online(); }
void GuestVcpuAdapter::set_online(bool on) { v_.set_online(on); }
vcpu_runstate_info_t GuestVcpuAdapter::runstate() { return v_.runstate(); }
void GuestVcpuAdapter::set_runstate_area(std::uint64_t linear, bool is64) {
    v_.set_runstate_area(linear, is64);
}
void GuestVcpuAdapter::set_time_area(std::uint64_t linear) { v_.set_time_area(linear); }
void GuestVcpuAdapter::set_singleshot_timer(std::optional<hypercall::Deadline> when) {
    v_.set_singleshot_timer(when);
}
void GuestVcpuAdapter::set_periodic_timer(std::optional<std::chrono::nanoseconds> period) {
    v_.set_periodic_timer(period);
}
void GuestVcpuAdapter::block() { v_.block(); }
void GuestVcpuAdapter::poll(const std::function<bool()>& ready,
                            std::optional<hypercall::Deadline> deadline) {
    v_.poll(ready, deadline);
}

domid_t GuestDomainAdapter::domid() const { return d_.domid(); }
const std::array<std::uint8_t, 16>& GuestDomainAdapter::handle() const {
    return d_.identity().uuid;
}
// The event-channel registry is the daemon's domain table: it answers only
// for domains that are fully built and not yet gone (and the host, 0).
bool GuestDomainAdapter::domain_exists(domid_t domid) {
    return domid == d_.domid() || d_.services().registry.find(domid) != nullptr;
}
unsigned GuestDomainAdapter::nr_vcpus() const { return d_.nr_vcpus(); }
hypercall::GuestVcpu* GuestDomainAdapter::vcpu(unsigned id) {
    if (id >= d_.nr_vcpus()) return nullptr;
    if (id == caller_.id()) return &caller_;
    return &others_.emplace_back(d_.vcpu(id));
}
GuestMemory& GuestDomainAdapter::memory() { return d_.memory(); }
std::mutex& GuestDomainAdapter::memory_lock() { return d_.memory_lock(); }
const std::vector<x86::MemmapEntry>& GuestDomainAdapter::memory_map() const {
    return d_.memory_map();
}
long GuestDomainAdapter::map_shared_info(std::uint64_t gfn) { return d_.map_shared_info(gfn); }
long GuestDomainAdapter::map_frame_at(std::uint64_t gfn, std::span<const std::uint8_t> initial,
                                      std::uint8_t** host) {
    return d_.map_frame_at(gfn, initial, host);
}
evtchn::EventChannels& GuestDomainAdapter::events() { return d_.events(); }
grant::GrantTable& GuestDomainAdapter::grants() { return d_.grants(); }
const grant::DomainLookup& GuestDomainAdapter::grant_domains() {
    return d_.services().grant_domains;
}
long GuestDomainAdapter::register_vcpu_info(unsigned vcpu, std::uint64_t gfn,
                                            std::uint32_t offset) {
    return d_.register_vcpu_info(vcpu, gfn, offset);
}
void GuestDomainAdapter::set_upcall_vector(unsigned vcpu, std::uint8_t vector) {
    d_.set_upcall_vector(vcpu, vector);
}
std::uint64_t GuestDomainAdapter::param(unsigned index) { return d_.param(index); }
void GuestDomainAdapter::set_param(unsigned index, std::uint64_t value) {
    d_.set_param(index, value);
}
void GuestDomainAdapter::latch_shared_info_layout(bool caller_is64) {
    d_.latch_shared_info_layout(caller_is64);
}
unsigned GuestDomainAdapter::vm_assist() const { return d_.vm_assist(); }
void GuestDomainAdapter::set_vm_assist(unsigned bits) { d_.set_vm_assist(bits); }
void GuestDomainAdapter::shutdown(unsigned reason) { d_.shutdown(reason); }
void GuestDomainAdapter::set_shutdown_code(unsigned code) { d_.set_shutdown_code(code); }
long GuestDomainAdapter::watchdog(std::uint32_t id, std::uint32_t timeout_s) {
    return d_.watchdog(id, timeout_s);
}
void GuestDomainAdapter::console_write(std::span<const char> text) {
    for (char c : text) d_.debug_port_write(c);
}
bool GuestDomainAdapter::is_console() const { return d_.is_console(); }
console::SerialInput* GuestDomainAdapter::serial_input() { return d_.services().serial_input; }
void GuestDomainAdapter::guest_log(std::string_view line) { d_.guest_log(line); }
bool GuestDomainAdapter::first_time(GuestWarning kind, std::uint64_t detail) {
    return d_.first_time(kind, detail);
}

}  // namespace xenolith::domain
