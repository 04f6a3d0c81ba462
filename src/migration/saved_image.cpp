#include "migration/saved_image.hpp"

#include <fmt/format.h>

namespace xenolith::migration {

Result<SavedImage> read_saved_image_until_end(InputStream& in, const SavedImageLimits& given) {
    // One image, one libxc stream: checkpointed streams are read record by
    // record with the layer readers instead.
    SavedImageLimits limits = given;
    limits.libxl.checkpointed = false;
    limits.libxc.checkpointed = false;
    SavedImage image;
    auto xl = read_xl_save_header(in, limits.xl);
    if (!xl) return xl.error();
    image.xl = std::move(*xl);

    LibxlStreamReader libxl(in, limits.libxl);
    if (auto st = libxl.read_header(); !st) return st.error();
    image.libxl = libxl.header();
    while (!libxl.finished()) {
        auto rec = libxl.next();
        if (!rec) return rec.error();
        const bool libxc_follows = rec->type == libxl_rec::kLibxcContext;
        image.libxl_records.push_back(std::move(*rec));
        if (!libxc_follows) continue;
        LibxcStreamReader libxc(in, limits.libxc);
        if (auto st = libxc.read_headers(); !st) return st.error();
        image.libxc_image = libxc.image_header();
        image.libxc_domain = libxc.domain_header();
        while (!libxc.finished()) {
            auto xrec = libxc.next();
            if (!xrec) return xrec.error();
            image.libxc_records.push_back(std::move(*xrec));
        }
    }
    return image;
}

Result<SavedImage> read_saved_image(InputStream& in, const SavedImageLimits& limits) {
    auto image = read_saved_image_until_end(in, limits);
    if (!image) return image;
    const std::uint64_t end_at = in.offset();
    auto at_end = in.at_end();
    if (!at_end) return at_end.error();
    if (!*at_end) return make_error(fmt::format("saved image: bytes after the libxl END record at offset {}", end_at));
    return image;
}

Status write_saved_image(ByteSink& out, const SavedImage& image) {
    if (auto st = out.write(encode_xl_save_header(image.xl)); !st) return st;
    LibxlStreamWriter libxl(out);
    if (auto st = libxl.write_header(image.libxl); !st) return st;
    for (const LibxlRecord& rec : image.libxl_records) {
        if (auto st = libxl.write_record(rec.type, rec.body); !st) return st;
        if (rec.type != libxl_rec::kLibxcContext) continue;
        LibxcStreamWriter libxc(out);
        if (auto st = libxc.write_headers(image.libxc_image, image.libxc_domain); !st) return st;
        for (const LibxcRecord& x : image.libxc_records) {
            if (auto st = libxc.write_record(x.type, x.body); !st) return st;
        }
    }
    return ok_status();
}

}  // namespace xenolith::migration
