// xen_version: identity of "the hypervisor" as Xen 4.17 reports it.
#include <cstdint>
#include <cstring>

extern "C" {
#include <xen/errno.h>
#include <xen/features.h>
#include <xen/version.h>
}

#include "hypercall/compat_abi.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

constexpr unsigned kMajor = 4, kMinor = 17;

template <std::size_t N>
long copy_string(Context& ctx, std::uint64_t dst, const char* s) {
    char buf[N] = {};
    std::strncpy(buf, s, N - 1);
    return ctx.guest.copy_to(dst, buf, N) ? 0 : -XEN_EFAULT;
}

}  // namespace

long xen_version(Context& ctx) {
    const std::uint64_t cmd = ctx.arg[0], arg = ctx.arg[1];
    switch (cmd) {
        case XENVER_version:
            return (kMajor << 16) | kMinor;
        case XENVER_extraversion:
            return copy_string<XEN_EXTRAVERSION_LEN>(ctx, arg, ".0-xenolith");
        case XENVER_compile_info: {
            xen_compile_info_t info{};
            std::strncpy(info.compiler, "xenolith (C++20)", sizeof(info.compiler) - 1);
            std::strncpy(info.compile_by, "xenolith", sizeof(info.compile_by) - 1);
            std::strncpy(info.compile_domain, "localdomain", sizeof(info.compile_domain) - 1);
            std::strncpy(info.compile_date, __DATE__, sizeof(info.compile_date) - 1);
            return ctx.guest.write(arg, info) ? 0 : -XEN_EFAULT;
        }
        case XENVER_capabilities:
            return copy_string<XEN_CAPABILITIES_INFO_LEN>(
                ctx, arg, "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
        case XENVER_changeset:
            return copy_string<XEN_CHANGESET_INFO_LEN>(ctx, arg, "xenolith " XENOLITH_VERSION);
        case XENVER_platform_parameters: {
            // Xen 4.17 reports the 64-bit PV hypervisor hole to every
            // 64-bit caller. A 32-bit caller gets HYPERVISOR_COMPAT_VIRT_START
            // (a 4-byte unsigned long): 0 in Debian's build (CONFIG_PV32
            // off, see /boot/xen-4.17-amd64.config); with PV32 an HVM
            // domain would get ~0u. Never 0xf5800000, which is PV-only.
            if (!ctx.is64) {
                const compat::PlatformParameters p{0};
                return ctx.guest.write(arg, p) ? 0 : -XEN_EFAULT;
            }
            xen_platform_parameters_t p{};
            p.virt_start = 0xffff800000000000ull;
            return ctx.guest.write(arg, p) ? 0 : -XEN_EFAULT;
        }
        case XENVER_get_features: {
            xen_feature_info_t fi{};
            if (!ctx.guest.read(arg, fi)) return -XEN_EFAULT;
            if (fi.submap_idx >= XENFEAT_NR_SUBMAPS) return -XEN_EINVAL;
            fi.submap = (1u << XENFEAT_writable_page_tables) |
                            (1u << XENFEAT_auto_translated_physmap) |
                            (1u << XENFEAT_hvm_callback_vector) |
                            (1u << XENFEAT_hvm_safe_pvclock) |
                            (1u << XENFEAT_memory_op_vnode_supported);
            return ctx.guest.write(arg, fi) ? 0 : -XEN_EFAULT;
        }
        case XENVER_pagesize:
            return arg ? -XEN_EINVAL : 4096;
        case XENVER_guest_handle: {
            const auto& uuid = ctx.domain.handle();
            return ctx.guest.copy_to(arg, uuid.data(), uuid.size()) ? 0 : -XEN_EFAULT;
        }
        case XENVER_commandline: {
            // Denied to domUs by the default XSM policy: Xen answers with
            // its "<denied>" placeholder, not an error.
            static constexpr char kDenied[] = "<denied>";
            return ctx.guest.copy_to(arg, kDenied, sizeof kDenied) ? 0 : -XEN_EFAULT;
        }
        case XENVER_build_id:
            return -XEN_EPERM;  // privileged domains only (XSM default policy)
        default:
            return unknown_subop(ctx, __HYPERVISOR_xen_version, cmd);
    }
}

}  // namespace xenolith::hypercall
