// Toolstack::save / restore / resume_suspended: libxl's domain_suspend and
// domain_restore over xenolith's image layers (src/save).
#include <chrono>
#include <thread>

#include <fmt/format.h>

extern "C" {
#include <xen/sched.h>
}

#include "domain/vcpu.hpp"
#include "kvm/kvm_system.hpp"
#include "kvm/kvm_vcpu.hpp"
#include "migration/byte_stream.hpp"
#include "save/domain_save.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/daemon/toolstack.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::toolstack {

namespace {

using domain::Domain;

// libxl's suspend timeouts: the guest acknowledges the request (clears
// control/shutdown) and then shuts down with SHUTDOWN_suspend.
constexpr auto kSuspendAckTimeout = std::chrono::seconds(60);
constexpr auto kSuspendTimeout = std::chrono::seconds(60);

// What the restoring host's KVM can hold of a vCPU.
migration::HostVcpuCaps host_vcpu_caps(const kvm::System& kvm) {
    migration::HostVcpuCaps caps;
    for (const auto& e : kvm.supported_cpuid())
        if (e.function == 0xd && e.index == 0)
            caps.supported_xcr0 = e.eax | (static_cast<std::uint64_t>(e.edx) << 32);
    return caps;
}

// The guest recalibrates from its time info, so a TSC rate that differs
// from the saver's is only worth a line in `xl dmesg` (KVM_SET_TSC_KHZ is
// not used: ARCHITECTURE.md, "Save, restore and live migration").
void note_tsc_rate(Domain& d, std::uint32_t image_khz, domain::HypervisorLog& log) {
    std::uint32_t host_khz = 0;
    (void)d.vcpu(0).run_parked([&](kvm::Vcpu& k) -> Status {
        if (auto t = k.tsc_khz()) host_khz = *t;
        return ok_status();
    });
    if (host_khz != 0 && host_khz != image_khz)
        log.append_line(fmt::format("(XEN) d{}: the image's TSC runs at {} kHz, this host's at {} kHz; the "
                                    "guest recalibrates from its time info",
                                    d.domid(), image_khz, host_khz));
}

}  // namespace

