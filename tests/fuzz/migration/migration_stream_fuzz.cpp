// Fuzzes the migration stream readers with hostile bytes. The first byte
// picks the layer: 0 a whole xl save file, 1 a libxc stream, 2 a libxl
// stream with its libxc stream, 3 an HVM context blob, 4 a libxc stream
// restored into a small domain's memory, 5 a whole saved domain (xl
// header on) restored into a small two-vCPU domain, as `xl restore` does.
// Checked beyond "no crash":
// whatever a reader accepts, the writer re-emits and the reader accepts
// again with the same content; an HVM context re-emits byte for byte;
// every error carries its layer's prefix; pages read straight into guest
// memory (the streaming sink) give the same outcome and the same memory
// as whole records decoded and applied; a domain restored from an image
// saves again into an image that restores to the same memory and vCPUs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <cstring>

#include "migration/hvm_context.hpp"
#include "migration/saved_image.hpp"
#include "migration/xl_savefile.hpp"
#include "save/domain_image.hpp"
#include "save/page_receiver.hpp"
#include "save/page_sender.hpp"

namespace mig = xenolith::migration;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool has_prefix(const std::string& s) {
    return s.starts_with("xl save header at offset ") || s.starts_with("libxl stream: ") ||
           s.starts_with("libxc stream: ") || s.starts_with("saved image: ") || s.starts_with("HVM ");
}

mig::SavedImageLimits limits(std::uint8_t flags) {
    mig::SavedImageLimits l;
    l.libxc.max_pfn = 0xfffff;
    l.libxc.max_pages_per_record = 8;  // keeps the fuzzer's inputs small
    l.libxc.max_hvm_context = 64 * 1024;
    l.libxc.max_policy_bytes = 4096;
    l.libxc.max_optional_record = 4096;
    l.libxc.checkpointed = (flags & 1) != 0;
    l.libxl.checkpointed = (flags & 1) != 0;
    l.libxl.allow_emulator_records = (flags & 2) != 0;
    l.libxl.max_emulator_context = 4096;
    l.libxl.max_xenstore_data = 4096;
    l.libxl.max_optional_record = 4096;
    l.xl.max_optional_data = 64 * 1024;
    return l;
}

// Reads a libxc stream to its END; the records, or an error.
struct LibxcRun {
    mig::LibxcImageHeader image;
    mig::LibxcDomainHeader domain;
    std::vector<mig::LibxcRecord> records;
    bool ok = false;
};

LibxcRun read_libxc(const std::vector<std::uint8_t>& bytes, const mig::LibxcLimits& l) {
    LibxcRun run;
    mig::MemorySource src(bytes);
    mig::InputStream in(src);
    mig::LibxcStreamReader r(in, l);
    if (auto st = r.read_headers(); !st) {
        check(has_prefix(st.error().what));
        return run;
    }
    run.image = r.image_header();
    run.domain = r.domain_header();
    while (!r.finished()) {
        auto rec = r.next();
        if (!rec) {
            check(has_prefix(rec.error().what));
            return run;
        }
        run.records.push_back(std::move(*rec));
    }
    run.ok = true;
    return run;
}

void fuzz_libxc(const std::vector<std::uint8_t>& bytes, const mig::LibxcLimits& l) {
    const LibxcRun first = read_libxc(bytes, l);
    if (!first.ok) return;
    mig::VectorSink sink;
    mig::LibxcStreamWriter w(sink);
    check(static_cast<bool>(w.write_headers(first.image, first.domain)));
    for (const auto& rec : first.records) check(static_cast<bool>(w.write_record(rec.type, rec.body)));
    const LibxcRun second = read_libxc(sink.bytes(), l);
    check(second.ok && second.records.size() == first.records.size());
    for (std::size_t i = 0; i < first.records.size(); ++i) {
        check(second.records[i].type == first.records[i].type && second.records[i].body == first.records[i].body);
    }
}

void fuzz_image(const std::vector<std::uint8_t>& bytes, const mig::SavedImageLimits& l) {
    mig::MemorySource src(bytes);
    mig::InputStream in(src);
    auto img = mig::read_saved_image(in, l);
    if (!img) {
        check(has_prefix(img.error().what));
        return;
    }
    mig::VectorSink sink;
    check(static_cast<bool>(mig::write_saved_image(sink, *img)));
    mig::MemorySource src2(sink.bytes());
    mig::InputStream in2(src2);
    auto again = mig::read_saved_image(in2, l);
    check(static_cast<bool>(again));
    check(again->xl.config_json == img->xl.config_json && again->libxc_records.size() == img->libxc_records.size() &&
          again->libxl_records.size() == img->libxl_records.size());
}

void fuzz_libxl(const std::vector<std::uint8_t>& bytes, const mig::SavedImageLimits& l) {
    mig::MemorySource src(bytes);
    mig::InputStream in(src);
    mig::LibxlStreamReader r(in, l.libxl);
    if (auto st = r.read_header(); !st) return check(has_prefix(st.error().what));
    bool libxc_started = false;
    mig::LibxcStreamReader libxc(in, l.libxc);
    while (!r.finished()) {
        auto rec = r.next();
        if (!rec) return check(has_prefix(rec.error().what));
        if (rec->type != mig::libxl_rec::kLibxcContext) continue;
        // A checkpointed stream resumes the same libxc stream each time.
        if (!libxc_started) {
            if (auto st = libxc.read_headers(); !st) return check(has_prefix(st.error().what));
            libxc_started = true;
        }
        for (;;) {
            auto x = libxc.next();
            if (!x) return check(has_prefix(x.error().what));
            if (x->type == mig::libxc_rec::kEnd || x->type == mig::libxc_rec::kCheckpoint) break;
        }
    }
}

