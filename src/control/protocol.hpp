// The control protocol between `xl` and xenolithd: one JSON object per line
// over a unix stream socket. A "console" request, once answered, turns the
// connection into a raw byte stream (guest output one way, keystrokes the
// other).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace xenolith::control {

inline constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;

// Directory for the socket: $XENOLITH_RUN_DIR, else /run/xenolith.
std::string run_dir();
std::string socket_path();

Status send_message(int fd, const nlohmann::json& msg);
// nullopt on end of stream; Error on malformed or oversized input.
Result<std::optional<nlohmann::json>> recv_message(int fd);

}  // namespace xenolith::control
