#include "migration/libxc_stream.hpp"

#include <array>

#include <fmt/format.h>
#include <xen/hvm/params.h>

#include "migration/hvm_context.hpp"

namespace xenolith::migration {

namespace r = libxc_rec;

std::string libxc_record_name(std::uint32_t type) {
    static constexpr std::array<std::string_view, 0x13> kNames = {
        "END", "PAGE_DATA", "X86_PV_INFO", "X86_PV_P2M_FRAMES", "X86_PV_VCPU_BASIC", "X86_PV_VCPU_EXTENDED",
        "X86_PV_VCPU_XSAVE", "SHARED_INFO", "X86_TSC_INFO", "HVM_CONTEXT", "HVM_PARAMS", "TOOLSTACK",
        "X86_PV_VCPU_MSRS", "VERIFY", "CHECKPOINT", "CHECKPOINT_DIRTY_PFN_LIST", "STATIC_DATA_END",
        "X86_CPUID_POLICY", "X86_MSR_POLICY"};
    if (type < kNames.size()) return std::string(kNames[type]);
    if (type & r::kOptionalBit) return fmt::format("optional {:#x}", type);
    return fmt::format("unknown {:#x}", type);
}

bool page_type_has_data(std::uint8_t type) {
    return type != pfinfo::kBroken && type != pfinfo::kXalloc && type != pfinfo::kXtab;
}

// ---- body codecs ----

namespace {

// The count header of a PAGE_DATA body, checked against the body's length.
Result<std::uint32_t> decode_page_data_count(ByteSpan head, std::uint64_t body_length, const LibxcLimits& limits) {
    if (body_length < 8 || head.size() < 8) {
        return make_error(fmt::format("length {} is shorter than the 8-byte count header", body_length));
    }
    const std::uint32_t count = le32(head, 0);
    if (count == 0) return make_error("page count is 0 (must be at least 1)");
    if (count > limits.max_pages_per_record) {
        return make_error(fmt::format("page count {} exceeds the limit of {} per record", count,
                                      limits.max_pages_per_record));
    }
    const std::uint64_t pfn_bytes = 8 + std::uint64_t{count} * 8;
    if (body_length < pfn_bytes) {
        return make_error(fmt::format("length {} too short for {} pfn entries ({} bytes)", body_length, count, pfn_bytes));
    }
    return count;
}

}  // namespace

Result<std::vector<PageDataPfn>> decode_page_data_pfns(ByteSpan head, std::uint64_t body_length,
                                                       const LibxcLimits& limits) {
    auto counted = decode_page_data_count(head, body_length, limits);
    if (!counted) return counted.error();
    const std::uint32_t count = *counted;
    const std::uint64_t pfn_bytes = 8 + std::uint64_t{count} * 8;
    if (head.size() < pfn_bytes) return make_error("pfn list incomplete");
    std::vector<PageDataPfn> pfns;
    pfns.reserve(count);
    std::uint64_t with_data = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint64_t raw = le64(head, 8 + std::size_t{i} * 8);
        const PageDataPfn p{raw & kPageDataPfnMask, static_cast<std::uint8_t>(raw >> 60)};
        if (p.type > pfinfo::kL4tab && p.type < pfinfo::kBroken) {
            if (p.type < pfinfo::kL1tabPinned)
                return make_error(fmt::format("pfn {:#x} (index {}) has reserved page type {:#x}", p.pfn, i, p.type));
        }
        if (p.type != pfinfo::kNotab && page_type_has_data(p.type)) {
            return make_error(fmt::format("pfn {:#x} (index {}) has page-table type {:#x}, which only x86 PV "
                                          "streams carry",
                                          p.pfn, i, p.type));
        }
        if (p.pfn > limits.max_pfn) {
            return make_error(fmt::format("pfn {:#x} (index {}) is beyond the domain's max_pfn {:#x}", p.pfn, i,
                                          limits.max_pfn));
        }
        if (page_type_has_data(p.type)) ++with_data;
        pfns.push_back(p);
    }
    const std::uint64_t expected = pfn_bytes + with_data * kX86PageSize;
    if (body_length != expected) {
        return make_error(fmt::format("length {} does not match {} pfns with {} pages of data (expected {})",
                                      body_length, count, with_data, expected));
    }
    return pfns;
}

