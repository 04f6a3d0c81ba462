// What every request family of xenolithd shares: the reply shapes and the
// lookup of the domain a request names.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/admission.hpp"
#include "daemon/hypervisor.hpp"
#include "domain/domain.hpp"

namespace xenolith::daemon {

// A failed reply: `msg` is what xl prints, `rc` its exit status.
inline nlohmann::json fail(std::string msg, int rc = 1) {
    return {{"ok", false}, {"error", std::move(msg)}, {"rc", rc}};
}

// The domain named by the request's "domain", read as xl reads a domain
// qualifier (control::qualifier_domid: digits are a domid, in range, never
// a name), or null when no guest has it.
std::shared_ptr<domain::Domain> find_domain(Hypervisor& hv, const nlohmann::json& req);

// The request's "domid" as xl's find_domain produced it: any 32-bit number
// (that no domain has it is the handler's business); nullopt when absent
// or not such a number.
inline std::optional<std::uint32_t> request_domid(const nlohmann::json& req) {
    const auto it = req.find("domid");
    if (it == req.end() || !it->is_number_unsigned()) return std::nullopt;
    const std::uint64_t v = it->get<std::uint64_t>();
    if (v > 0xffffffffu) return std::nullopt;
    return static_cast<std::uint32_t>(v);
}

// The host's RAM in KiB: Domain-0's memory in `xl list` and the limit
// libxl checks dom0's memory settings against.
std::uint64_t host_memory_kib();

// One domain as "list" reports it (libxl_dominfo's fields plus the config).
// One domain of the list reply. Costs no system call unless `with_config`
// (`xl list -l`): `now` is read once per reply, and host_memkb (an fstat of
// the guest memory) comes only with the configs.
nlohmann::json domain_entry(Hypervisor& hv, domain::Domain& d, bool with_config,
                            std::chrono::steady_clock::time_point now);

// A create request's fields as the toolstack's typed GuestConfig, validated
// (xl create and xl config-update send the same shape).
Result<toolstack::GuestConfig> parse_create_request(Hypervisor& hv, const nlohmann::json& req);

// Where a new domain's memory and vCPUs come from: a kernel the daemon
// loads (create), or an image on a stream (restore, migrate-receive).
enum class GuestSource { kernel, image };

// A create-shaped request, validated and admitted: the checks create and
// restore share (the request's fields, KVM, the caller's access to the
// kernel and ramdisk when they are loaded and to every disk, host memory).
// The ticket holds the memory until the domain is in the table.
struct AdmittedGuest {
    toolstack::GuestConfig config;
    MemoryAdmission::Ticket ticket;
};
Result<AdmittedGuest> admit_guest(Hypervisor& hv, const nlohmann::json& req, GuestSource source);

// One request: "cmd" names it; the handler gets the whole request.
struct RequestHandler {
    std::string_view cmd;
    nlohmann::json (*fn)(Hypervisor& hv, const nlohmann::json& req);
};

// The families, one file each; handle_request looks commands up in all.
std::span<const RequestHandler> domain_requests();
std::span<const RequestHandler> host_requests();
std::span<const RequestHandler> vcpu_requests();

// The create request's "vcpu_hard_affinity"/"vcpu_soft_affinity" (lists of
// CPU numbers per vCPU) into `id`, validated (request_vcpu.cpp).
Status parse_create_affinity(const nlohmann::json& req, domain::DomainIdentity& id);
std::span<const RequestHandler> memory_requests();
std::span<const RequestHandler> manage_requests();
std::span<const RequestHandler> device_requests();
// resume_suspended (request_transfer.cpp); save and restore keep the
// connection (requests.hpp).
std::span<const RequestHandler> transfer_requests();

// The disks of a create request ("disks": [{"spec", "file", "line",
// "column"}]), parsed again here (request_device.cpp).
Result<std::vector<config::DiskConfig>> parse_request_disks(const nlohmann::json& req);
// The vifs of a create request ("nics": [{"spec", "devid", "file", "line",
// "column"}]), parsed again here; a devid= in the spec wins over "devid".
Result<std::vector<config::NicConfig>> parse_request_nics(const nlohmann::json& req);
// Whether the requesting client could open the disk's image itself (read,
// and write for a writable disk); the error names the disk and the file.
Status check_disk_access(const config::DiskConfig& disk);
// The requesting client's credentials, for opening its disks.
std::optional<toolstack::Credentials> caller_credentials();

}  // namespace xenolith::daemon
