#include "migration/hvm_context.hpp"

#include <cstddef>
#include <cstring>
#include <set>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace xenolith::migration {

namespace {

std::string_view hvm_type_name(std::uint16_t code) {
    switch (code) {
    case hvm_code::kEnd: return "END";
    case hvm_code::kHeader: return "HEADER";
    case hvm_code::kCpu: return "CPU";
    case hvm_code::kLapic: return "LAPIC";
    case hvm_code::kLapicRegs: return "LAPIC_REGS";
    case hvm_code::kMtrr: return "MTRR";
    case hvm_code::kCpuXsave: return "CPU_XSAVE";
    case hvm_code::kTscAdjust: return "TSC_ADJUST";
    case hvm_code::kCpuMsr: return "CPU_MSR";
    default: return "opaque";
    }
}

Status expect(const HvmEntry& e, std::uint16_t code) {
    if (e.typecode != code) {
        return make_error(fmt::format("entry typecode {} is not {} ({})", e.typecode, code, hvm_type_name(code)));
    }
    return ok_status();
}

template <class T>
Result<T> decode_exact(const HvmEntry& e, std::uint16_t code) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (auto st = expect(e, code); !st) return st.error();
    if (e.body.size() != sizeof(T)) {
        return make_error(fmt::format("{} length {}, expected {}", hvm_type_name(code), e.body.size(), sizeof(T)));
    }
    T v;
    std::memcpy(&v, e.body.data(), sizeof(T));
    return v;
}

template <class T>
HvmEntry encode_exact(std::uint16_t code, std::uint16_t instance, const T& v, std::size_t length = sizeof(T)) {
    static_assert(std::is_trivially_copyable_v<T>);
    HvmEntry e{code, instance, std::vector<std::uint8_t>(length)};
    std::memcpy(e.body.data(), &v, length);
    return e;
}

Status check_typed(const HvmEntry& e) {
    switch (e.typecode) {
    case hvm_code::kHeader: {
        auto h = decode_hvm_header(e);
        if (!h) return h.error();
        if (h->magic != kHvmFileMagic) return make_error(fmt::format("HEADER magic {:#x}, expected {:#x}", h->magic, kHvmFileMagic));
        if (h->version != kHvmFileVersion) return make_error(fmt::format("HEADER version {}, expected 1", h->version));
        return ok_status();
    }
    case hvm_code::kCpu:
        if (auto v = decode_hvm_cpu(e); !v) return v.error();
        return ok_status();
    case hvm_code::kLapic:
        if (auto v = decode_hvm_lapic(e); !v) return v.error();
        return ok_status();
    case hvm_code::kLapicRegs:
        if (auto v = decode_hvm_lapic_regs(e); !v) return v.error();
        return ok_status();
    case hvm_code::kMtrr:
        if (auto v = decode_hvm_mtrr(e); !v) return v.error();
        return ok_status();
    case hvm_code::kCpuXsave:
        if (auto v = decode_hvm_xsave(e); !v) return v.error();
        return ok_status();
    case hvm_code::kTscAdjust:
        if (auto v = decode_hvm_tsc_adjust(e); !v) return v.error();
        return ok_status();
    case hvm_code::kCpuMsr:
        if (auto v = decode_hvm_msrs(e); !v) return v.error();
        return ok_status();
    default:
        return ok_status();
    }
}

}  // namespace

const HvmEntry* HvmContext::find(std::uint16_t typecode, std::uint16_t instance) const {
    for (const HvmEntry& e : entries) {
        if (e.typecode == typecode && e.instance == instance) return &e;
    }
    return nullptr;
}

