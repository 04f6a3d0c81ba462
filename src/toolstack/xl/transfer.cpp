#include "toolstack/xl/transfer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "control/fd_passing.hpp"
#include "control/libxl_compat.hpp"
#include "control/protocol.hpp"
#include "migration/byte_stream.hpp"
#include "migration/xl_savefile.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/config/libxl_json_reader.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

namespace {

// Where libxl_read_exactly and libxl_write_exactly log from (Xen 4.17's
// libxl_utils.c: both are made by one macro, on these lines).
constexpr const char* kReadWhere = "libxl_utils.c:505:libxl_read_exactly";
constexpr const char* kWriteWhere = "libxl_utils.c:506:libxl_write_exactly";

void log_exactly_error(bool reading, const char* source, const char* what, int err) {
    const std::string target = std::string(what) + " from " + source;
    if (err == EPROTO)
        libxl_log("error", reading ? kReadWhere : kWriteWhere, control::kNoDomid,
                  (reading ? "file/stream truncated reading " : "file/stream write returned 0! writing ") +
                      target);
    else
        std::fprintf(stderr, "%s\n",
                     control::libxl_log_line("error", reading ? kReadWhere : kWriteWhere,
                                             control::kNoDomid,
                                             (reading ? "failed to read " : "failed to write ") + target,
                                             err)
                         .c_str());
}

}  // namespace

int read_exactly(int fd, void* data, std::size_t size, const char* source, const char* what) {
    auto* p = static_cast<char*>(data);
    while (size > 0) {
        const ssize_t got = ::read(fd, p, size);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            const int err = got < 0 ? errno : EPROTO;
            log_exactly_error(true, source, what, err);
            return err;
        }
        p += got;
        size -= static_cast<std::size_t>(got);
    }
    return 0;
}

int write_exactly(int fd, const void* data, std::size_t size, const char* source, const char* what) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t put = ::write(fd, p, size);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
            const int err = put < 0 ? errno : EPROTO;
            log_exactly_error(false, source, what, err);
            return err;
        }
        p += put;
        size -= static_cast<std::size_t>(put);
    }
    return 0;
}

void check_errnoval(int errnoval, const char* where, const char* call) {
    if (!errnoval) return;
    std::fprintf(stderr, "xl: fatal error: %s: %s: %s\n", where, std::strerror(errnoval), call);
    std::exit(EXIT_FAILURE);
}

bool file_readable(const std::string& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    char byte;
    return fd.valid() && (::read(fd.get(), &byte, 1) >= 0 || errno == EAGAIN);
}

std::optional<nlohmann::json> run_transfer(const nlohmann::json& req, int stream,
                                           const std::function<void(const nlohmann::json&)>& on_ask) {
    UniqueFd sock = connect_daemon();
    if (!sock.valid()) return std::nullopt;
    if (auto st = control::send_message(sock.get(), req); !st) {
        std::fprintf(stderr, "xl: %s\n", st.error().what.c_str());
        return std::nullopt;
    }
    for (;;) {
        auto msg = control::recv_message(sock.get());
        if (!msg || !*msg) {
            std::fprintf(stderr, "xl: no reply from xenolithd\n");
            return std::nullopt;
        }
        const nlohmann::json& m = **msg;
        if (m.contains("progress") && m["progress"].is_string()) {
            std::fprintf(stderr, "%s\n", m["progress"].get<std::string>().c_str());
            continue;
        }
        if (m.value("ok", false) && m.value("send_fd", false)) {
            if (on_ask) on_ask(m);
            if (auto st = control::send_fd(sock.get(), stream); !st) {
                std::fprintf(stderr, "xl: %s\n", st.error().what.c_str());
                return std::nullopt;
            }
            continue;
        }
        return m;
    }
}

