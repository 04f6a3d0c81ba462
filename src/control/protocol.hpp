// The control protocol between `xl` and xenolithd: one JSON object per line
// over a unix stream socket. A "console" request, once answered, turns the
// connection into a raw byte stream (guest output one way, keystrokes the
// other).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace xenolith::control {

// Replies (xl list -l of hundreds of domains) may be large; the client
// trusts its daemon.
inline constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;

// What xenolithd accepts from a client. xl's largest request is "create" (and
// "config_update"), dominated by the libxl-shaped config: ~2 KiB for a
// typical guest, ~0.3 KiB more per disk or vif, so 1 MiB holds thousands of
// devices, far beyond Xen's per-domain limits. Depth: create's config nests
// 4 deep (b_info.type.pvh...); 32 leaves room. Values: every JSON array,
// object and element is a heap node, so their count, not the byte count,
// is what costs memory (a 16 MiB "[[[[..." took ~1.3 GB); 64 Ki values
// cover any config and bound one parse to a few MiB.
struct RequestLimits {
    std::size_t max_bytes = 1024 * 1024;
    unsigned max_depth = 32;
    std::size_t max_values = 64 * 1024;
};
inline constexpr RequestLimits kRequestLimits{};

// Checks a JSON text's nesting depth and number of values without building
// it (strings and escapes are skipped, so brackets inside strings do not
// count). Not a validator: the parser still rejects malformed text.
Status check_json_shape(std::string_view text, unsigned max_depth, std::size_t max_values);

// Directory for the socket: $XENOLITH_RUN_DIR, else /run/xenolith.
std::string run_dir();
std::string socket_path();

Status send_message(int fd, const nlohmann::json& msg);
// nullopt on end of stream; Error on malformed or oversized input.
Result<std::optional<nlohmann::json>> recv_message(int fd);
// The daemon's side: a request outside `limits` is an error, found before
// it is parsed (or, for its size, before it is all read).
Result<std::optional<nlohmann::json>> recv_request(int fd, const RequestLimits& limits);

}  // namespace xenolith::control