Result<HvmContext> parse_hvm_context(ByteSpan blob, const HvmContextLimits& limits) {
    HvmContext ctx;
    std::set<std::pair<std::uint16_t, std::uint16_t>> seen;
    std::size_t off = 0;
    for (;;) {
        const auto fail = [&](const std::string& why) {
            return make_error(fmt::format("HVM context entry {} at blob offset {}: {}", ctx.entries.size(), off, why));
        };
        if (blob.size() - off < kHvmDescriptorSize) {
            return fail(off == blob.size() ? "blob ends without an END entry" : "truncated descriptor");
        }
        HvmEntry e;
        e.typecode = le16(blob, off);
        e.instance = le16(blob, off + 2);
        const std::uint32_t length = le32(blob, off + 4);
        if (length > blob.size() - off - kHvmDescriptorSize) {
            return fail(fmt::format("typecode {} length {} overruns the blob ({} bytes left)", e.typecode, length,
                                    blob.size() - off - kHvmDescriptorSize));
        }
        if (ctx.entries.empty() && e.typecode != hvm_code::kHeader) {
            return fail(fmt::format("first entry has typecode {}, expected HEADER (1)", e.typecode));
        }
        if (e.typecode == hvm_code::kEnd) {
            if (length != 0 || e.instance != 0) return fail("END entry with non-zero instance or length");
            if (off + kHvmDescriptorSize != blob.size()) {
                return fail(fmt::format("{} bytes after the END entry", blob.size() - off - kHvmDescriptorSize));
            }
            ctx.entries.push_back(std::move(e));
            return ctx;
        }
        if (e.typecode == hvm_code::kHeader && e.instance != 0) return fail("HEADER instance must be 0");
        if (is_per_vcpu_hvm_code(e.typecode) && e.instance >= limits.max_vcpus) {
            return fail(fmt::format("{} instance {} is not a vCPU (max {})", hvm_type_name(e.typecode), e.instance,
                                    limits.max_vcpus));
        }
        if (!seen.insert({e.typecode, e.instance}).second) {
            return fail(fmt::format("duplicate typecode {} instance {}", e.typecode, e.instance));
        }
        const ByteSpan body = blob.subspan(off + kHvmDescriptorSize, length);
        e.body.assign(body.begin(), body.end());
        if (auto st = check_typed(e); !st) return fail(st.error().what);
        off += kHvmDescriptorSize + length;
        ctx.entries.push_back(std::move(e));
    }
}

std::vector<std::uint8_t> emit_hvm_context(const HvmContext& context) {
    std::vector<std::uint8_t> out;
    for (const HvmEntry& e : context.entries) {
        put_le16(out, e.typecode);
        put_le16(out, e.instance);
        put_le32(out, static_cast<std::uint32_t>(e.body.size()));
        out.insert(out.end(), e.body.begin(), e.body.end());
    }
    return out;
}

Result<HvmSaveHeader> decode_hvm_header(const HvmEntry& e) { return decode_exact<HvmSaveHeader>(e, hvm_code::kHeader); }

Result<HvmCpu> decode_hvm_cpu(const HvmEntry& e) {
    if (auto st = expect(e, hvm_code::kCpu); !st) return st.error();
    HvmCpu v;
    if (e.body.size() == sizeof(HvmCpu)) {
        std::memcpy(&v, e.body.data(), sizeof v);
        return v;
    }
    if (e.body.size() != kHvmCpuCompatSize) {
        return make_error(fmt::format("CPU length {}, expected {} (or {} for the old layout)", e.body.size(),
                                      sizeof(HvmCpu), kHvmCpuCompatSize));
    }
    // The old layout stops before msr_tsc_aux and has no flags: the fields
    // from tsc on sit 8 bytes earlier. Xen treats the FPU as initialised.
    constexpr std::size_t tsc_aux_at = offsetof(HvmCpu, msr_tsc_aux);
    std::memcpy(static_cast<void*>(&v), e.body.data(), tsc_aux_at);
    std::memcpy(&v.tsc, e.body.data() + tsc_aux_at, kHvmCpuCompatSize - tsc_aux_at);
    v.msr_tsc_aux = 0;
    v.flags = kHvmCpuFpuInitialised;
    return v;
}

Result<HvmLapic> decode_hvm_lapic(const HvmEntry& e) {
    if (auto st = expect(e, hvm_code::kLapic); !st) return st.error();
    if (e.body.size() != sizeof(HvmLapic) && e.body.size() != kHvmLapicShortSize) {
        return make_error(fmt::format("LAPIC length {}, expected {} or {}", e.body.size(), kHvmLapicShortSize,
                                      sizeof(HvmLapic)));
    }
    HvmLapic v;
    std::memcpy(static_cast<void*>(&v), e.body.data(), e.body.size());
    return v;
}

Result<HvmLapicRegs> decode_hvm_lapic_regs(const HvmEntry& e) { return decode_exact<HvmLapicRegs>(e, hvm_code::kLapicRegs); }
Result<HvmMtrr> decode_hvm_mtrr(const HvmEntry& e) { return decode_exact<HvmMtrr>(e, hvm_code::kMtrr); }
Result<HvmTscAdjust> decode_hvm_tsc_adjust(const HvmEntry& e) { return decode_exact<HvmTscAdjust>(e, hvm_code::kTscAdjust); }

