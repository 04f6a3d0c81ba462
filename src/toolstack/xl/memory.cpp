// xl mem-set and xl mem-max (Xen 4.17 tools/xl/xl_mem.c): the domain is
// found as xl's find_domain does, the size parsed as parse_mem_size_kb,
// and xenolithd applies libxl's rules (src/daemon/request_memory.cpp).
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

// xl's parse_mem_size_kb: a decimal number (strtoll) and at most one unit
// letter, t/g/m (the default)/k or b; -1 means invalid. Shifts wrap as
// two's complement, as they do on Xen's hosts.
std::int64_t parse_mem_size_kb(const std::string& mem) {
    char* end = nullptr;
    const long long n = std::strtoll(mem.c_str(), &end, 10);
    if (std::strlen(end) > 1) return -1;
    auto kib = static_cast<std::uint64_t>(n);
    switch (std::tolower(static_cast<unsigned char>(*end))) {
        case 't': kib <<= 10; [[fallthrough]];
        case 'g': kib <<= 10; [[fallthrough]];
        case '\0':
        case 'm': kib <<= 10; [[fallthrough]];
        case 'k': break;
        case 'b': return static_cast<std::int64_t>(n) >> 10;
        default: return -1;
    }
    return static_cast<std::int64_t>(kib);
}

// xl's getopt for a command with no options and `required` arguments
// (def_getopt): -h prints the help, any other option is refused with 2,
// too few arguments print the usage with 2. Returns the arguments.
std::optional<Args> operands(const Args& a, const char* cmd, std::size_t required, int* rc) {
    Args out;
    bool options_done = false;
    for (std::size_t i = 1; i < a.size(); ++i) {
        const std::string& s = a[i];
        if (!options_done && s == "--") {
            options_done = true;
        } else if (!options_done && s.size() > 1 && s[0] == '-') {
            const char opt = s[1] == '-' ? '\0' : s[1];
            std::fprintf(stderr, "option `%c' not supported.\n", opt);
            *rc = 2;
            return std::nullopt;
        } else {
            out.push_back(s);
        }
    }
    if (out.size() < required) {
        std::fprintf(stderr, "'xl %s' requires at least %zu argument%s.\n\n", cmd, required,
                     required > 1 ? "s" : "");
        print_usage(cmd);
        *rc = 2;
        return std::nullopt;
    }
    return out;
}

// Shared by both commands: `what` is "dynamic" (mem-set) or "static" (mem-max).
int set_memory(const Args& a, const char* cmd, const char* request_cmd, const char* field,
               const char* what) {
    int rc = 0;
    auto ops = operands(a, cmd, 2, &rc);
    if (!ops) return rc;
    const std::uint32_t domid = domain_qualifier((*ops)[0]);
    const std::string& mem = (*ops)[1];
    const std::int64_t kib = parse_mem_size_kb(mem);
    if (kib == -1) {
        std::fprintf(stderr, "invalid memory size: %s\n", mem.c_str());
        return EXIT_FAILURE;
    }
    auto reply = request({{"cmd", request_cmd}, {"domid", domid}, {field, kib}});
    if (!reply) return EXIT_FAILURE;
    if (!reply->value("ok", false)) {
        const std::string log = reply->value("log", std::string());
        if (!log.empty()) std::fprintf(stderr, "%s\n", log.c_str());
        std::fprintf(stderr, "cannot set domid %u %s max memory to : %s\n", domid, what,
                     mem.c_str());
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

}  // namespace

int cmd_mem_set(const Args& a) {
    return set_memory(a, "mem-set", "mem-set", "target_kib", "dynamic");
}

int cmd_mem_max(const Args& a) { return set_memory(a, "mem-max", "mem-max", "max_kib", "static"); }

}  // namespace xenolith::xl
