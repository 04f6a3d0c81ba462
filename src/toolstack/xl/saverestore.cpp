// xl save and xl restore (Xen 4.17's tools/xl/xl_saverestore.c): options,
// messages and exit statuses as xl's. xl opens the checkpoint file with the
// user's rights and passes the descriptor to xenolithd, which writes or
// reads the image (src/daemon/request_transfer.cpp).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/unique_fd.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/xl/transfer.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

namespace {

// save_domain_core_begin with a config file: it is read and parsed as xl
// create reads one (exiting on errors), and sent as libxl JSON.
nlohmann::json override_config(const std::string& file) {
    if (!file_readable(file)) {
        std::fprintf(stderr, "unable to read overridden config file\n");
        std::exit(EXIT_FAILURE);
    }
    auto cfg = load_domain_config(file, {});
    if (!cfg) std::exit(EXIT_FAILURE);
    return config::to_json(*cfg);
}

// The domain's configuration must exist before anything is written
// (save_domain_core_begin runs before the file is opened).
bool domain_has_config(std::uint32_t domid) {
    auto reply = request({{"cmd", "list"}, {"config", false}});
    if (!reply) std::exit(EXIT_FAILURE);
    if (domid != 0)
        for (const auto& d : (*reply)["domains"])
            if (d["domid"] == domid) return true;
    std::fprintf(stderr, "unable to retrieve domain configuration\n");
    return false;
}

}  // namespace

// Prints save_domain_core_writeconfig's line from the header the daemon
// announces with its request for the descriptor.
void print_saving_to(const std::string& source, const nlohmann::json& ask) {
    const nlohmann::json h = ask.value("header", nlohmann::json::object());
    std::fprintf(stderr, "Saving to %s new xl format (info 0x%" PRIx32 "/0x%" PRIx32 "/%" PRIu32 ")\n",
                 source.c_str(), h.value("mandatory_flags", std::uint32_t{0}),
                 h.value("optional_flags", std::uint32_t{0}),
                 h.value("optional_data_len", std::uint32_t{0}));
}

// main_save: "cpD", at least 2 operands, at most 3.
int cmd_save(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "save", "cpD", {}, 2, rc);
    if (!o) return rc;
    if (o->args.size() > 3) {
        print_usage("save");
        return EXIT_FAILURE;
    }
    const bool checkpoint = has_flag(*o, 'c');
    const bool leave_paused = has_flag(*o, 'p');
    // -D (keep the domid in the stored config) has nothing to act on: a
    // restored xenolith domain always gets a fresh domid.
    const std::uint32_t domid = domain_qualifier(o->args[0]);
    const std::string& file = o->args[1];
    std::optional<nlohmann::json> config;
    if (o->args.size() == 3) config = override_config(o->args[2]);
    else if (!domain_has_config(domid)) return EXIT_FAILURE;

    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) {
        std::fprintf(stderr, "Failed to open temp file %s for writing\n", file.c_str());
        return EXIT_FAILURE;
    }
    nlohmann::json req = {{"cmd", "save"},
                          {"domid", domid},
                          {"live", false},
                          {"after", leave_paused ? "pause" : checkpoint ? "resume" : "destroy"}};
    if (config) req["config"] = std::move(*config);
    bool streamed = false;  // the daemon took the file: saving began
    auto reply = run_transfer(req, fd.get(), [&](const nlohmann::json& ask) {
        print_saving_to(file, ask);
        streamed = true;
    });
    fd.reset();
    if (!reply) return EXIT_FAILURE;
    if (!reply->value("ok", false)) {
        std::fprintf(stderr, "%s\n", reply->value("error", std::string()).c_str());
        // Refused before anything was written: xl never got that far.
        if (!streamed) return EXIT_FAILURE;
        std::fprintf(stderr, "Failed to save domain, resuming domain\n");
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

// main_restore: "FcpdeVA" (and --vncviewer, --vncviewer-autopass); one
// operand is the checkpoint, two are the config file and the checkpoint.
int cmd_restore(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "restore", "FcpdeVA",
                           {{"vncviewer", 'V'}, {"vncviewer-autopass", 'A'}}, 1, rc);
    if (!o) return rc;
    RestoreRun run;
    if (o->args.size() == 1) {
        run.source = o->args[0];
    } else if (o->args.size() == 2) {
        run.config_file = o->args[0];
        run.source = o->args[1];
    } else {
        print_usage("restore");
        return EXIT_FAILURE;
    }
    run.paused = has_flag(*o, 'p');
    run.debug = has_flag(*o, 'd');
    run.console = has_flag(*o, 'c');
    // -F and -e (no daemon waiting for the death in the background) and
    // -V/-A (VNC) change nothing here: xenolithd carries out on_* itself.
    UniqueFd fd(::open(run.source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        std::fprintf(stderr, "Can't open restore file: %s\n", std::strerror(errno));
        return EXIT_FAILURE;
    }
    run.fd = fd.get();
    return restore_domain(run) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

}  // namespace xenolith::xl
