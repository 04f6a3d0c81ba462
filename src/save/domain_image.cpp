#include "save/domain_image.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

extern "C" {
#include <xen/hvm/params.h>
}

#include "migration/libxl_stream.hpp"
#include "migration/xl_savefile.hpp"

namespace xenolith::save {

namespace {

namespace xc = migration::libxc_rec;
namespace xl = migration::libxl_rec;

constexpr std::array<std::uint32_t, 16> kSavedParams = {
    HVM_PARAM_STORE_PFN,         HVM_PARAM_IOREQ_PFN,
    HVM_PARAM_BUFIOREQ_PFN,      HVM_PARAM_PAGING_RING_PFN,
    HVM_PARAM_MONITOR_RING_PFN,  HVM_PARAM_SHARING_RING_PFN,
    HVM_PARAM_VM86_TSS_SIZED,    HVM_PARAM_CONSOLE_PFN,
    HVM_PARAM_ACPI_IOPORTS_LOCATION, HVM_PARAM_VIRIDIAN,
    HVM_PARAM_IDENT_PT,          HVM_PARAM_VM_GENERATION_ID_ADDR,
    HVM_PARAM_IOREQ_SERVER_PFN,  HVM_PARAM_NR_IOREQ_SERVER_PAGES,
    HVM_PARAM_X87_FIP_WIDTH,     HVM_PARAM_MCA_CAP,
};

Error image_error(const std::string& why) { return make_error("saved image: " + why); }

// A toolstack page param must name this domain's own page: xenolith's
// console and xenstore back-ends serve fixed frames (a stream from a host
// with another layout is refused rather than half-connected).
Status check_special_param(const GuestMemory& memory, const migration::HvmParam& p,
                           unsigned special, const char* name) {
    const std::uint64_t want = memory.special_page_gpa(special) >> kPageShift;
    if (p.value == want) return ok_status();
    return image_error(fmt::format(
        "HVM_PARAMS: {} is {:#x}, but this domain's page is {:#x} (images from hosts with "
        "another special-page layout cannot be restored)",
        name, p.value, want));
}

Status check_params(const GuestMemory& memory, std::span<const migration::HvmParam> params) {
    for (const auto& p : params) {
        if (std::find(kSavedParams.begin(), kSavedParams.end(), p.index) == kSavedParams.end())
            return image_error(fmt::format("HVM_PARAMS: param {} is not one a saver sends", p.index));
        if (p.index == HVM_PARAM_STORE_PFN) {
            if (auto st = check_special_param(memory, p, kXenstoreSpecialPage, "STORE_PFN"); !st)
                return st;
        } else if (p.index == HVM_PARAM_CONSOLE_PFN) {
            if (auto st = check_special_param(memory, p, kConsoleSpecialPage, "CONSOLE_PFN"); !st)
                return st;
        } else if (p.index == HVM_PARAM_VIRIDIAN && p.value != 0) {
            return image_error(fmt::format(
                "HVM_PARAMS: VIRIDIAN is {:#x}: xenolith offers no Hyper-V enlightenments", p.value));
        }
    }
    return ok_status();
}

// Domain-wide HVM records (PIC, IOAPIC, PIT, RTC, HPET, the IRQ routing)
// describe emulated devices a PVH domain does not have. Xen still writes
// some of them (the IRQ state) for PVH guests, all zero; anything else
// would be state this host cannot give back.
Status check_other_hvm_entries(std::span<const migration::HvmEntry> other) {
    for (const auto& e : other) {
        const bool empty = std::all_of(e.body.begin(), e.body.end(), [](std::uint8_t b) { return b == 0; });
        if (!empty)
            return image_error(fmt::format(
                "HVM_CONTEXT: entry typecode {} instance {} holds state of an emulated device a "
                "PVH domain does not have",
                e.typecode, e.instance));
    }
    return ok_status();
}

// Xen's restore starts the toolstack's rings afresh; so does this one:
// the new xenstore connection knows nothing of a request half-written.
void clear_special_page(GuestMemory& memory, unsigned special) {
    if (std::uint8_t* p = memory.host_ptr(memory.special_page_gpa(special), kPageSize))
        std::memset(p, 0, kPageSize);
}

Result<RestoredImage> read_libxc_image(migration::InputStream& in, GuestMemory& memory,
                                       std::size_t vcpu_count, const migration::HostVcpuCaps& caps) {
    PageReceiver receiver(memory);
    migration::LibxcLimits limits;
    limits.max_pfn = receiver.max_pfn();
    migration::LibxcStreamReader reader(in, limits);
    if (auto st = reader.read_headers(); !st) return st.error();
    reader.set_page_sink(&receiver);

    RestoredImage image;
    bool context_seen = false;
    for (;;) {
        auto rec = reader.next();
        if (!rec) return rec.error();
        switch (rec->type) {
        case xc::kEnd:
            break;
        case xc::kPageData:
        case xc::kStaticDataEnd:
        case xc::kVerify:
            continue;
        // The guest's CPUID and MSRs on xenolith are this host's (with the
        // domain's cpuid= policy); the saver's policy is not applied.
        case xc::kX86CpuidPolicy:
        case xc::kX86MsrPolicy:
            continue;
        case xc::kX86TscInfo: {
            auto tsc = migration::decode_tsc_info(rec->body);
            if (!tsc) return tsc.error();
            image.state.tsc = *tsc;
            image.tsc_present = true;
            continue;
        }
        case xc::kHvmContext: {
            auto applied = migration::apply_hvm_context(rec->body, vcpu_count, caps);
            if (!applied) return applied.error();
            if (auto st = check_other_hvm_entries(applied->other); !st) return st.error();
            image.state.hvm_header = applied->header;
            image.state.vcpus = std::move(applied->vcpus);
            context_seen = true;
            continue;
        }
        case xc::kHvmParams: {
            auto params = migration::decode_hvm_params(rec->body);
            if (!params) return params.error();
            if (auto st = check_params(memory, *params); !st) return st.error();
            image.state.params = std::move(*params);
            continue;
        }
        default:
            if (rec->type & xc::kOptionalBit) continue;  // optional: may be skipped, by definition
            return image_error(fmt::format("libxc record {} ({}) cannot be restored into a PVH domain",
                                           rec->index, migration::libxc_record_name(rec->type)));
        }
        break;  // END
    }
    if (!context_seen) return image_error("the libxc stream ended without HVM_CONTEXT: no vCPU state to restore");
    clear_special_page(memory, kConsoleSpecialPage);
    clear_special_page(memory, kXenstoreSpecialPage);
    image.pages = receiver.counts();
    return image;
}

}  // namespace

std::span<const std::uint32_t> saved_hvm_params() { return kSavedParams; }

Status ImageWriter::write_headers(const std::optional<std::string>& config_json) {
    migration::XlSaveHeader xl_header;
    xl_header.config_json = config_json;
    if (auto st = out_.write(migration::encode_xl_save_header(xl_header)); !st) return st;
    migration::LibxlStreamWriter libxl(out_);
    if (auto st = libxl.write_header({}); !st) return st;
    if (auto st = libxl.write_libxc_context(); !st) return st;
    migration::LibxcStreamWriter libxc(out_);
    if (auto st = libxc.write_headers({}, {}); !st) return st;
    return libxc.write_record(xc::kStaticDataEnd, {});
}

Status ImageWriter::write_state(const DomainState& state) {
    migration::LibxcStreamWriter libxc(out_);
    if (auto st = libxc.write_record(xc::kX86TscInfo, migration::encode_tsc_info(state.tsc)); !st) return st;
    auto context = migration::build_hvm_context(state.hvm_header, state.vcpus);
    if (!context) return context.error();
    if (auto st = libxc.write_record(xc::kHvmContext, migration::emit_hvm_context(*context)); !st) return st;
    std::vector<migration::HvmParam> params;
    for (const auto& p : state.params)
        if (p.value != 0) params.push_back(p);
    if (auto st = libxc.write_record(xc::kHvmParams, migration::encode_hvm_params(params)); !st) return st;
    if (auto st = libxc.write_end(); !st) return st;
    return migration::LibxlStreamWriter(out_).write_end();
}

Result<RestoredImage> read_image(migration::InputStream& in, GuestMemory& memory, std::size_t vcpu_count,
                                 const migration::HostVcpuCaps& caps) {
    migration::LibxlStreamReader libxl(in, migration::LibxlLimits{});
    if (auto st = libxl.read_header(); !st) return st.error();
    std::optional<RestoredImage> image;
    for (;;) {
        auto rec = libxl.next();
        if (!rec) return rec.error();
        if (rec->type == xl::kEnd) break;
        if (rec->type == xl::kLibxcContext) {
            auto r = read_libxc_image(in, memory, vcpu_count, caps);
            if (!r) return r.error();
            image = std::move(*r);
            continue;
        }
        if (rec->type & xl::kOptionalBit) continue;
        return image_error(fmt::format("libxl record {} ({}) cannot be restored into a PVH domain",
                                       rec->index, migration::libxl_record_name(rec->type)));
    }
    // The libxl reader refuses an END before LIBXC_CONTEXT; this is belt
    // and braces for a reader that one day allows it.
    if (!image) return image_error("the libxl stream ended without a libxc stream");
    return std::move(*image);
}

}  // namespace xenolith::save
