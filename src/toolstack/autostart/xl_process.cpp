#include "toolstack/autostart/xl_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "base/unique_fd.hpp"

extern char** environ;

namespace xenolith::autostart {

Result<XlRun> run_xl(const std::string& xl, const std::vector<std::string>& args) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0)
        return make_error(fmt::format("pipe: {}", std::strerror(errno)));
    UniqueFd read_end(pipe_fds[0]);
    UniqueFd write_end(pipe_fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

    std::vector<std::string> argv_storage{xl};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = 0;
    const int err = ::posix_spawn(&pid, xl.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) return make_error(fmt::format("cannot run {}: {}", xl, std::strerror(err)));
    write_end.reset();

    XlRun run;
    bool truncated = false;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        const std::size_t room = kMaxXlOutputBytes - run.output.size();
        run.output.append(buf, std::min(room, static_cast<std::size_t>(n)));
        truncated = truncated || static_cast<std::size_t>(n) > room;
    }
    if (truncated) run.output += "\n[further output of xl dropped]";
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return make_error(fmt::format("waitpid: {}", std::strerror(errno)));
    }
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return run;
}

Result<std::string> find_xl(const std::string& configured) {
    namespace fs = std::filesystem;
    if (!configured.empty()) {
        if (::access(configured.c_str(), X_OK) != 0)
            return make_error(fmt::format("XENOLITH_XL={}: {}", configured, std::strerror(errno)));
        return configured;
    }
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path sibling = self.parent_path() / "xl";
        if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
    }
    return make_error("cannot find xenolith's xl next to this program; set XENOLITH_XL in the "
                      "settings file");
}

}  // namespace xenolith::autostart