namespace {

// What create_domain's header checks leave: the flags and the config.
struct LoadedHeader {
    std::vector<std::uint8_t> bytes;  // the whole header, for read_xl_save_header
    std::uint32_t mandatory_flags = 0;
    std::optional<std::string> config;  // the JSON text without its NUL
};

// create_domain's header reading, with its messages; negative libxl rc
// on failure (or exits, as xl's CHK_ERRNOVAL does).
int load_header(int fd, const std::string& source, LoadedHeader& out) {
    std::uint8_t fixed[migration::kXlFixedHeaderSize];
    check_errnoval(read_exactly(fd, fixed, sizeof fixed, source.c_str(), "header"),
                   "xl_vmcontrol.c:713",
                   "libxl_read_exactly( ctx, restore_fd, &hdr, sizeof(hdr), restore_source, "
                   "\"header\")");
    if (std::memcmp(fixed, migration::kXlSaveMagic.data(), migration::kXlSaveMagic.size())) {
        std::fprintf(stderr, "File has wrong magic number - corrupt or for a different tool?\n");
        return kLibxlErrorInval;
    }
    const ByteSpan b(fixed, sizeof fixed);
    if (migration::le32(b, 32) != migration::kXlByteOrderMarker) {
        std::fprintf(stderr, "File has wrong byte order\n");
        return kLibxlErrorInval;
    }
    out.mandatory_flags = migration::le32(b, 36);
    const std::uint32_t optional_flags = migration::le32(b, 40);
    const std::uint32_t optional_len = migration::le32(b, 44);
    std::fprintf(stderr, "Loading new save file %s (new xl fmt info 0x%" PRIx32 "/0x%" PRIx32 "/%" PRIu32 ")\n",
                 source.c_str(), out.mandatory_flags, optional_flags, optional_len);
    if (const std::uint32_t bad = out.mandatory_flags & ~migration::kXlMandatoryKnown) {
        std::fprintf(stderr, "Savefile has mandatory flag(s) 0x%" PRIx32
                             " which are not supported; need newer xl\n", bad);
        return kLibxlErrorInval;
    }
    // xl allocates whatever the file says; a hostile length must not make
    // this one allocate gigabytes.
    const migration::XlSaveLimits limits;
    if (optional_len > limits.max_optional_data) {
        std::fprintf(stderr, "Savefile optional data of %" PRIu32 " bytes is over xenolith's limit of %" PRIu32 "\n",
                     optional_len, limits.max_optional_data);
        return kLibxlErrorInval;
    }
    out.bytes.assign(fixed, fixed + sizeof fixed);
    std::vector<std::uint8_t> optional(optional_len);
    if (optional_len)
        check_errnoval(read_exactly(fd, optional.data(), optional_len, source.c_str(), "optdata"),
                       "xl_vmcontrol.c:740",
                       "libxl_read_exactly( ctx, restore_fd, optdata_begin, hdr.optional_data_len, "
                       "restore_source, \"optdata\")");
    out.bytes.insert(out.bytes.end(), optional.begin(), optional.end());
    if (optional.empty()) return 0;
    std::fprintf(stderr, " Savefile contains xl domain config%s\n",
                 out.mandatory_flags & migration::kXlMandatoryJson ? " in JSON format" : "");
    if (optional.size() < 4) {
        std::fprintf(stderr, "Savefile truncated.\n");
        return kLibxlErrorInval;
    }
    const std::uint32_t config_len = migration::le32(ByteSpan(optional), 0);
    if (config_len > optional.size() - 4) {
        std::fprintf(stderr, "Savefile truncated.\n");
        return kLibxlErrorInval;
    }
    if (config_len) {
        const char* text = reinterpret_cast<const char*>(optional.data() + 4);
        std::size_t n = config_len;
        if (text[n - 1] == '\0') --n;  // xl stores the NUL
        out.config.emplace(text, n);
    }
    return 0;
}

}  // namespace

int restore_domain(const RestoreRun& run) {
    LoadedHeader header;
    if (int rc = load_header(run.fd, run.source, header); rc < 0) return rc;
    std::optional<config::DomainConfig> cfg;
    std::string config_source;
    if (run.config_file) {
        if (!config_file_readable(*run.config_file)) return kLibxlErrorFail;
        config_source = *run.config_file;
    } else {
        if (!header.config) {
            std::fprintf(stderr, "Config file not specified and none in save file\n");
            return kLibxlErrorInval;
        }
        config_source = "<saved>";
    }
    std::fprintf(stderr, "Parsing config from %s\n", config_source.c_str());
    // What xenolith restores: the libxl stream v2 after a JSON config (a
    // pre-4.6 stream or an xl.cfg-text config are refused here).
    {
        migration::MemorySource src{ByteSpan(header.bytes)};
        migration::InputStream in(src);
        auto checked = migration::read_xl_save_header(in);
        if (!checked && !(run.config_file && !header.config)) {
            std::fprintf(stderr, "%s: %s\n", run.source.c_str(), checked.error().what.c_str());
            return kLibxlErrorInval;
        }
    }
    if (run.config_file) {
        cfg = load_domain_config(*run.config_file, {});
    } else {
        auto read = config::domain_config_from_json_text(*header.config, config_source);
        if (!read) std::fprintf(stderr, "%s\n", read.error().what.c_str());
        else cfg = std::move(*read);
    }
    if (!cfg) return kLibxlErrorFail;
    if (run.incoming) {
        // The receiver restores under a temporary name; migrate-receive
        // gives the domain its own once the sender lets go of it.
        if (run.common_name) *run.common_name = cfg->name;
        cfg->name += "--incoming";
    }
    if (run.debug) {
        std::fputs(config::to_libxl_json(*cfg).c_str(), stderr);
        std::fflush(stderr);
    }
    auto req = create_request_for(*cfg, config_source);
    if (!req) return kLibxlErrorFail;
    (*req)["cmd"] = "restore";
    (*req)["paused"] = run.paused || run.console;
    auto reply = run_transfer(*req, run.fd, nullptr);
    if (!reply) return kLibxlErrorFail;
    if (!reply->value("ok", false)) {
        std::fprintf(stderr, "libxl: error: %s\n", reply->value("error", std::string()).c_str());
        return kLibxlErrorFail;
    }
    const auto domid = (*reply)["domid"].get<std::uint32_t>();
    if (run.console) {
        UniqueFd fd = connect_daemon();
        if (!fd.valid()) return kLibxlErrorFail;
        const nlohmann::json creq = {
            {"cmd", "console"}, {"domain", std::to_string(domid)}, {"unpause", !run.paused}};
        if (!control::send_message(fd.get(), creq)) return kLibxlErrorFail;
        (void)run_console(std::move(fd));
    }
    return static_cast<int>(domid);
}

}  // namespace xenolith::xl
