// Rewrites Linux's two direct-hypercall functions so that the hypercall
// exits to xenolithd through an I/O port instead of VMCALL/VMMCALL.
//
// Since the XSA-466 fix Linux no longer asks for a hypercall page; every
// hypercall goes through a static call to one of
//     xen_hypercall_amd:   [endbr64] vmmcall; RET      (0f 01 d9)
//     xen_hypercall_intel: [endbr64] vmcall;  RET      (0f 01 c1)
// RET is `ret` (c3, maybe followed by int3) or, with return thunks,
// `jmp __x86_return_thunk` (e9 rel32). endbr64 is there in IBT kernels
// (Debian's 6.12). Both are SYM_FUNC_START functions: they start on a
// 16-byte boundary and are defined one after the other, so they sit 16
// (6.1) or 32 (6.12, with function padding) bytes apart.
//
// Matching only "instruction + return" is not enough: .altinstr_replacement
// holds packed VMMCALL replacements that can be followed by a jmp into
// .text, and one of them sits on a 16-byte boundary in Debian's 6.12. So a
// match is an adjacent amd/intel pair of aligned functions, and there must
// be exactly one such pair.
#include <strings.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "arch/x86/hypercall_port.hpp"
#include "loader/kernel_image.hpp"

namespace xenolith::loader {
namespace {

using Insn = std::array<std::uint8_t, 3>;
constexpr Insn kVmcall{0x0f, 0x01, 0xc1};
constexpr Insn kVmmcall{0x0f, 0x01, 0xd9};
// out %eax,$imm8 ; nop — the same length as VMCALL/VMMCALL.
constexpr Insn kPortExit{0xe7, x86::kHypercallPort, 0x90};
constexpr std::array<std::uint8_t, 4> kEndbr64{0xf3, 0x0f, 0x1e, 0xfa};
constexpr std::array<std::uint8_t, 4> kEndbr32{0xf3, 0x0f, 0x1e, 0xfb};
constexpr std::uint8_t kRet = 0xc3;
constexpr std::uint8_t kJmpRel32 = 0xe9;
constexpr std::uint64_t kFunctionAlign = 16;
// Largest distance between the two function starts accepted as "adjacent":
// 16-byte functions plus up to 64-byte alignment or padding between them.
constexpr std::uint64_t kMaxPairDistance = 128;
constexpr std::size_t kMaxListed = 8;
// Real kernels have one candidate of each kind; beyond this many the image
// is ambiguous and scanning (and pairing) stops.
constexpr std::size_t kMaxCandidates = 16;

struct Site {
    std::uint64_t function;              // paddr of the function start
    std::uint64_t paddr;                 // paddr of the VMCALL/VMMCALL
    std::uint64_t offset;                // its offset in KernelImage::elf
    std::optional<std::uint64_t> thunk;  // vaddr of the jmp target, if RET is a jmp
};

struct Pair {
    Site amd;
    Site intel;
};

// Executable file bytes by vaddr, as sorted disjoint [begin, end) ranges,
// so that checking a jmp target costs O(log segments) even for hostile
// images with thousands of segments.
class ExecutableRanges {
public:
    explicit ExecutableRanges(const KernelImage& img) {
        for (const Segment& s : img.segments) {
            if (!s.executable || s.filesz == 0) continue;
            const std::uint64_t end =
                s.filesz > UINT64_MAX - s.vaddr ? UINT64_MAX : s.vaddr + s.filesz;
            ranges_.emplace_back(s.vaddr, end);
        }
        std::sort(ranges_.begin(), ranges_.end());
        std::vector<std::pair<std::uint64_t, std::uint64_t>> merged;
        for (const auto& r : ranges_) {
            if (!merged.empty() && r.first <= merged.back().second) {
                merged.back().second = std::max(merged.back().second, r.second);
            } else {
                merged.push_back(r);
            }
        }
        ranges_ = std::move(merged);
    }