Result<PageDataView> decode_page_data(ByteSpan body, const LibxcLimits& limits) {
    auto pfns = decode_page_data_pfns(body, body.size(), limits);
    if (!pfns) return pfns.error();
    const std::size_t pfn_bytes = 8 + pfns->size() * 8;
    return PageDataView{std::move(*pfns), body.subspan(pfn_bytes)};
}

std::vector<std::uint8_t> encode_page_data(std::span<const PageDataPfn> pfns, ByteSpan data) {
    std::vector<std::uint8_t> out;
    out.reserve(8 + pfns.size() * 8 + data.size());
    put_le32(out, static_cast<std::uint32_t>(pfns.size()));
    put_le32(out, 0);
    for (const PageDataPfn& p : pfns) put_le64(out, (std::uint64_t{p.type} << 60) | (p.pfn & kPageDataPfnMask));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

Result<TscInfo> decode_tsc_info(ByteSpan body) {
    if (body.size() != 24) return make_error(fmt::format("length {}, expected 24", body.size()));
    return TscInfo{le32(body, 0), le32(body, 4), le64(body, 8), le32(body, 16)};
}

std::vector<std::uint8_t> encode_tsc_info(const TscInfo& tsc) {
    std::vector<std::uint8_t> out;
    put_le32(out, tsc.mode);
    put_le32(out, tsc.khz);
    put_le64(out, tsc.nsec);
    put_le32(out, tsc.incarnation);
    put_le32(out, 0);
    return out;
}

Result<std::vector<HvmParam>> decode_hvm_params(ByteSpan body) {
    if (body.size() < 8) return make_error(fmt::format("length {} is shorter than the 8-byte count header", body.size()));
    const std::uint32_t count = le32(body, 0);
    const std::uint64_t expected = 8 + std::uint64_t{count} * 16;
    if (body.size() != expected) {
        return make_error(fmt::format("length {} does not match {} params (expected {})", body.size(), count, expected));
    }
    std::vector<HvmParam> params;
    params.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        const HvmParam p{le64(body, 8 + std::size_t{i} * 16), le64(body, 16 + std::size_t{i} * 16)};
        if (p.index >= HVM_NR_PARAMS) {
            return make_error(fmt::format("param index {} (entry {}) is not an HVM param (< {})", p.index, i,
                                          HVM_NR_PARAMS));
        }
        params.push_back(p);
    }
    return params;
}

std::vector<std::uint8_t> encode_hvm_params(std::span<const HvmParam> params) {
    std::vector<std::uint8_t> out;
    put_le32(out, static_cast<std::uint32_t>(params.size()));
    put_le32(out, 0);
    for (const HvmParam& p : params) {
        put_le64(out, p.index);
        put_le64(out, p.value);
    }
    return out;
}

Result<std::vector<CpuidLeaf>> decode_cpuid_policy(ByteSpan body) {
    if (body.empty() || body.size() % kCpuidLeafSize != 0) {
        return make_error(fmt::format("length {} is not a non-zero multiple of {}", body.size(), kCpuidLeafSize));
    }
    std::vector<CpuidLeaf> leaves;
    for (std::size_t off = 0; off < body.size(); off += kCpuidLeafSize) {
        leaves.push_back({le32(body, off), le32(body, off + 4), le32(body, off + 8), le32(body, off + 12),
                          le32(body, off + 16), le32(body, off + 20)});
    }
    return leaves;
}

std::vector<std::uint8_t> encode_cpuid_policy(std::span<const CpuidLeaf> leaves) {
    std::vector<std::uint8_t> out;
    for (const CpuidLeaf& l : leaves) {
        for (std::uint32_t v : {l.leaf, l.subleaf, l.a, l.b, l.c, l.d}) put_le32(out, v);
    }
    return out;
}

Result<std::vector<MsrPolicyEntry>> decode_msr_policy(ByteSpan body) {
    if (body.empty() || body.size() % kMsrPolicyEntrySize != 0) {
        return make_error(fmt::format("length {} is not a non-zero multiple of {}", body.size(), kMsrPolicyEntrySize));
    }
    std::vector<MsrPolicyEntry> msrs;
    for (std::size_t off = 0; off < body.size(); off += kMsrPolicyEntrySize) {
        msrs.push_back({le32(body, off), le32(body, off + 4), le64(body, off + 8)});
    }
    return msrs;
}

std::vector<std::uint8_t> encode_msr_policy(std::span<const MsrPolicyEntry> msrs) {
    std::vector<std::uint8_t> out;
    for (const MsrPolicyEntry& m : msrs) {
        put_le32(out, m.index);
        put_le32(out, m.flags);
        put_le64(out, m.value);
    }
    return out;
}