Status Toolstack::suspend_guest(Domain& d) {
    const std::string node = xenstore::domain_home(d.domid()) + "/control/shutdown";
    if (store_.write(node, "suspend") != xenstore::XsErr::ok)
        return make_error(fmt::format("cannot write {}", node));
    auto cleared = [](const std::optional<std::string>& v) { return !v || v->empty(); };
    if (!store_.wait_for_node(node, cleared, std::chrono::steady_clock::now() + kSuspendAckTimeout)) {
        // libxl: take the request back, unless the guest took it meanwhile.
        const auto now = store_.read(node);
        if (now && *now == "suspend") {
            (void)store_.write(node, "");
            return make_error("guest didn't acknowledge suspend, cancelling request");
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + kSuspendTimeout;
    while (!d.is_shut_down()) {
        if (std::chrono::steady_clock::now() > deadline)
            return make_error("guest didn't suspend in time; it is left running");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (d.shutdown_reason() != SHUTDOWN_suspend)
        return make_error(fmt::format("guest shut down (reason {}) instead of suspending", d.shutdown_reason()));
    return ok_status();
}

Status Toolstack::cancel_suspend(Domain& d) {
    if (!d.is_shut_down() || d.shutdown_reason() != SHUTDOWN_suspend)
        return make_error(fmt::format("domain {} is not suspended", d.domid()));
    // The boot CPU made the call (Linux suspends on CPU 0); its return
    // value says "cancelled: carry on in the same domain".
    auto st = d.vcpu(0).run_parked([](kvm::Vcpu& k) -> Status {
        k.regs().rax = 1;
        k.mark_regs_dirty();
        return ok_status();
    });
    if (!st) return st;
    d.resume("a cancelled suspend");
    return ok_status();
}

Result<SaveReport> Toolstack::save(domid_t domid, int fd, const SaveOptions& opts) {
    auto d = table_.get(domid);
    if (!d) return make_error(fmt::format("domain {} does not exist", domid));
    if (d->is_shut_down()) return make_error(fmt::format("domain {} is not running", domid));
    const nlohmann::json config = libxl_config(*d);
    // nomigrate= (b_info.disable_migrate, a libxl defbool): Xen refuses to
    // migrate such a domain; saving it to a file stays allowed.
    if (opts.live && config.is_object()) {
        const auto b_info = config.find("b_info");
        const nlohmann::json* flag = nullptr;
        if (b_info != config.end() && b_info->is_object() && b_info->contains("disable_migrate"))
            flag = &(*b_info)["disable_migrate"];
        if (flag && flag->is_string() && *flag == "True")
            return make_error(fmt::format("domain {} has migration disabled (nomigrate)", domid));
    }
    // The header's JSON as xl writes it (and as the daemon announced it to
    // xl for its "Saving to ..." line: request_transfer's expected_header).
    const nlohmann::json& stored = opts.config ? *opts.config : config;
    std::optional<std::string> config_json;
    if (!stored.is_null()) config_json = config::libxl_json_text(stored);

    migration::FdSink sink(fd);
    save::DomainSaveHooks hooks;
    hooks.suspend = [&] { return suspend_guest(*d); };
    hooks.resume_after_failure = [&] {
        if (auto st = cancel_suspend(*d); !st)
            services_.hvlog.append_line(fmt::format("(XEN) d{}: resuming after a failed save: {}", domid,
                                                    st.error().what));
    };
    hooks.progress = opts.progress;
    auto stats = save::save_domain_image(*d, sink, config_json, opts.live, hooks);
    if (!stats) return stats.error();
    services_.hvlog.append_line(fmt::format(
        "(XEN) d{}: saved, {} pages in {} round(s), {} bytes, paused {:.1f} ms", domid, stats->pages,
        stats->rounds, stats->bytes, static_cast<double>(stats->paused_ns) / 1e6));

    switch (opts.after) {
        case AfterSave::destroy:
            destroy(domid);
            break;
        case AfterSave::pause:
            d->pause();
            [[fallthrough]];
        case AfterSave::resume:
            if (auto st = cancel_suspend(*d); !st) return st.error();
            break;
        case AfterSave::suspended:
            break;
    }
    return SaveReport{stats->bytes, stats->pages, stats->rounds, stats->paused_ns};
}

Status Toolstack::resume_suspended(domid_t domid) {
    auto d = table_.get(domid);
    if (!d) return make_error(fmt::format("domain {} does not exist", domid));
    // xl migrate asks after any failure, also one before the suspend.
    if (!d->is_shut_down()) return ok_status();
    return cancel_suspend(*d);
}

Result<std::shared_ptr<Domain>> Toolstack::restore(GuestConfig cfg, int fd, const RestoreOptions& opts) {
    cfg.build.paused = opts.paused;
    auto say = [&](const std::string& line) {
        if (opts.progress) opts.progress(line);
    };
    // Built, filled and checked before the table publishes the domain: a
    // stream refused anywhere leaves nothing behind.
    auto build = [&](const domain::BuildRequest& req) -> Result<std::shared_ptr<Domain>> {
        auto d = domain::build_empty_domain(req, services_);
        if (!d) return d;
        migration::FdSource source(fd);
        migration::InputStream in(source);
        auto image = save::read_image(in, (*d)->memory(), (*d)->nr_vcpus(), host_vcpu_caps(services_.kvm));
        if (!image) return image.error();
        if (auto st = save::apply_domain_state(**d, image->state); !st) return st.error();
        if (image->tsc_present && image->state.tsc.khz != 0)
            note_tsc_rate(**d, image->state.tsc.khz, services_.hvlog);
        say(fmt::format("restored {} pages ({} released, {} zeroed)", image->pages.pages_written,
                        image->pages.pages_released, image->pages.pages_zeroed));
        services_.hvlog.append_line(fmt::format("(XEN) d{}: {} restored from a saved image ({} MiB, {} vCPU(s))",
                                                req.identity.domid, req.identity.name,
                                                req.identity.memory_kib >> 10, req.identity.vcpus));
        return d;
    };
    return create_with(std::move(cfg), build);
}

}  // namespace xenolith::toolstack