// Restores `bytes` into `m` streaming or by whole records; ok or not.
bool restore_pages(const std::vector<std::uint8_t>& bytes, mig::LibxcLimits l, xenolith::GuestMemory& m,
                   bool streaming) {
    mig::MemorySource src(bytes);
    mig::InputStream in(src);
    xenolith::save::PageReceiver receiver(m);
    l.max_pfn = receiver.max_pfn();
    mig::LibxcStreamReader r(in, l);
    if (!r.read_headers()) return false;
    if (streaming) r.set_page_sink(&receiver);
    while (!r.finished()) {
        auto rec = r.next();
        if (!rec) {
            check(has_prefix(rec.error().what));
            return false;
        }
        if (streaming || rec->type != mig::libxc_rec::kPageData) continue;
        auto view = mig::decode_page_data(rec->body, l);
        check(static_cast<bool>(view));  // the reader checked the body already
        if (!receiver.apply(*view)) return false;
    }
    return true;
}

void fuzz_restore(const std::vector<std::uint8_t>& bytes, const mig::LibxcLimits& l) {
    constexpr std::uint64_t kRam = 4 << 20, kPhysmap = 8 << 20;
    auto a = xenolith::GuestMemory::create(kRam, "fuzz-a", kPhysmap);
    auto b = xenolith::GuestMemory::create(kRam, "fuzz-b", kPhysmap);
    check(a && b);
    (*a)->set_max_pages(1100);
    (*b)->set_max_pages(1100);
    const bool streamed = restore_pages(bytes, l, **a, true);
    const bool decoded = restore_pages(bytes, l, **b, false);
    check(streamed == decoded);
    if (!streamed) return;
    for (std::uint64_t gfn = 0; gfn < kPhysmap / 4096; ++gfn) {
        check((*a)->is_populated(gfn) == (*b)->is_populated(gfn));
        if (auto oa = (*a)->frame_offset(gfn)) {
            check(std::memcmp((*a)->page_at_offset(*oa), (*b)->page_at_offset(*(*b)->frame_offset(gfn)), 4096) == 0);
        }
    }
}

// A saved domain into `m` (two vCPUs).
xenolith::Result<xenolith::save::RestoredImage> restore_domain(std::span<const std::uint8_t> bytes,
                                                               xenolith::GuestMemory& m) {
    mig::MemorySource src(bytes);
    mig::InputStream in(src);
    auto header = mig::read_xl_save_header(in);
    if (!header) return header.error();
    return xenolith::save::read_image(in, m, 2, mig::HostVcpuCaps{0x7, false});
}

std::unique_ptr<xenolith::GuestMemory> small_domain(const char* name) {
    auto m = xenolith::GuestMemory::create(4 << 20, name, 8 << 20);
    check(static_cast<bool>(m));
    (*m)->set_max_pages(1100);
    return std::move(*m);
}

void fuzz_domain_image(const std::vector<std::uint8_t>& bytes) {
    auto a = small_domain("fuzz-image-a");
    auto first = restore_domain(bytes, *a);
    if (!first) return check(has_prefix(first.error().what));
    // What was restored saves again, and that image restores the same.
    mig::VectorSink sink;
    xenolith::save::ImageWriter writer(sink);
    check(static_cast<bool>(writer.write_headers(std::nullopt)));
    xenolith::save::PageSender pages(*a, sink);
    check(static_cast<bool>(pages.send_all()));
    check(static_cast<bool>(writer.write_state(first->state)));
    auto b = small_domain("fuzz-image-b");
    const auto again_bytes = sink.take();
    auto again = restore_domain(again_bytes, *b);
    check(static_cast<bool>(again));
    check(again->state.vcpus.size() == first->state.vcpus.size());
    for (std::size_t i = 0; i < first->state.vcpus.size(); ++i) {
        const auto& x = first->state.vcpus[i];
        const auto& y = again->state.vcpus[i];
        check(x.online == y.online);
        check(std::memcmp(&x.regs, &y.regs, sizeof x.regs) == 0);
        check(std::memcmp(&x.lapic, &y.lapic, sizeof x.lapic) == 0);
    }
    for (std::uint64_t gfn = 0; gfn < (8 << 20) / 4096; ++gfn) {
        check(a->is_populated(gfn) == b->is_populated(gfn));
        if (auto oa = a->frame_offset(gfn))
            check(std::memcmp(a->page_at_offset(*oa), b->page_at_offset(*b->frame_offset(gfn)), 4096) == 0);
    }
}

void fuzz_hvm(const std::vector<std::uint8_t>& bytes) {
    auto ctx = mig::parse_hvm_context(bytes);
    if (!ctx) return check(ctx.error().what.starts_with("HVM context entry "));
    check(mig::emit_hvm_context(*ctx) == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    const std::vector<std::uint8_t> bytes(data + 1, data + size);
    const mig::SavedImageLimits l = limits(static_cast<std::uint8_t>(mode >> 4));
    switch (mode & 0x0f) {
    case 0: fuzz_image(bytes, l); break;
    case 1: fuzz_libxc(bytes, l.libxc); break;
    case 2: fuzz_libxl(bytes, l); break;
    case 3: fuzz_hvm(bytes); break;
    case 4: fuzz_restore(bytes, l.libxc); break;
    case 5: fuzz_domain_image(bytes); break;
    default: break;
    }
    return 0;
}
