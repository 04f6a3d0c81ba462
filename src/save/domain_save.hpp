// A live xenolith domain onto an image, and an empty one filled from it:
// the glue between the KVM-backed domain and the pure image layers
// (domain_image, page_sender/receiver, precopy).
//
// KVM state is read and written only on a vCPU's own thread while it is
// parked outside KVM_RUN (domain::Vcpu::run_parked), or before its thread
// exists; nothing here can be exercised without /dev/kvm, so each step is
// one accessor call in the order ARCHITECTURE.md gives ("vCPU state
// translation"), and the translation itself is tested as pure data.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "domain/domain.hpp"
#include "memory/dirty_bitmap.hpp"
#include "migration/byte_stream.hpp"
#include "save/domain_image.hpp"
#include "save/precopy.hpp"

namespace xenolith::kvm {
class Vcpu;
}

namespace xenolith::save {

// One vCPU, parked: registers, segments, debug registers, XSAVE, XCR0,
// LAPIC, pending events, mp_state and the MSRs the records carry (those
// of cpu_msr_indices() this host's KVM cannot read are left out, as Xen
// leaves out what a host lacks).
Status read_vcpu_state(kvm::Vcpu& k, migration::VcpuArchState& s);
// Back into KVM, in the order KVM needs.
Status write_vcpu_state(kvm::Vcpu& k, const migration::VcpuArchState& s);

// The domain's state besides memory. The domain is paused or suspended.
Result<DomainState> capture_domain_state(domain::Domain& d);
// A restored image's state into a built domain whose vCPUs have not run:
// vCPU state (online ones become initialised), the params.
Status apply_domain_state(domain::Domain& d, const DomainState& s);

// KVM's dirty log over the domain's RAM and toolstack pages, with the
// writes KVM cannot see (grant copies, back-end mappings, the balloon)
// folded in. Logging stops when it goes.
class DomainDirtyLog final : public DirtyLog {
public:
    static Result<std::unique_ptr<DomainDirtyLog>> start(domain::Domain& d, std::uint64_t frames);
    ~DomainDirtyLog() override;
    DomainDirtyLog(const DomainDirtyLog&) = delete;
    DomainDirtyLog& operator=(const DomainDirtyLog&) = delete;
    Result<std::vector<std::uint64_t>> take_dirty() override;
    std::vector<std::uint64_t> writably_mapped() override;

private:
    DomainDirtyLog(domain::Domain& d, std::uint64_t frames) : domain_(d), bitmap_(frames) {}
    domain::Domain& domain_;
    DirtyBitmap bitmap_;
};

struct DomainSaveHooks {
    // Brings the guest to a stop for the final round (the suspend
    // handshake, or a plain pause); the guest stays stopped afterwards.
    std::function<Status()> suspend;
    // After a failure once `suspend` succeeded: the guest runs on.
    std::function<void()> resume_after_failure;
    // Progress lines, as xl prints them; may be empty.
    std::function<void(const std::string&)> progress;
};

struct DomainSaveStats {
    std::uint64_t bytes = 0;
    std::uint64_t pages = 0;
    unsigned rounds = 0;
    std::uint64_t paused_ns = 0;
};

// Writes the domain's whole image to `out`. Not live: suspend, then one
// pass. Live: pre-copy rounds with the guest running, then suspend and
// the final round (run_precopy). Errors leave the guest as it was before
// the call (resume_after_failure runs if it had been stopped).
Result<DomainSaveStats> save_domain_image(domain::Domain& d, migration::ByteSink& out,
                                          const std::optional<std::string>& config_json, bool live,
                                          const DomainSaveHooks& hooks);

}  // namespace xenolith::save