std::vector<std::uint8_t> encode_libxc_image_header(const LibxcImageHeader& header) {
    std::vector<std::uint8_t> out;
    put_be64(out, kLibxcMarker);
    put_be32(out, kLibxcId);
    put_be32(out, header.version);
    put_be16(out, header.options);
    put_be16(out, 0);
    put_be32(out, 0);
    return out;
}

std::vector<std::uint8_t> encode_libxc_domain_header(const LibxcDomainHeader& header) {
    std::vector<std::uint8_t> out;
    put_le32(out, header.type);
    put_le16(out, header.page_shift);
    put_le16(out, 0);
    put_le32(out, header.xen_major);
    put_le32(out, header.xen_minor);
    return out;
}

// ---- reader ----

namespace {

Error header_error(std::string_view which, std::uint64_t offset, const std::string& why) {
    return make_error(fmt::format("libxc stream: {} at offset {}: {}", which, offset, why));
}

bool is_pv_record(std::uint32_t type) {
    switch (type) {
    case r::kX86PvInfo:
    case r::kX86PvP2mFrames:
    case r::kX86PvVcpuBasic:
    case r::kX86PvVcpuExtended:
    case r::kX86PvVcpuXsave:
    case r::kX86PvVcpuMsrs:
        return true;
    default:
        return false;
    }
}

// Records that describe the domain rather than its running state: the
// only ones allowed before STATIC_DATA_END.
bool is_static_record(std::uint32_t type) {
    return type == r::kX86CpuidPolicy || type == r::kX86MsrPolicy || (type & r::kOptionalBit) != 0;
}

}  // namespace

Status LibxcStreamReader::read_headers() {
    if (headers_read_) return header_error("image header", 0, "headers already read");
    const std::uint64_t at = in_.offset();
    std::array<std::uint8_t, kLibxcImageHeaderSize> ih{};
    if (auto st = in_.read_exact(ih); !st) return header_error("image header", at, st.error().what);
    const std::uint64_t marker = be64(ih, 0);
    if (marker != kLibxcMarker) {
        return header_error("image header", at,
                            fmt::format("marker {:#018x} is not all-ones (a legacy pre-Xen 4.6 image, or not a "
                                        "libxc stream)",
                                        marker));
    }
    if (const std::uint32_t id = be32(ih, 8); id != kLibxcId) {
        return header_error("image header", at + 8, fmt::format("id {:#010x}, expected 0x58454e46 (\"XENF\")", id));
    }
    image_.version = be32(ih, 12);
    if (image_.version < 2 || image_.version > 3) {
        return header_error("image header", at + 12, fmt::format("version {} (supported: 2 and 3)", image_.version));
    }
    image_.options = be16(ih, 16);
    if (image_.options & kLibxcOptionBigEndian) {
        return header_error("image header", at + 16, "big-endian stream; only little-endian is supported");
    }

    const std::uint64_t dat = in_.offset();
    std::array<std::uint8_t, kLibxcDomainHeaderSize> dh{};
    if (auto st = in_.read_exact(dh); !st) return header_error("domain header", dat, st.error().what);
    domain_.type = le32(dh, 0);
    domain_.page_shift = le16(dh, 4);
    domain_.xen_major = le32(dh, 8);
    domain_.xen_minor = le32(dh, 12);
    if (domain_.type == kLibxcDomainX86Pv) {
        return header_error("domain header", dat, "x86 PV domain: PV images are out of scope (HVM/PVH only)");
    }
    if (domain_.type != kLibxcDomainX86Hvm) {
        return header_error("domain header", dat, fmt::format("domain type {:#x} is not x86 HVM", domain_.type));
    }
    if (domain_.page_shift != kX86PageShift) {
        return header_error("domain header", dat + 4,
                            fmt::format("page_shift {}, expected {} for x86", domain_.page_shift, kX86PageShift));
    }
    headers_read_ = true;
    return ok_status();
}

Error LibxcStreamReader::record_error(std::uint32_t type, std::uint64_t offset, const std::string& why) const {
    return make_error(
        fmt::format("libxc stream: record {} ({}) at offset {}: {}", records_, libxc_record_name(type), offset, why));
}

