// libxc's domain image format (Xen's "libxc migration stream", versions 2
// and 3): the memory and CPU state of one domain. Xen embeds it in the
// libxl stream after a LIBXC_CONTEXT record.
//
//   image header   (big-endian) marker ~0, id "XENF", version, options
//   domain header  type, page_shift, xen_major, xen_minor
//   records        {u32 type, u32 length, body, zero padding to 8}...
//                  ending with END
//
// Only x86 HVM images (which PVH guests are) are accepted: PV records and
// PV-only page types are refused by name.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "migration/byte_stream.hpp"

namespace xenolith::migration {

inline constexpr std::uint64_t kLibxcMarker = ~std::uint64_t{0};
inline constexpr std::uint32_t kLibxcId = 0x58454E46;  // "XENF"
inline constexpr std::uint16_t kLibxcOptionBigEndian = 1u << 0;
inline constexpr std::uint32_t kLibxcDomainX86Pv = 1;
inline constexpr std::uint32_t kLibxcDomainX86Hvm = 2;
inline constexpr std::size_t kLibxcImageHeaderSize = 24;
inline constexpr std::size_t kLibxcDomainHeaderSize = 16;
inline constexpr std::uint32_t kX86PageShift = 12;
inline constexpr std::uint64_t kX86PageSize = 4096;

// Record types, numbered as the specification numbers them.
namespace libxc_rec {
inline constexpr std::uint32_t kEnd = 0x00;
inline constexpr std::uint32_t kPageData = 0x01;
inline constexpr std::uint32_t kX86PvInfo = 0x02;
inline constexpr std::uint32_t kX86PvP2mFrames = 0x03;
inline constexpr std::uint32_t kX86PvVcpuBasic = 0x04;
inline constexpr std::uint32_t kX86PvVcpuExtended = 0x05;
inline constexpr std::uint32_t kX86PvVcpuXsave = 0x06;
inline constexpr std::uint32_t kSharedInfo = 0x07;
inline constexpr std::uint32_t kX86TscInfo = 0x08;
inline constexpr std::uint32_t kHvmContext = 0x09;
inline constexpr std::uint32_t kHvmParams = 0x0a;
inline constexpr std::uint32_t kToolstack = 0x0b;
inline constexpr std::uint32_t kX86PvVcpuMsrs = 0x0c;
inline constexpr std::uint32_t kVerify = 0x0d;
inline constexpr std::uint32_t kCheckpoint = 0x0e;
inline constexpr std::uint32_t kCheckpointDirtyPfnList = 0x0f;
inline constexpr std::uint32_t kStaticDataEnd = 0x10;
inline constexpr std::uint32_t kX86CpuidPolicy = 0x11;
inline constexpr std::uint32_t kX86MsrPolicy = 0x12;
inline constexpr std::uint32_t kOptionalBit = 0x80000000;
}  // namespace libxc_rec

// "PAGE_DATA", "X86_PV_INFO", ..., "optional 0x80000005", "unknown 0x13".
std::string libxc_record_name(std::uint32_t type);

struct LibxcImageHeader {
    std::uint32_t version = 3;
    std::uint16_t options = 0;  // bit 0 big-endian (refused); others reserved
};

struct LibxcDomainHeader {
    std::uint32_t type = kLibxcDomainX86Hvm;
    std::uint16_t page_shift = kX86PageShift;
    std::uint32_t xen_major = 4;
    std::uint32_t xen_minor = 20;
};

// One record as read: its place in the stream and its body (padding gone).
struct LibxcRecord {
    std::uint32_t type = 0;
    std::uint64_t index = 0;   // 1 for the first record after the headers
    std::uint64_t offset = 0;  // of the record header, from the start of the input
    std::vector<std::uint8_t> body;
};

// PAGE_DATA pfn entries: bits 63-60 the XEN_DOMCTL_PFINFO type nibble,
// 59-52 reserved, 51-0 the pfn.
namespace pfinfo {
inline constexpr std::uint8_t kNotab = 0x0;
inline constexpr std::uint8_t kL1tab = 0x1;  // ..0x4: PV page tables
inline constexpr std::uint8_t kL4tab = 0x4;
inline constexpr std::uint8_t kL1tabPinned = 0x9;  // ..0xc: pinned PV page tables
inline constexpr std::uint8_t kL4tabPinned = 0xc;
inline constexpr std::uint8_t kBroken = 0xd;
inline constexpr std::uint8_t kXalloc = 0xe;
inline constexpr std::uint8_t kXtab = 0xf;
}  // namespace pfinfo
inline constexpr std::uint64_t kPageDataPfnMask = (std::uint64_t{1} << 52) - 1;

// True for the types whose page contents follow in the record.
bool page_type_has_data(std::uint8_t type);

struct PageDataPfn {
    std::uint64_t pfn = 0;
    std::uint8_t type = pfinfo::kNotab;
    bool operator==(const PageDataPfn&) const = default;
};

// A decoded PAGE_DATA body; `data` views the record body: 4096 bytes for
// each pfn whose type carries data, in pfn-list order.
struct PageDataView {
    std::vector<PageDataPfn> pfns;
    ByteSpan data;
};

struct TscInfo {
    std::uint32_t mode = 0;
    std::uint32_t khz = 0;
    std::uint64_t nsec = 0;
    std::uint32_t incarnation = 0;
    bool operator==(const TscInfo&) const = default;
};

struct HvmParam {
    std::uint64_t index = 0;
    std::uint64_t value = 0;
    bool operator==(const HvmParam&) const = default;
};

// xen_cpuid_leaf_t and xen_msr_entry_t, as the policy records carry them.
struct CpuidLeaf {
    std::uint32_t leaf = 0, subleaf = 0, a = 0, b = 0, c = 0, d = 0;
    bool operator==(const CpuidLeaf&) const = default;
};
struct MsrPolicyEntry {
    std::uint32_t index = 0;
    std::uint32_t flags = 0;
    std::uint64_t value = 0;
    bool operator==(const MsrPolicyEntry&) const = default;
};
inline constexpr std::size_t kCpuidLeafSize = 24;
inline constexpr std::size_t kMsrPolicyEntrySize = 16;

// Bounds on what a stream may make us believe or allocate.
struct LibxcLimits {
    // Highest pfn the receiving domain can have; pages beyond are refused.
    std::uint64_t max_pfn = 0;
    // Xen's saver batches at most 1024 pages per PAGE_DATA record.
    std::uint32_t max_pages_per_record = 1024;
    std::uint32_t max_hvm_context = 16u << 20;
    // HVM context entries may name vCPUs 0..max_vcpus-1 (Xen's HVM_MAX_VCPUS).
    std::uint32_t max_vcpus = 128;
    std::uint32_t max_policy_bytes = 1u << 20;
    std::uint32_t max_optional_record = 1u << 20;
    // Remus/COLO streams carry CHECKPOINT records; plain saves never do.
    bool checkpointed = false;
};

// Body codecs. decode_* check everything the type's layout allows
// checking; errors say why without a prefix (the reader adds one).
Result<PageDataView> decode_page_data(ByteSpan body, const LibxcLimits& limits);
// The pfn list alone, from the first 8 + 8 * count bytes of a body that is
// `body_length` long (for readers that place the pages themselves).
Result<std::vector<PageDataPfn>> decode_page_data_pfns(ByteSpan head, std::uint64_t body_length,
                                                       const LibxcLimits& limits);
std::vector<std::uint8_t> encode_page_data(std::span<const PageDataPfn> pfns, ByteSpan data);
Result<TscInfo> decode_tsc_info(ByteSpan body);
std::vector<std::uint8_t> encode_tsc_info(const TscInfo& tsc);
Result<std::vector<HvmParam>> decode_hvm_params(ByteSpan body);
std::vector<std::uint8_t> encode_hvm_params(std::span<const HvmParam> params);
Result<std::vector<CpuidLeaf>> decode_cpuid_policy(ByteSpan body);
std::vector<std::uint8_t> encode_cpuid_policy(std::span<const CpuidLeaf> leaves);
Result<std::vector<MsrPolicyEntry>> decode_msr_policy(ByteSpan body);
std::vector<std::uint8_t> encode_msr_policy(std::span<const MsrPolicyEntry> msrs);

std::vector<std::uint8_t> encode_libxc_image_header(const LibxcImageHeader& header);
std::vector<std::uint8_t> encode_libxc_domain_header(const LibxcDomainHeader& header);

// Takes PAGE_DATA pages as they are read, so that 4 KiB pages go from the
// stream into guest memory through one small buffer, never a whole record.
class PageDataSink {
public:
    virtual ~PageDataSink() = default;
    // The record's pfn list, checked against the limits, before its data.
    virtual Status begin_pages(std::span<const PageDataPfn> pfns) = 0;
    // The data of pfns[indexes[0]], pfns[indexes[1]], ... back to back in
    // `data` (4096 bytes each), in stream order; only pfns whose type
    // carries data are named.
    virtual Status store_pages(std::span<const std::size_t> indexes, ByteSpan data) = 0;
};

// Pulls records one at a time, each checked against its type's layout, its
// cap and its place in the stream before it is handed out. Errors read
// "libxc stream: record N (TYPE) at offset X: <why>". After END, the
// stream is finished and next() refuses; the caller (the libxl stream)
// continues from the same InputStream.
class LibxcStreamReader {
public:
    LibxcStreamReader(InputStream& in, const LibxcLimits& limits) : in_(in), limits_(limits) {}

