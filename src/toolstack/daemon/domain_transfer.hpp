// Save, restore and migration as the daemon serves them: what `xl save`,
// `xl restore`, `xl migrate` and `xl migrate-receive` ask of xenolithd. The
// stream is Xen's: xl's save-file header (the domain's configuration as
// libxl JSON), then the libxl stream v2 carrying the libxc stream v2.
//
// The file or pipe is xl's: it opens it (with its own rights) and hands the
// descriptor over; the daemon only reads or writes it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "domain/domain.hpp"

namespace xenolith::toolstack {

// One line of progress as xl prints it (e.g. "Savefile contains ...",
// "migration target: ..."); may be called from any thread, never
// concurrently.
using ProgressFn = std::function<void(const std::string& line)>;

// What becomes of the domain once its image is written.
enum class AfterSave {
    destroy,    // xl save: the domain goes away (its devices first)
    resume,     // xl save -c: it runs on; the guest sees its suspend cancelled
    pause,      // xl save -p: as resume, but left paused
    suspended,  // xl migrate: kept suspended until resume_suspended or destroy
};

struct SaveOptions {
    // Pre-copy while the guest runs (xl migrate), else one stop-and-copy.
    bool live = false;
    AfterSave after = AfterSave::destroy;
    // xl save DOM FILE CFG / xl migrate -C CFG: the libxl configuration the
    // image carries instead of the domain's own.
    std::optional<nlohmann::json> config;
    ProgressFn progress;
};

struct SaveReport {
    std::uint64_t bytes = 0;       // written to the descriptor
    std::uint64_t pages = 0;       // PAGE_DATA pages, all rounds
    unsigned rounds = 0;           // pre-copy rounds, the final one included
    std::uint64_t paused_ns = 0;   // suspended (downtime) while saving
};

struct RestoreOptions {
    // xl restore -p / migrate-receive: leave it paused (xl unpauses later).
    bool paused = false;
    ProgressFn progress;
};

}  // namespace xenolith::toolstack
