// A whole `xl save` file (or one non-checkpointed `xl migrate` stream):
// xl header, libxl stream with its embedded libxc stream, nothing after.
// Held in memory: this is for checking a file end to end and for tests;
// restore proper pulls records from the layer readers as they arrive.
#pragma once

#include <vector>

#include "migration/libxc_stream.hpp"
#include "migration/libxl_stream.hpp"
#include "migration/xl_savefile.hpp"

namespace xenolith::migration {

struct SavedImage {
    XlSaveHeader xl;
    LibxlHeader libxl;
    LibxcImageHeader libxc_image;
    LibxcDomainHeader libxc_domain;
    std::vector<LibxcRecord> libxc_records;  // END included
    std::vector<LibxlRecord> libxl_records;  // LIBXC_CONTEXT and END included, in order
};

struct SavedImageLimits {
    XlSaveLimits xl;
    LibxlLimits libxl;
    LibxcLimits libxc;
};

// Reads up to and including the libxl END and stops there: on a migration
// socket the xl handshake continues after it. Checkpointed
// (Remus/COLO) streams are refused: `checkpointed` limits are ignored.
Result<SavedImage> read_saved_image_until_end(InputStream& in, const SavedImageLimits& limits);

// A save file: the same, and nothing may follow the libxl END.
Result<SavedImage> read_saved_image(InputStream& in, const SavedImageLimits& limits);

// Writes the image; the libxc stream goes where LIBXC_CONTEXT is.
Status write_saved_image(ByteSink& out, const SavedImage& image);

}  // namespace xenolith::migration
