// A whole domain image, as `xl save` writes it and `xl restore` or a
// migration receiver reads it:
//
//   xl save header        the domain's configuration (libxl JSON)
//   libxl header, LIBXC_CONTEXT
//     libxc headers       v3, x86 HVM
//     STATIC_DATA_END
//     PAGE_DATA ...       memory (PageSender; every round of a live save)
//     X86_TSC_INFO, HVM_CONTEXT, HVM_PARAMS   the paused state, in the
//                         order Xen's HVM saver writes it
//     END
//   libxl END
//
// What travels besides memory is what Xen's resume convention leaves to
// the toolstack: vCPU state, the HVM params, the TSC. A guest that comes
// back from SCHEDOP_shutdown(SHUTDOWN_suspend) maps shared_info and its
// grant frames again, registers its vcpu_info, rebinds its event channels
// and reconnects its front-ends, so none of that is in the image.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "memory/guest_memory.hpp"
#include "migration/byte_stream.hpp"
#include "migration/kvm_hvm_state.hpp"
#include "migration/libxc_stream.hpp"
#include "save/page_receiver.hpp"

namespace xenolith::save {

// The HVM params an image carries, when non-zero: those Xen's HVM saver
// sends. The event channel params are not among them: the restoring
// toolstack allocates the console and xenstore ports itself, in the same
// order, so a fresh domain gets the ports the guest already knows.
std::span<const std::uint32_t> saved_hvm_params();

// What an image holds of a domain besides its memory.
struct DomainState {
    migration::HvmSaveHeader hvm_header;           // cpuid, gtsc_khz of the saver
    std::vector<migration::VcpuArchState> vcpus;   // one per vCPU; offline ones too
    std::vector<migration::HvmParam> params;       // saved_hvm_params() that are set
    migration::TscInfo tsc;
};

// Writes an image in the order above onto one sink.
class ImageWriter {
public:
    explicit ImageWriter(migration::ByteSink& out) : out_(out) {}

    // Everything before the first PAGE_DATA. `config_json`: the libxl
    // configuration xl's header carries (nullopt: none, as `xl save` with
    // no JSON support writes it).
    Status write_headers(const std::optional<std::string>& config_json);
    // The pages go between the two, through a PageSender on the same sink.
    // Then the paused state and both ENDs.
    Status write_state(const DomainState& state);

private:
    migration::ByteSink& out_;
};

struct RestoredImage {
    DomainState state;
    bool tsc_present = false;
    PageReceiveCounts pages;
};

// Reads an image from the libxl header on (xl's header already read by
// the caller) into `memory`, which belongs to a domain that is built and
// not running, with `vcpu_count` vCPUs. Reads nothing after the libxl END:
// on a migration the xl handshake follows on the same stream.
//
// Trusts nothing: every frame goes through PageReceiver's checks, the HVM
// context through apply_hvm_context (refusing what KVM on this host cannot
// hold), the params through saved_hvm_params() and this domain's layout.
// Errors name the layer, the record and why. On error the domain is to be
// destroyed.
Result<RestoredImage> read_image(migration::InputStream& in, GuestMemory& memory,
                                 std::size_t vcpu_count, const migration::HostVcpuCaps& caps);

}  // namespace xenolith::save