Status LibxcStreamReader::check_order(std::uint32_t type) {
    if (!is_static_record(type) && !static_data_end_seen_ && type != r::kStaticDataEnd) {
        // A v2 stream has no STATIC_DATA_END: its place is the first
        // record that is not static data, as the v3 compatibility rule says.
        if (image_.version >= 3) return make_error("before STATIC_DATA_END (a v3 stream must send it first)");
        static_data_end_seen_ = true;
    }
    switch (type) {
    case r::kStaticDataEnd:
        if (static_data_end_seen_) return make_error("a second STATIC_DATA_END (or one after state records)");
        static_data_end_seen_ = true;
        break;
    case r::kX86CpuidPolicy:
    case r::kX86MsrPolicy:
        if (static_data_end_seen_) return make_error("static data after STATIC_DATA_END");
        break;
    case r::kX86TscInfo:
        if (tsc_seen_) return make_error("a second X86_TSC_INFO in one checkpoint");
        tsc_seen_ = true;
        break;
    case r::kHvmParams:
        // The specification puts HVM_PARAMS first, but Xen's saver writes
        // HVM_CONTEXT first (its restorer applies the context only at the
        // end of the stream): both orders are accepted.
        if (params_seen_) return make_error("a second HVM_PARAMS in one checkpoint");
        params_seen_ = true;
        break;
    case r::kHvmContext:
        if (context_seen_) return make_error("a second HVM_CONTEXT in one checkpoint");
        context_seen_ = true;
        break;
    case r::kCheckpoint:
        if (!limits_.checkpointed) return make_error("CHECKPOINT in a stream that is not checkpointed");
        tsc_seen_ = params_seen_ = context_seen_ = false;
        break;
    default:
        break;
    }
    return ok_status();
}

Status LibxcStreamReader::check_body(std::uint32_t type, ByteSpan body) {
    switch (type) {
    case r::kEnd:
    case r::kVerify:
    case r::kCheckpoint:
    case r::kStaticDataEnd:
        if (!body.empty()) return make_error(fmt::format("length {}, expected 0", body.size()));
        return ok_status();
    case r::kPageData:
        if (auto v = decode_page_data(body, limits_); !v) return v.error();
        return ok_status();
    case r::kX86TscInfo:
        if (auto v = decode_tsc_info(body); !v) return v.error();
        return ok_status();
    case r::kHvmParams:
        if (auto v = decode_hvm_params(body); !v) return v.error();
        return ok_status();
    case r::kHvmContext:
        if (auto v = parse_hvm_context(body, HvmContextLimits{limits_.max_vcpus}); !v) return v.error();
        return ok_status();
    case r::kX86CpuidPolicy:
        if (auto v = decode_cpuid_policy(body); !v) return v.error();
        return ok_status();
    case r::kX86MsrPolicy:
        if (auto v = decode_msr_policy(body); !v) return v.error();
        return ok_status();
    default:
        return ok_status();  // optional records: opaque
    }
}

