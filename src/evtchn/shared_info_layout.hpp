// The two layouts of the shared_info page and of vcpu_info. Xen gives a
// domain the 32-bit ("compat") layout when it latched has_32bit_shinfo:
// for an HVM/PVH guest, whenever the guest itself sets
// HVM_PARAM_CALLBACK_IRQ or writes the hypercall-page MSR, from the mode
// of the vCPU doing it (Xen 4.17 hvm_latch_shinfo_size).
//
// The compat layout follows from the i386 C rules: xen_ulong_t and
// `unsigned long` are 4 bytes and a uint64_t is 4-byte aligned. Written
// out by hand from those rules; every offset is pinned below (and agrees
// with what gcc -m32 makes of libxen-dev's public headers).
//
//   field                       native (x86_64)   compat (i386)
//   vcpu_info[32]               0, 64 each        0, 64 each
//     evtchn_upcall_pending     +0                +0
//     evtchn_upcall_mask        +1                +1
//     evtchn_pending_sel        +8, 64 bits       +4, 32 bits
//     arch (cr2, pad)           +16, 2 x 8        +8, 6 x 4
//     time (vcpu_time_info)     +32               +32 (identical)
//   evtchn_pending              2048, 64 x 8      2048, 32 x 4
//   evtchn_mask                 2560, 64 x 8      2176, 32 x 4
//   wc_version, wc_sec, wc_nsec 3072, 3076, 3080  2304, 2308, 2312
//   wc_sec_hi                   3084              2340 (in arch)
//   arch.max_pfn                3088              2316
//
// On little-endian x86 bit n of either pending bitmap is the same bit of
// the same byte, so only the mask, the selector and the word size differ
// for 2-level event channels.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
#include <xen/xen.h>
}

namespace xenolith::evtchn {

// Xen's has_32bit_shinfo: false (native64) until latched otherwise.
enum class SharedInfoLayout : std::uint8_t { native64, compat32 };

constexpr SharedInfoLayout layout_for_caller(bool caller_is64) {
    return caller_is64 ? SharedInfoLayout::native64 : SharedInfoLayout::compat32;
}

namespace compat {

struct ArchVcpuInfo {
    std::uint32_t cr2;
    std::uint32_t pad[5];
};

struct VcpuInfo {
    std::uint8_t evtchn_upcall_pending;
    std::uint8_t evtchn_upcall_mask;
    std::uint8_t pad0[2];  // to the 4-byte xen_ulong_t
    std::uint32_t evtchn_pending_sel;
    ArchVcpuInfo arch;
    vcpu_time_info_t time;
};

// Every field is `unsigned long` or xen_pfn_t (4 bytes in i386), and
// wc_sec_hi lives here because the generic part had no room for it.
struct ArchSharedInfo {
    std::uint32_t max_pfn;
    std::uint32_t pfn_to_mfn_frame_list_list;
    std::uint32_t nmi_reason;
    std::uint32_t p2m_cr3;
    std::uint32_t p2m_vaddr;
    std::uint32_t p2m_generation;
    std::uint32_t wc_sec_hi;
};

struct SharedInfo {
    VcpuInfo vcpu_info[XEN_LEGACY_MAX_VCPUS];
    std::uint32_t evtchn_pending[32];
    std::uint32_t evtchn_mask[32];
    std::uint32_t wc_version;
    std::uint32_t wc_sec;
    std::uint32_t wc_nsec;
    ArchSharedInfo arch;
};

// i386 alignment of VcpuInfo (Xen checks register_vcpu_info's offset
// against it); the host's alignof is 8 because of vcpu_time_info.
constexpr std::size_t kVcpuInfoAlign = 4;
// sizeof in i386 (the host pads the struct to 8).
constexpr std::size_t kSharedInfoSize = 2344;

static_assert(sizeof(vcpu_time_info_t) == 32);
static_assert(sizeof(ArchVcpuInfo) == 24);
static_assert(sizeof(VcpuInfo) == 64 && offsetof(VcpuInfo, evtchn_upcall_mask) == 1 &&
              offsetof(VcpuInfo, evtchn_pending_sel) == 4 && offsetof(VcpuInfo, arch) == 8 &&
              offsetof(VcpuInfo, time) == 32);
static_assert(sizeof(ArchSharedInfo) == 28 && offsetof(ArchSharedInfo, p2m_cr3) == 12 &&
              offsetof(ArchSharedInfo, p2m_generation) == 20 &&
              offsetof(ArchSharedInfo, wc_sec_hi) == 24);
static_assert(offsetof(SharedInfo, evtchn_pending) == 2048 &&
              offsetof(SharedInfo, evtchn_mask) == 2176 &&
              offsetof(SharedInfo, wc_version) == 2304 && offsetof(SharedInfo, wc_sec) == 2308 &&
              offsetof(SharedInfo, wc_nsec) == 2312 && offsetof(SharedInfo, arch) == 2316 &&
              offsetof(SharedInfo, arch) + offsetof(ArchSharedInfo, wc_sec_hi) == 2340 &&
              offsetof(SharedInfo, arch) + sizeof(ArchSharedInfo) == kSharedInfoSize);

}  // namespace compat

// The native side as libxen-dev's headers give it, so a header change
// cannot move a field unnoticed.
static_assert(sizeof(vcpu_info_t) == 64 && offsetof(vcpu_info_t, evtchn_pending_sel) == 8 &&
              offsetof(vcpu_info_t, arch) == 16 && offsetof(vcpu_info_t, time) == 32);
static_assert(offsetof(shared_info_t, evtchn_pending) == 2048 &&
              offsetof(shared_info_t, evtchn_mask) == 2560 &&
              offsetof(shared_info_t, wc_version) == 3072 &&
              offsetof(shared_info_t, wc_sec) == 3076 && offsetof(shared_info_t, wc_nsec) == 3080 &&
              offsetof(shared_info_t, wc_sec_hi) == 3084 && offsetof(shared_info_t, arch) == 3088);
static_assert(sizeof(shared_info_t) <= 4096 && compat::kSharedInfoSize <= sizeof(shared_info_t));

// Bits in one 2-level event word (Xen's BITS_PER_EVTCHN_WORD) and the
// ports the 2-level ABI can address with it: 64 * 64 or 32 * 32.
constexpr unsigned bits_per_event_word(SharedInfoLayout l) {
    return l == SharedInfoLayout::compat32 ? 32 : 64;
}
constexpr unsigned two_level_ports(SharedInfoLayout l) {
    return bits_per_event_word(l) * bits_per_event_word(l);
}

// The shared_info page seen in the compat layout.
inline compat::SharedInfo* as_compat(shared_info_t* s) {
    return reinterpret_cast<compat::SharedInfo*>(s);
}
inline compat::VcpuInfo* as_compat(vcpu_info_t* v) {
    return reinterpret_cast<compat::VcpuInfo*>(v);
}

}  // namespace xenolith::evtchn
