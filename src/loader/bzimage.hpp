// The x86 Linux boot protocol header of a bzImage: enough to find the
// compressed kernel payload (protocol >= 2.08 records where it is).
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace xenolith::loader {

// True if `file` carries the "HdrS" setup-header signature.
bool is_bzimage(ByteSpan file);

// The payload_offset/payload_length range after the real-mode setup code.
// Error texts carry no file name.
Result<ByteSpan> bzimage_payload(ByteSpan file);

}  // namespace xenolith::loader
