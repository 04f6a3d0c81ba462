// What xl save, restore, migrate and migrate-receive share (Xen 4.17's
// xl_saverestore.c, xl_migrate.c and create_domain's restore path): the
// exact reads and writes with libxl's messages, the daemon session that
// passes the stream's descriptor, and restoring a domain from a stream.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace xenolith::xl {

// libxl_read_exactly / libxl_write_exactly: 0, or an errno (EPROTO at end
// of stream) with libxl's error line printed. `what` names the message,
// `source` the stream, as in "file/stream truncated reading <what> from
// <source>".
int read_exactly(int fd, void* data, std::size_t size, const char* source, const char* what);
int write_exactly(int fd, const void* data, std::size_t size, const char* source, const char* what);

// xl's CHK_ERRNOVAL: exits 1 with "xl: fatal error: <file:line>: <errno
// text>: <call>" when `errnoval` is not 0.
void check_errnoval(int errnoval, const char* where, const char* call);

// Whether `file` opens and reads (libxl_read_file_contents), silently.
bool file_readable(const std::string& file);

// One save or restore request: sends `req` on a fresh connection, hands
// `stream` over when the daemon asks for it (after `on_ask` saw that
// reply), prints the progress lines the daemon sends to stderr, and
// returns the final reply. nullopt (said on stderr) when the daemon
// cannot be reached or goes away.
std::optional<nlohmann::json> run_transfer(const nlohmann::json& req, int stream,
                                           const std::function<void(const nlohmann::json&)>& on_ask);

// save_domain_core_writeconfig's "Saving to <source> new xl format (info
// M/O/L)", from the header the daemon announces when it asks for the
// descriptor.
void print_saving_to(const std::string& source, const nlohmann::json& ask);

// create_domain's restore path: the xl header read from `fd` (named
// `source` in messages), the config from it or from `config_file`, then a
// "restore" request passing `fd` on. Returns the new domid, or a negative
// libxl error code with xl's messages printed.
struct RestoreRun {
    int fd = -1;
    std::string source;                      // file name, or "<incoming migration stream>"
    std::optional<std::string> config_file;  // instead of the saved config
    bool paused = false;
    bool debug = false;
    bool console = false;                    // -c: attach before it runs
    bool incoming = false;                   // migrate-receive: named "<name>--incoming"
    std::string* common_name = nullptr;      // out: the name without the suffix
};
int restore_domain(const RestoreRun& run);

}  // namespace xenolith::xl