Result<LibxcRecord> LibxcStreamReader::next() {
    if (!headers_read_) return header_error("records", in_.offset(), "next() before read_headers()");
    if (failed_) return make_error("libxc stream: already failed");
    ++records_;
    const std::uint64_t at = in_.offset();
    if (end_seen_) return record_error(r::kEnd, at, "read past the END record: the libxc stream is over");
    failed_ = true;  // cleared on success below

    auto hdr = read_record_header(in_);
    if (!hdr) {
        if (in_.at_eof_clean()) {
            return make_error(
                fmt::format("libxc stream: record {} at offset {}: stream ended without an END record", records_, at));
        }
        return make_error(fmt::format("libxc stream: record {} at offset {}: header {}", records_, at, hdr.error().what));
    }
    const std::uint32_t type = hdr->type;
    const std::uint32_t length = hdr->length;

    // Refuse by type before reading a byte of body.
    if (type == kLibxcMarker >> 32 && length == static_cast<std::uint32_t>(kLibxcMarker)) {
        return record_error(type, at, "a second image header where a record belongs");
    }
    if (is_pv_record(type)) return record_error(type, at, "x86 PV records are out of scope (HVM/PVH streams only)");
    if (type == r::kSharedInfo) return record_error(type, at, "SHARED_INFO is PV-only; refused in an x86 HVM stream");
    if (type == r::kToolstack) return record_error(type, at, "the deprecated TOOLSTACK record is not accepted");
    if (type == r::kCheckpointDirtyPfnList) {
        return record_error(type, at, "CHECKPOINT_DIRTY_PFN_LIST belongs to COLO's back channel, not this stream");
    }
    if (type > r::kX86MsrPolicy && !(type & r::kOptionalBit)) {
        return record_error(type, at, "unknown mandatory record type");
    }

    std::uint64_t cap = 0;
    switch (type) {
    case r::kPageData:
        cap = 8 + std::uint64_t{limits_.max_pages_per_record} * (8 + kX86PageSize);
        break;
    case r::kX86TscInfo:
        cap = 24;
        break;
    case r::kHvmParams:
        cap = 8 + std::uint64_t{HVM_NR_PARAMS} * 16;
        break;
    case r::kHvmContext:
        cap = limits_.max_hvm_context;
        break;
    case r::kX86CpuidPolicy:
    case r::kX86MsrPolicy:
        cap = limits_.max_policy_bytes;
        break;
    case r::kEnd:
    case r::kVerify:
    case r::kCheckpoint:
    case r::kStaticDataEnd:
        cap = 0;
        break;
    default:
        cap = limits_.max_optional_record;
        break;
    }
    if (length > cap) return record_error(type, at, fmt::format("length {} exceeds the cap {} for this type", length, cap));
    if (auto st = check_order(type); !st) return record_error(type, at, st.error().what);

    if (type == r::kPageData && page_sink_) {
        if (auto st = stream_page_data(length); !st) return record_error(type, at, st.error().what);
        failed_ = false;
        return LibxcRecord{type, records_, at, {}};
    }

    auto body = read_record_body(in_, length);
    if (!body) return record_error(type, at, body.error().what);
    if (auto st = check_body(type, *body); !st) return record_error(type, at, st.error().what);

    if (type == r::kEnd) end_seen_ = true;
    failed_ = false;
    return LibxcRecord{type, records_, at, std::move(*body)};
}

Status LibxcStreamReader::stream_page_data(std::uint32_t length) {
    std::vector<std::uint8_t> head(8);
    if (length < 8) return make_error(fmt::format("length {} is shorter than the 8-byte count header", length));
    if (auto st = in_.read_exact(head); !st) return make_error("count header " + st.error().what);
    auto counted = decode_page_data_count(head, length, limits_);
    if (!counted) return counted.error();
    head.resize(8 + std::size_t{*counted} * 8);
    if (auto st = in_.read_exact(std::span(head).subspan(8)); !st) return make_error("pfn list " + st.error().what);
    auto pfns = decode_page_data_pfns(head, length, limits_);
    if (!pfns) return pfns.error();
    if (auto st = page_sink_->begin_pages(*pfns); !st) return st;
    // The data goes through a buffer of kPageDataBatch pages rather than
    // being read a record (4 MiB) at a time: a receiver that stops to read
    // or store 4 MiB leaves the sender blocked on a full pipe, while small
    // batches keep both ends busy at once (bench/xl-migrate.sh).
    page_batch_.resize(kPageDataBatch * kX86PageSize);
    std::array<std::size_t, kPageDataBatch> indexes{};
    std::size_t count = 0;
    auto flush = [&]() -> Status {
        if (count == 0) return ok_status();
        const auto bytes = std::span(page_batch_).first(count * kX86PageSize);
        if (auto st = in_.read_exact(bytes); !st) {
            return make_error(fmt::format("data of pfn {:#x} (index {}) {}", (*pfns)[indexes[0]].pfn, indexes[0],
                                          st.error().what));
        }
        auto st = page_sink_->store_pages(std::span(indexes).first(count), bytes);
        count = 0;
        return st;
    };
    for (std::size_t i = 0; i < pfns->size(); ++i) {
        if (!page_type_has_data((*pfns)[i].type)) continue;
        indexes[count++] = i;
        if (count == kPageDataBatch) {
            if (auto st = flush(); !st) return st;
        }
    }
    if (auto st = flush(); !st) return st;
    return ok_status();  // 8 + 8n + 4096k: a multiple of 8, never padded
}

// ---- writer ----

Status LibxcStreamWriter::write_headers(const LibxcImageHeader& image, const LibxcDomainHeader& domain) {
    auto bytes = encode_libxc_image_header(image);
    auto dom = encode_libxc_domain_header(domain);
    bytes.insert(bytes.end(), dom.begin(), dom.end());
    return out_.write(bytes);
}

Status LibxcStreamWriter::write_record(std::uint32_t type, ByteSpan body) {
    return migration::write_record(out_, type, body);
}

}  // namespace xenolith::migration