    // Reads both headers; must be called once before next().
    Status read_headers();
    const LibxcImageHeader& image_header() const { return image_; }
    const LibxcDomainHeader& domain_header() const { return domain_; }

    Result<LibxcRecord> next();
    bool finished() const { return end_seen_; }
    // From now on PAGE_DATA bodies go to `sink` as they are read, and
    // next() hands such records out with an empty body.
    void set_page_sink(PageDataSink* sink) { page_sink_ = sink; }

private:
    Status check_order(std::uint32_t type);
    Status check_body(std::uint32_t type, ByteSpan body);
    Status stream_page_data(std::uint32_t length);
    Error record_error(std::uint32_t type, std::uint64_t offset, const std::string& why) const;

    InputStream& in_;
    LibxcLimits limits_;
    LibxcImageHeader image_;
    LibxcDomainHeader domain_;
    bool headers_read_ = false;
    bool failed_ = false;
    bool end_seen_ = false;
    bool static_data_end_seen_ = false;
    // Per checkpoint: the state records each come once.
    bool tsc_seen_ = false;
    bool params_seen_ = false;
    bool context_seen_ = false;
    std::uint64_t records_ = 0;
    PageDataSink* page_sink_ = nullptr;
    // PAGE_DATA data on its way to the sink: 32 pages (128 KiB) fit the
    // cache, and are few enough that reading and storing them never stalls
    // the sender for long.
    static constexpr std::size_t kPageDataBatch = 32;
    std::vector<std::uint8_t> page_batch_;
};

// Writes a libxc stream. The writer frames and pads; what goes in each
// record is the caller's (the encode_* helpers build the bodies).
class LibxcStreamWriter {
public:
    explicit LibxcStreamWriter(ByteSink& out) : out_(out) {}
    Status write_headers(const LibxcImageHeader& image, const LibxcDomainHeader& domain);
    Status write_record(std::uint32_t type, ByteSpan body);
    Status write_end() { return write_record(libxc_rec::kEnd, {}); }

private:
    ByteSink& out_;
};

}  // namespace xenolith::migration
