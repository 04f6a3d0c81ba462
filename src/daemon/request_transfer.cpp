// xl save, xl restore and migration's two ends as xenolithd serves them.
// The stream goes through a descriptor the client opened with its own
// rights and passed over the control socket (control/fd_passing.hpp): the
// daemon never opens a user's path for these. The work itself is the
// toolstack's (toolstack/daemon/domain_transfer.hpp).
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "control/fd_passing.hpp"
#include "control/libxl_compat.hpp"
#include "control/protocol.hpp"
#include "daemon/request_util.hpp"
#include "daemon/requests.hpp"
#include "migration/xl_savefile.hpp"
#include "toolstack/config/json.hpp"

namespace xenolith::daemon {
namespace {

using nlohmann::json;

enum class Direction { read, write };

constexpr int kStreamPipeBytes = 1 << 20;

// The descriptor must be what xl save/restore/migrate pass: a pipe, a
// socket or a regular file, open for the direction the stream goes. A
// directory, a device or a file opened the wrong way is refused before
// the domain is touched.
Status check_stream_fd(int fd, Direction dir) {
    struct stat st {};
    if (::fstat(fd, &st) < 0)
        return make_error(std::string("stream descriptor: ") + std::strerror(errno));
    if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISREG(st.st_mode))
        return make_error("stream descriptor: not a pipe, socket or regular file");
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return make_error(std::string("stream descriptor: ") + std::strerror(errno));
    const int mode = flags & O_ACCMODE;
    if (dir == Direction::write && mode != O_WRONLY && mode != O_RDWR)
        return make_error("stream descriptor: not open for writing");
    if (dir == Direction::read && mode != O_RDONLY && mode != O_RDWR)
        return make_error("stream descriptor: not open for reading");
    // A pipe (xl migrate's, or the receiver's stdin) at its default 64 KiB
    // makes sender and receiver take turns 16 pages at a time; 1 MiB (the
    // default pipe-max-size) lets a whole batch through. Best effort.
    if (S_ISFIFO(st.st_mode)) (void)::fcntl(fd, F_SETPIPE_SZ, kStreamPipeBytes);
    return ok_status();
}

// Progress lines go to the client as they come; a client that went away
// only stops seeing them (the transfer's fate is its own).
toolstack::ProgressFn progress_to(int fd) {
    return [fd](const std::string& line) {
        (void)control::send_message(fd, {{"progress", line}});
    };
}

// Asks for the descriptor and checks it; false (the error sent) when the
// client gave none or a wrong one.
std::optional<UniqueFd> take_stream(int fd, Direction dir) {
    if (!control::send_message(fd, {{"ok", true}, {"send_fd", true}})) return std::nullopt;
    auto stream = control::recv_fd(fd);
    if (!stream) {
        (void)control::send_message(fd, fail(stream.error().what));
        return std::nullopt;
    }
    if (auto st = check_stream_fd(stream->get(), dir); !st) {
        (void)control::send_message(fd, fail(st.error().what));
        return std::nullopt;
    }
    return std::move(*stream);
}

Result<toolstack::AfterSave> parse_after(const json& req) {
    const auto it = req.find("after");
    if (it == req.end()) return toolstack::AfterSave::destroy;
    if (it->is_string()) {
        const std::string& s = it->get_ref<const std::string&>();
        if (s == "destroy") return toolstack::AfterSave::destroy;
        if (s == "resume") return toolstack::AfterSave::resume;
        if (s == "pause") return toolstack::AfterSave::pause;
        if (s == "suspended") return toolstack::AfterSave::suspended;
    }
    return make_error("save: \"after\" must be \"destroy\", \"resume\", \"pause\" or \"suspended\"");
}

// What xl prints as "Saving to <file> new xl format (info M/O/L)": the
// header of an image with the domain's configuration as its JSON (the
// flags and optional-data length encode_xl_save_header gives it).
json expected_header(Hypervisor& hv, const domain::Domain& d, const std::optional<json>& override_cfg) {
    migration::XlSaveHeader h;
    const json cfg = override_cfg ? *override_cfg : hv.toolstack().libxl_config(d);
    if (!cfg.is_null()) h.config_json = config::libxl_json_text(cfg);
    const auto bytes = migration::encode_xl_save_header(h);
    const ByteSpan b(bytes);
    return {{"mandatory_flags", migration::le32(b, 36)},
            {"optional_flags", migration::le32(b, 40)},
            {"optional_data_len", migration::le32(b, 44)}};
}

void serve_save(Hypervisor& hv, int fd, const json& req) {
    const auto domid = request_domid(req);
    if (!domid) {
        (void)control::send_message(fd, fail("save: no domid"));
        return;
    }
    if (req.contains("live") && !req["live"].is_boolean()) {
        (void)control::send_message(fd, fail("save: \"live\" must be true or false"));
        return;
    }
    auto after = parse_after(req);
    if (!after) {
        (void)control::send_message(fd, fail(after.error().what));
        return;
    }
    // xl save/migrate with a config file store it instead of the domain's own.
    std::optional<json> override_cfg;
    if (req.contains("config")) {
        if (!req["config"].is_object()) {
            (void)control::send_message(fd, fail("save: \"config\" must be a libxl configuration object"));
            return;
        }
        override_cfg = req["config"];
    }
    if (*domid == 0) {
        (void)control::send_message(fd, fail("save: domain 0 is the host; it cannot be saved"));
        return;
    }
    auto d = control::is_guest_domid(*domid) ? hv.domains().get(static_cast<domid_t>(*domid))
                                             : nullptr;
    if (!d) {
        // libxl_retrieve_domain_configuration fails first, as in xl.
        (void)control::send_message(fd, fail("unable to retrieve domain configuration", 2));
        return;
    }
    // The expected header goes with the request for the descriptor, so
    // that xl prints its line before the stream starts, as xl does.
    json ask = {{"ok", true}, {"send_fd", true}, {"header", expected_header(hv, *d, override_cfg)}};
    if (!control::send_message(fd, ask)) return;
    auto stream = control::recv_fd(fd);
    if (!stream) {
        (void)control::send_message(fd, fail(stream.error().what));
        return;
    }
    if (auto st = check_stream_fd(stream->get(), Direction::write); !st) {
        (void)control::send_message(fd, fail(st.error().what));
        return;
    }
    toolstack::SaveOptions opts;
    opts.live = req.value("live", false);
    opts.after = *after;
    opts.config = std::move(override_cfg);
    opts.progress = progress_to(fd);
    auto report = hv.toolstack().save(static_cast<domid_t>(*domid), stream->get(), opts);
    stream->reset();  // the client sees end of stream once the daemon is done
    if (!report) {
        (void)control::send_message(fd, fail(report.error().what));
        return;
    }
    (void)control::send_message(fd, {{"ok", true},
                                     {"bytes", report->bytes},
                                     {"pages", report->pages},
                                     {"rounds", report->rounds},
                                     {"paused_ms", report->paused_ns / 1000000}});
}

void serve_restore(Hypervisor& hv, int fd, const json& req) {
    if (req.contains("paused") && !req["paused"].is_boolean()) {
        (void)control::send_message(fd, fail("restore: \"paused\" must be true or false"));
        return;
    }
    // Everything create checks, KVM first, before the stream is asked for.
    auto admitted = admit_guest(hv, req, GuestSource::image);
    if (!admitted) {
        (void)control::send_message(fd, fail(admitted.error().what));
        return;
    }
    auto stream = take_stream(fd, Direction::read);
    if (!stream) return;
    toolstack::RestoreOptions opts;
    opts.paused = req.value("paused", false);
    opts.progress = progress_to(fd);
    auto d = hv.toolstack().restore(std::move(admitted->config), stream->get(), opts);
    stream->reset();
    if (!d) {
        (void)control::send_message(fd, fail(d.error().what));
        return;
    }
    (void)control::send_message(fd, {{"ok", true}, {"domid", (*d)->domid()}});
}

// xl migrate, when the receiver failed: the sender's suspended copy runs on.
json resume_suspended(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid) return fail("resume_suspended: no domid");
    if (!control::is_guest_domid(*domid) || !hv.domains().get(static_cast<domid_t>(*domid)))
        return fail("invalid domain identifier", 2);
    if (auto st = hv.toolstack().resume_suspended(static_cast<domid_t>(*domid)); !st)
        return fail(st.error().what);
    return {{"ok", true}};
}

constexpr RequestHandler kTransferRequests[] = {
    {"resume_suspended", resume_suspended},
};

}  // namespace

std::span<const RequestHandler> transfer_requests() { return kTransferRequests; }

void serve_transfer(Hypervisor& hv, int fd, const json& req) {
    if (req["cmd"] == "save") serve_save(hv, fd, req);
    else serve_restore(hv, fd, req);
}

}  // namespace xenolith::daemon