    bool contains(std::uint64_t vaddr) const {
        auto it = std::upper_bound(ranges_.begin(), ranges_.end(), vaddr,
                                   [](std::uint64_t v, const auto& r) { return v < r.first; });
        return it != ranges_.begin() && vaddr < std::prev(it)->second;
    }

private:
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges_;
};

template <std::size_t N>
bool bytes_at(ByteSpan bytes, std::uint64_t at, const std::array<std::uint8_t, N>& want) {
    return at <= bytes.size() && bytes.size() - at >= N &&
           std::memcmp(bytes.data() + at, want.data(), N) == 0;
}

// Decodes the return after the instruction ending at `next`
// (segment-relative): ret, or jmp rel32 into executable code (`thunk`).
bool return_at(const ExecutableRanges& exec, const Segment& seg, ByteSpan bytes,
               std::uint64_t next, std::optional<std::uint64_t>& thunk) {
    if (next >= bytes.size()) return false;
    if (bytes[next] == kRet) return true;
    if (bytes[next] != kJmpRel32) return false;
    const auto rel = read_at<std::int32_t>(bytes, next + 1);
    if (!rel) return false;
    const std::uint64_t target =
        seg.vaddr + next + 5 + static_cast<std::uint64_t>(static_cast<std::int64_t>(*rel));
    if (!exec.contains(target)) return false;
    thunk = target;
    return true;
}

// Aligned functions of the form [endbr] insn; RET in one segment. Stops
// once `out` holds more than kMaxCandidates: that is ambiguous anyway.
void scan_segment(const KernelImage& img, const ExecutableRanges& exec, const Segment& seg,
                  const Insn& insn, std::vector<Site>& out) {
    const ByteSpan bytes = img.segment_bytes(seg);
    const std::uint64_t first = (kFunctionAlign - seg.paddr % kFunctionAlign) % kFunctionAlign;
    for (std::uint64_t fn = first; fn < bytes.size() && out.size() <= kMaxCandidates;
         fn += kFunctionAlign) {
        std::uint64_t at = fn;
        if (bytes_at(bytes, at, kEndbr64) || bytes_at(bytes, at, kEndbr32)) at += kEndbr64.size();
        if (!bytes_at(bytes, at, insn)) continue;
        std::optional<std::uint64_t> thunk;
        if (!return_at(exec, seg, bytes, at + insn.size(), thunk)) continue;
        out.push_back(Site{seg.paddr + fn, seg.paddr + at, seg.file_offset + at, thunk});
    }
}

std::vector<Site> find_functions(const KernelImage& img, const ExecutableRanges& exec,
                                 const Insn& insn) {
    std::vector<Site> out;
    for (const Segment& seg : img.segments) {
        if (seg.executable) scan_segment(img, exec, seg, insn, out);
    }
    return out;
}

std::uint64_t distance(std::uint64_t a, std::uint64_t b) {
    return a > b ? a - b : b - a;
}

std::vector<Pair> adjacent_pairs(const std::vector<Site>& amd, const std::vector<Site>& intel) {
    std::vector<Pair> out;
    for (const Site& a : amd) {
        for (const Site& i : intel) {
            if (distance(a.function, i.function) <= kMaxPairDistance) out.push_back(Pair{a, i});
        }
    }
    return out;
}

template <class T, class F>
std::string list(const std::vector<T>& items, F format_one) {
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < kMaxListed; ++i) {
        out += (i == 0 ? "" : ", ") + format_one(items[i]);
    }
    if (items.size() > kMaxListed) out += ", ...";
    return out;
}

std::string list_sites(const std::vector<Site>& sites) {
    return list(sites, [](const Site& s) { return fmt::format("{:#x}", s.paddr); });
}

}  // namespace

bool needs_direct_hypercall_rewrite(const KernelImage& image) {
    return strcasecmp(image.guest_os.c_str(), "linux") == 0 && !image.hypercall_page;
}

Result<std::size_t> rewrite_direct_hypercalls(KernelImage& image, const std::string& name) {
    if (!needs_direct_hypercall_rewrite(image)) return std::size_t{0};
    if (!image.rewritten_hypercall_sites.empty()) return std::size_t{0};

    const ExecutableRanges exec(image);
    const std::vector<Site> amd = find_functions(image, exec, kVmmcall);
    const std::vector<Site> intel = find_functions(image, exec, kVmcall);
    const std::pair<const std::vector<Site>*, const char*> kinds[] = {
        {&amd, "xen_hypercall_amd (VMMCALL; RET)"}, {&intel, "xen_hypercall_intel (VMCALL; RET)"}};
    for (const auto& [sites, what] : kinds) {
        if (sites->size() > kMaxCandidates) {
            return make_error(fmt::format(
                "{}: ambiguous direct-hypercall pattern: more than {} candidates for {} at paddr "
                "{}; refusing to patch",
                name, kMaxCandidates, what, list_sites(*sites)));
        }
    }
    const char* missing = amd.empty()     ? "xen_hypercall_amd (VMMCALL; RET)"
                          : intel.empty() ? "xen_hypercall_intel (VMCALL; RET)"
                                          : nullptr;
    if (missing != nullptr) {
        return make_error(fmt::format(
            "{}: Linux kernel without XEN_ELFNOTE_HYPERCALL_PAGE makes direct hypercalls, but {} "
            "was not found in its executable segments; it needs a host with KVM Xen support",
            name, missing));
    }
    const std::vector<Pair> pairs = adjacent_pairs(amd, intel);
    if (pairs.empty()) {
        return make_error(fmt::format(
            "{}: Linux kernel without XEN_ELFNOTE_HYPERCALL_PAGE makes direct hypercalls, but no "
            "adjacent xen_hypercall_amd/xen_hypercall_intel pair was found (VMMCALL; RET at paddr "
            "{}; VMCALL; RET at paddr {}); it needs a host with KVM Xen support",
            name, list_sites(amd), list_sites(intel)));
    }
    if (pairs.size() > 1) {
        return make_error(
            fmt::format("{}: ambiguous direct-hypercall pattern: {} candidate xen_hypercall_amd/"
                        "xen_hypercall_intel pairs at paddr {}; refusing to patch",
                        name, pairs.size(), list(pairs, [](const Pair& p) {
                            return fmt::format("({:#x}, {:#x})", p.amd.paddr, p.intel.paddr);
                        })));
    }
    const Pair& pair = pairs.front();
    if (pair.amd.thunk && pair.intel.thunk && *pair.amd.thunk != *pair.intel.thunk) {
        return make_error(fmt::format(
            "{}: xen_hypercall_amd at paddr {:#x} and xen_hypercall_intel at paddr {:#x} return "
            "through different jmp targets ({:#x}, {:#x}); refusing to patch",
            name, pair.amd.paddr, pair.intel.paddr, *pair.amd.thunk, *pair.intel.thunk));
    }

    for (const Site* s : {&pair.amd, &pair.intel}) {
        std::copy(kPortExit.begin(), kPortExit.end(),
                  image.elf.begin() + static_cast<std::ptrdiff_t>(s->offset));
        image.rewritten_hypercall_sites.push_back(s->paddr);
    }
    std::sort(image.rewritten_hypercall_sites.begin(), image.rewritten_hypercall_sites.end());
    return image.rewritten_hypercall_sites.size();
}

}  // namespace xenolith::loader
