// xl destroy, shutdown, pause, unpause.
#include <cstdio>

#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

int simple(const char* cmd, const Args& a) {
    std::string dom;
    for (std::size_t i = 1; i < a.size(); ++i)
        if (a[i][0] != '-') dom = a[i];
    if (dom.empty()) return print_usage(cmd), 2;
    if (dom == "0" || dom == "Domain-0") {
        std::fprintf(stderr, "%s: cannot %s domain 0 (the host)\n", cmd, cmd);
        return 1;
    }
    auto reply = request({{"cmd", cmd}, {"domain", dom}});
    if (!reply) return 1;
    if (!(*reply)["ok"].get<bool>()) {
        if ((*reply)["rc"] == 2)
            std::fprintf(stderr, "%s is an invalid domain identifier (rc=-6)\n", dom.c_str());
        else
            std::fprintf(stderr, "%s\n", (*reply)["error"].get<std::string>().c_str());
        return 1;
    }
    return 0;
}

}  // namespace

int cmd_destroy(const Args& a) { return simple("destroy", a); }
int cmd_shutdown(const Args& a) { return simple("shutdown", a); }
int cmd_pause(const Args& a) { return simple("pause", a); }
int cmd_unpause(const Args& a) { return simple("unpause", a); }

}  // namespace xenolith::xl