Result<HvmCpuXsave> decode_hvm_xsave(const HvmEntry& e) {
    if (auto st = expect(e, hvm_code::kCpuXsave); !st) return st.error();
    const std::size_t n = e.body.size();
    if (n < kHvmXsaveFixedSize + kXsaveAreaMinSize || n > kHvmXsaveFixedSize + kXsaveAreaMaxSize) {
        return make_error(fmt::format("CPU_XSAVE length {} outside [{}, {}]", n, kHvmXsaveFixedSize + kXsaveAreaMinSize,
                                      kHvmXsaveFixedSize + kXsaveAreaMaxSize));
    }
    const ByteSpan b(e.body);
    HvmCpuXsave v;
    v.xfeature_mask = le64(b, 0);
    v.xcr0 = le64(b, 8);
    v.xcr0_accum = le64(b, 16);
    if ((v.xcr0 & ~v.xcr0_accum) != 0) {
        return make_error(fmt::format("CPU_XSAVE xcr0 {:#x} has bits missing from xcr0_accum {:#x}", v.xcr0, v.xcr0_accum));
    }
    v.save_area.assign(b.begin() + kHvmXsaveFixedSize, b.end());
    return v;
}

Result<std::vector<HvmMsr>> decode_hvm_msrs(const HvmEntry& e) {
    if (auto st = expect(e, hvm_code::kCpuMsr); !st) return st.error();
    const ByteSpan b(e.body);
    if (b.size() < 8) return make_error(fmt::format("CPU_MSR length {} too short for its count", b.size()));
    const std::uint32_t count = le32(b, 0);
    if (count == 0) return make_error("CPU_MSR count is 0 (Xen sends the entry only with MSRs)");
    if (b.size() != 8 + std::uint64_t{count} * 16) {
        return make_error(fmt::format("CPU_MSR length {} does not match count {} (expected {})", b.size(), count,
                                      8 + std::uint64_t{count} * 16));
    }
    std::vector<HvmMsr> msrs;
    msrs.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t at = 8 + std::size_t{i} * 16;
        if (le32(b, at + 4) != 0) return make_error(fmt::format("CPU_MSR entry {} has non-zero reserved bits", i));
        msrs.push_back({le32(b, at), le64(b, at + 8)});
    }
    return msrs;
}

HvmEntry encode_hvm_header(const HvmSaveHeader& v) { return encode_exact(hvm_code::kHeader, 0, v); }
HvmEntry encode_hvm_cpu(std::uint16_t vcpu, const HvmCpu& v) { return encode_exact(hvm_code::kCpu, vcpu, v); }
HvmEntry encode_hvm_lapic(std::uint16_t vcpu, const HvmLapic& v) {
    return encode_exact(hvm_code::kLapic, vcpu, v, v.pending_esr != 0 ? sizeof v : kHvmLapicShortSize);
}
HvmEntry encode_hvm_lapic_regs(std::uint16_t vcpu, const HvmLapicRegs& v) {
    return encode_exact(hvm_code::kLapicRegs, vcpu, v);
}
HvmEntry encode_hvm_mtrr(std::uint16_t vcpu, const HvmMtrr& v) { return encode_exact(hvm_code::kMtrr, vcpu, v); }
HvmEntry encode_hvm_tsc_adjust(std::uint16_t vcpu, const HvmTscAdjust& v) {
    return encode_exact(hvm_code::kTscAdjust, vcpu, v);
}

HvmEntry encode_hvm_xsave(std::uint16_t vcpu, const HvmCpuXsave& v) {
    HvmEntry e{hvm_code::kCpuXsave, vcpu, {}};
    put_le64(e.body, v.xfeature_mask);
    put_le64(e.body, v.xcr0);
    put_le64(e.body, v.xcr0_accum);
    e.body.insert(e.body.end(), v.save_area.begin(), v.save_area.end());
    return e;
}

HvmEntry encode_hvm_msrs(std::uint16_t vcpu, const std::vector<HvmMsr>& msrs) {
    HvmEntry e{hvm_code::kCpuMsr, vcpu, {}};
    put_le32(e.body, static_cast<std::uint32_t>(msrs.size()));
    put_le32(e.body, 0);
    for (const HvmMsr& m : msrs) {
        put_le32(e.body, m.index);
        put_le32(e.body, 0);
        put_le64(e.body, m.value);
    }
    return e;
}

HvmEntry hvm_end_entry() { return HvmEntry{hvm_code::kEnd, 0, {}}; }

bool is_per_vcpu_hvm_code(std::uint16_t code) {
    switch (code) {
    case hvm_code::kCpu:
    case hvm_code::kLapic:
    case hvm_code::kLapicRegs:
    case hvm_code::kMtrr:
    case hvm_code::kCpuXsave:
    case hvm_code::kViridianVcpu:
    case hvm_code::kVmceVcpu:
    case hvm_code::kTscAdjust:
    case hvm_code::kCpuMsr:
        return true;
    default:
        return false;
    }
}

}  // namespace xenolith::migration
