// xentop: the domains of a xenolithd host, refreshed, in the columns,
// options, keys and batch format of Xen's tools/xentop/xentop.c (4.17, plus
// -p and -z from later Xen). Interactive mode draws with ncurses; batch
// mode (-b) prints each sample to stdout.
#include <curses.h>
#include <getopt.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <strings.h>

#include "toolstack/xentop/stats.hpp"

namespace xenolith::xentop {
namespace {

constexpr int kKeyEscape = 0x1b;
constexpr int kKeyRepaint = 0x0c;  // ^L
constexpr std::size_t kMaxPcpus = 128;  // as Xen's pcpu.c

// ---- state -----------------------------------------------------------------

struct State {
    unsigned delay = 3;
    bool batch = false;
    bool loop = true;
    unsigned iterations = 0;
    bool show_vcpus = false, show_networks = false, show_vbds = false, repeat_header = false,
         show_full_name = false, show_pcpus = false, dom0_first = false;
    std::size_t sort_field = 0;
    std::size_t first_domain_index = 0;
    timeval curtime{}, oldtime{};
    std::optional<NodeSample> prev, cur;
    // xentop -p: idle time per CPU at the previous sample, and the usage.
    std::vector<std::uint64_t> prev_idle;
    std::vector<double> pcpu_usage;
    std::uint64_t prev_pcpu_time = 0;
    // Interactive prompt ("Delay(sec)").
    const char* prompt = nullptr;
    std::string prompt_value;
    WINDOW* window = nullptr;
};

State g;

void finish_curses() {
    if (g.window && !isendwin()) endwin();
}

[[noreturn]] void fail(const char* message) {
    finish_curses();
    std::fputs(message, stderr);
    std::exit(1);
}

int current_row() {
    int y, x;
    getyx(stdscr, y, x);
    (void)x;
    return y;
}

int screen_lines() {
    int y, x;
    getmaxyx(stdscr, y, x);
    (void)x;
    return y;
}

// printf to stdout in batch mode; to the screen, short of its last line,
// otherwise.
void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void print(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!g.batch) {
        if (current_row() < screen_lines() - 1) vw_printw(stdscr, fmt, ap);
    } else {
        std::vprintf(fmt, ap);
    }
    va_end(ap);
}

void style_on(int attr) {
    if (!g.batch) attron(attr);
}
void style_off(int attr) {
    if (!g.batch) attroff(attr);
}

// ---- columns -----------------------------------------------------------------

double cpu_pct(const DomainSample& d) {
    if (!g.prev) return 0.0;
    const DomainSample* old = g.prev->find(d.domid);
    if (!old) return 0.0;
    const double us = (g.curtime.tv_sec - g.oldtime.tv_sec) * 1e6 +
                      static_cast<double>(g.curtime.tv_usec - g.oldtime.tv_usec);
    if (us <= 0) return 0.0;
    // ns / 1000 -> µs, * 100 -> percent.
    return (static_cast<double>(d.cpu_ns) - static_cast<double>(old->cpu_ns)) / 10.0 / us;
}

template <class T>
int compare(T a, T b) {
    return a < b ? -1 : a > b ? 1 : 0;
}

// libxenstat's state letters, in xentop's order.
struct StateFlag {
    bool DomainSample::*flag;
    char letter;
};
constexpr StateFlag kStates[] = {
    {&DomainSample::dying, 'd'},   {&DomainSample::shutdown, 's'}, {&DomainSample::blocked, 'b'},
    {&DomainSample::crashed, 'c'}, {&DomainSample::paused, 'p'},   {&DomainSample::running, 'r'},
};

struct Field {
    const char* header;
    unsigned default_width;
    unsigned width;
    std::function<int(const DomainSample&, const DomainSample&)> compare;
    std::function<void(const DomainSample&, unsigned width)> print;
};

std::uint64_t max_mem_or(const DomainSample& d) { return d.max_mem_bytes.value_or(~0ull); }

// The NAME..SSID columns. Larger first for the numeric ones, as xentop sorts.
std::vector<Field> make_fields() {
    auto desc = [](auto get) {
        return [get](const DomainSample& a, const DomainSample& b) { return -compare(get(a), get(b)); };
    };
    const auto tot_mem = [] { return static_cast<double>(g.cur->tot_mem_bytes); };
    return {
        {"NAME", 10, 10,
         [](const DomainSample& a, const DomainSample& b) {
             return strcasecmp(a.name.c_str(), b.name.c_str());
         },
         [](const DomainSample& d, unsigned w) {
             if (g.show_full_name)
                 print("%*s", static_cast<int>(w), d.name.c_str());
             else
                 print("%10.10s", d.name.c_str());
         }},
        {"STATE", 6, 6,
         [](const DomainSample& a, const DomainSample& b) {
             for (const auto& s : kStates) {
                 if (a.*s.flag && !(b.*s.flag)) return -1;
                 if (b.*s.flag && !(a.*s.flag)) return 1;
             }
             return 0;
         },
         [](const DomainSample& d, unsigned) {
             for (const auto& s : kStates) print("%c", d.*s.flag ? s.letter : '-');
         }},
        {"CPU(sec)", 10, 10, desc([](const DomainSample& d) { return d.cpu_ns; }),
         [](const DomainSample& d, unsigned) { print("%10llu", static_cast<unsigned long long>(d.cpu_ns / 1000000000)); }},
        {"CPU(%)", 6, 6, desc([](const DomainSample& d) { return cpu_pct(d); }),
         [](const DomainSample& d, unsigned) { print("%6.1f", cpu_pct(d)); }},
        {"MEM(k)", 10, 10, desc([](const DomainSample& d) { return d.cur_mem_bytes; }),
         [](const DomainSample& d, unsigned) { print("%10llu", static_cast<unsigned long long>(d.cur_mem_bytes / 1024)); }},
        {"MEM(%)", 6, 6, desc([](const DomainSample& d) { return d.cur_mem_bytes; }),
         [tot_mem](const DomainSample& d, unsigned) {
             print("%6.1f", static_cast<double>(d.cur_mem_bytes) / tot_mem() * 100);
         }},
        {"MAXMEM(k)", 10, 10, desc(max_mem_or),
         [](const DomainSample& d, unsigned) {
             if (!d.max_mem_bytes)
                 print("%10s", "no limit");
             else
                 print("%10llu", static_cast<unsigned long long>(*d.max_mem_bytes / 1024));
         }},
        {"MAXMEM(%)", 9, 9, desc(max_mem_or),
         [tot_mem](const DomainSample& d, unsigned) {
             if (!d.max_mem_bytes)
                 print("%9s", "n/a");
             else
                 print("%9.1f", static_cast<double>(*d.max_mem_bytes) / tot_mem() * 100);
         }},
        {"VCPUS", 5, 5, desc([](const DomainSample& d) { return d.vcpus.size(); }),
         [](const DomainSample& d, unsigned) { print("%5u", static_cast<unsigned>(d.vcpus.size())); }},
        {"NETS", 4, 4, desc([](const DomainSample& d) { return d.num_networks; }),
         [](const DomainSample& d, unsigned) { print("%4u", d.num_networks); }},
        {"NETTX(k)", 8, 8, desc([](const DomainSample& d) { return d.net_tx_bytes; }),
         [](const DomainSample& d, unsigned w) { print("%*llu", static_cast<int>(w), static_cast<unsigned long long>(d.net_tx_bytes / 1024)); }},
        {"NETRX(k)", 8, 8, desc([](const DomainSample& d) { return d.net_rx_bytes; }),
         [](const DomainSample& d, unsigned w) { print("%*llu", static_cast<int>(w), static_cast<unsigned long long>(d.net_rx_bytes / 1024)); }},
        {"VBDS", 4, 4, desc([](const DomainSample& d) { return d.num_vbds; }),
         [](const DomainSample& d, unsigned) { print("%4u", d.num_vbds); }},
        {"VBD_OO", 8, 8, desc([](const DomainSample& d) { return d.vbd_oo; }),
         [](const DomainSample& d, unsigned) { print("%8llu", static_cast<unsigned long long>(d.vbd_oo)); }},
        {"VBD_RD", 8, 8, desc([](const DomainSample& d) { return d.vbd_rd; }),
         [](const DomainSample& d, unsigned w) { print("%*llu", static_cast<int>(w), static_cast<unsigned long long>(d.vbd_rd)); }},
        {"VBD_WR", 8, 8, desc([](const DomainSample& d) { return d.vbd_wr; }),
         [](const DomainSample& d, unsigned w) { print("%*llu", static_cast<int>(w), static_cast<unsigned long long>(d.vbd_wr)); }},
        {"VBD_RSECT", 10, 10, desc([](const DomainSample& d) { return d.vbd_rsect; }),
         [](const DomainSample& d, unsigned w) { print("%*llu", static_cast<int>(w), static_cast<unsigned long long>(d.vbd_rsect)); }},
        {"VBD_WSECT", 10, 10, desc([](const DomainSample& d) { return d.vbd_wsect; }),
         [](const DomainSample& d, unsigned w) { print("%*llu", static_cast<int>(w), static_cast<unsigned long long>(d.vbd_wsect)); }},
        {"SSID", 4, 4,
         [](const DomainSample& a, const DomainSample& b) { return compare(a.ssid, b.ssid); },
         [](const DomainSample& d, unsigned) { print("%4u", d.ssid); }},
    };
}

std::vector<Field> fields = make_fields();
enum FieldIndex : std::size_t { kName = 0, kNetTx = 10, kNetRx = 11, kVbdRd = 14, kVbdWr = 15, kVbdRsect = 16, kVbdWsect = 17 };

unsigned digits(std::uint64_t n) { return static_cast<unsigned>(std::log10(static_cast<double>(n)) + 1); }

// Counters that outgrow their column widen it, for the whole table.
void adjust_widths(const std::vector<const DomainSample*>& shown) {
    for (std::size_t i : {kNetTx, kNetRx, kVbdRd, kVbdWr, kVbdRsect, kVbdWsect})
        fields[i].width = fields[i].default_width;
    for (const DomainSample* d : shown) {
        auto widen = [](std::size_t i, unsigned w) { fields[i].width = std::max(fields[i].width, w); };
        if (g.show_full_name) widen(kName, static_cast<unsigned>(d->name.size()));
        widen(kNetTx, digits(d->net_tx_bytes / 1024 + 1));
        widen(kNetRx, digits(d->net_rx_bytes / 1024 + 1));
        widen(kVbdRd, digits(d->vbd_rd + 1));
        widen(kVbdWr, digits(d->vbd_wr + 1));
        widen(kVbdRsect, digits(d->vbd_rsect + 1));
        widen(kVbdWsect, digits(d->vbd_wsect + 1));
    }
}

// ---- sections ----------------------------------------------------------------

void do_summary() {
    char time_str[9];
    const std::time_t now = g.curtime.tv_sec;
    std::strftime(time_str, sizeof time_str, "%H:%M:%S", std::localtime(&now));
    print("xentop - %s   Xen %s\n", time_str, g.cur->xen_version.c_str());
    unsigned run = 0, block = 0, pause = 0, crash = 0, dying = 0, shutdown = 0;
    for (const auto& d : g.cur->domains) {
        if (d.running) ++run;
        else if (d.blocked) ++block;
        else if (d.paused) ++pause;
        else if (d.shutdown) ++shutdown;
        else if (d.crashed) ++crash;
        else if (d.dying) ++dying;
    }
    print("%u domains: %u running, %u blocked, %u paused, %u crashed, %u dying, %u shutdown \n",
          static_cast<unsigned>(g.cur->domains.size()), run, block, pause, crash, dying, shutdown);
    const std::uint64_t tot = g.cur->tot_mem_bytes, free_mem = g.cur->free_mem_bytes;
    print("Mem: %lluk total, %lluk used, %lluk free    ", static_cast<unsigned long long>(tot / 1024),
          static_cast<unsigned long long>((tot - std::min(tot, free_mem)) / 1024),
          static_cast<unsigned long long>(free_mem / 1024));
    print("CPUs: %u @ %lluMHz\n", g.cur->num_cpus, static_cast<unsigned long long>(g.cur->cpu_hz / 1000000));
}

void do_header() {
    style_on(A_REVERSE);
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i != 0) print(" ");
        if (i == g.sort_field) style_on(A_BOLD);
        print("%*s", static_cast<int>(fields[i].width), fields[i].header);
        if (i == g.sort_field) style_off(A_BOLD);
    }
    style_off(A_REVERSE);
    print("\n");
}

void do_domain(const DomainSample& d) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i != 0) print(" ");
        if (i == g.sort_field) style_on(A_BOLD);
        fields[i].print(d, fields[i].width);
        if (i == g.sort_field) style_off(A_BOLD);
    }
    print("\n");
}

void do_vcpu(const DomainSample& d) {
    print("VCPUs(sec): ");
    for (std::size_t i = 0; i < d.vcpus.size(); ++i) {
        if (!d.vcpus[i].online) continue;
        if (i != 0 && i % 5 == 0) print("\n        ");
        print(" %2u: %10llus", static_cast<unsigned>(i),
              static_cast<unsigned long long>(d.vcpus[i].cpu_ns / 1000000000));
    }
    print("\n");
}

// -p: each host CPU's busy share since the previous sample (0 at first).
bool update_pcpus() {
    auto times = host_cpu_times();
    if (!times) return false;
    if (times->size() > kMaxPcpus) times->resize(kMaxPcpus);
    std::vector<std::uint64_t> idle_now;
    for (const auto& t : *times) idle_now.push_back(t.idle_us);
    const auto* idle = &idle_now;
    const std::uint64_t now = static_cast<std::uint64_t>(g.curtime.tv_sec) * 1000000 +
                              static_cast<std::uint64_t>(g.curtime.tv_usec);
    if (g.prev_idle.size() < idle->size()) {
        g.prev_idle = *idle;
        g.pcpu_usage.assign(idle->size(), 0.0);
        g.prev_pcpu_time = now;
        return true;
    }
    const std::uint64_t elapsed = now - g.prev_pcpu_time;
    for (std::size_t i = 0; i < idle->size(); ++i) {
        const double idle_us = static_cast<double>((*idle)[i] - g.prev_idle[i]);
        g.pcpu_usage[i] =
            elapsed > 0 ? std::clamp(100.0 * (1.0 - idle_us / static_cast<double>(elapsed)), 0.0, 100.0) : 0.0;
        g.prev_idle[i] = (*idle)[i];
    }
    g.prev_pcpu_time = now;
    return true;
}

void do_pcpus() {
    if (g.pcpu_usage.empty()) {
        print("\nNo PCPU data available\n");
        return;
    }
    print("\nPhysical CPU Usage:\n");
    print("+-------+--------+\n");
    print("| Core  | Usage  |\n");
    print("+-------+--------+\n");
    for (std::size_t i = 0; i < g.pcpu_usage.size(); ++i)
        print("| %-5d | %5.1f%% |\n", static_cast<int>(i), g.pcpu_usage[i]);
    print("+-------+--------+\n");
}

void attr_addstr(int attr, const char* s) {
    style_on(attr);
    addstr(s);
    style_off(attr);
}

void do_bottom_line() {
    move(screen_lines() - 1, 2);
    if (g.prompt) {
        printw("%s: %s", g.prompt, g.prompt_value.c_str());
        return;
    }
    auto key = [](char k) { addch(A_REVERSE | static_cast<chtype>(k)); };
    const auto on = [](bool b) { return b ? COLOR_PAIR(1) : 0; };
    key('D'); addstr("elay  ");
    key('N'); attr_addstr(on(g.show_networks), "etworks"); addstr("  ");
    attr_addstr(on(g.show_vbds), "v"); key('B'); attr_addstr(on(g.show_vbds), "ds"); addstr("  ");
    key('V'); attr_addstr(on(g.show_vcpus), "CPUs"); addstr("  ");
    key('R'); attr_addstr(on(g.repeat_header), "epeat header"); addstr("  ");
    key('S'); addstr("ort order  ");
    key('Q'); addstr("uit  ");
}

Source g_source;

void top() {
    auto sample = g_source.sample();
    if (!sample) {
        finish_curses();
        std::fprintf(stderr, "xentop: %s\n", sample.error().what.c_str());
        fail("Failed to retrieve statistics from libxenstat\n");
    }
    g.prev = std::move(g.cur);
    g.cur = std::move(*sample);
    if (!g.batch) do_summary();

    std::vector<const DomainSample*> domains;
    for (const auto& d : g.cur->domains) domains.push_back(&d);
    auto first = domains.begin();
    if (g.dom0_first) {
        auto dom0 = std::find_if(domains.begin(), domains.end(),
                                 [](const DomainSample* d) { return d->name == "Domain-0"; });
        if (dom0 != domains.end()) {
            std::iter_swap(domains.begin(), dom0);
            ++first;
        }
    }
    const Field& key = fields[g.sort_field];
    std::stable_sort(first, domains.end(), [&](const DomainSample* a, const DomainSample* b) {
        return key.compare(*a, *b) < 0;
    });
    if (g.first_domain_index >= domains.size())
        g.first_domain_index = domains.empty() ? 0 : domains.size() - 1;
    const std::vector<const DomainSample*> shown(domains.begin() + static_cast<long>(std::min(g.first_domain_index, domains.size())),
                                                 domains.end());
    adjust_widths(shown);
    for (std::size_t i = 0; i < shown.size(); ++i) {
        if (!g.batch && current_row() == screen_lines() - 1) break;
        if (i == 0 || g.repeat_header) do_header();
        do_domain(*shown[i]);
        if (g.show_vcpus) do_vcpu(*shown[i]);
        // -n / -x: one line per network or block device; there are none
        // until xenolithd has those back-ends.
    }
    if (g.show_pcpus) {
        if (!update_pcpus()) fail("Error getting PCPU stats\n");
        do_pcpus();
    }
    if (!g.batch) do_bottom_line();
}

// ---- interactive keys ------------------------------------------------------------

void set_prompt(const char* p) {
    g.prompt = p;
    g.prompt_value.clear();
}

// false when the user quits.
bool handle_key(int ch) {
    if (!g.prompt) {
        switch (ch) {
            case 'n': case 'N': g.show_networks = !g.show_networks; break;
            case 'b': case 'B': g.show_vbds = !g.show_vbds; break;
            case 'r': case 'R': g.repeat_header = !g.repeat_header; break;
            case 's': case 'S': g.sort_field = (g.sort_field + 1) % fields.size(); break;
            case 'v': case 'V': g.show_vcpus = !g.show_vcpus; break;
            case KEY_DOWN: ++g.first_domain_index; break;
            case KEY_UP: if (g.first_domain_index > 0) --g.first_domain_index; break;
            case 'd': case 'D': set_prompt("Delay(sec)"); break;
            case kKeyRepaint: clear(); break;
            case 'q': case 'Q': case kKeyEscape: return false;
            default: break;
        }
        return true;
    }
    switch (ch) {
        case '\r': {
            const int delay = std::atoi(g.prompt_value.c_str());
            if (delay > 0) g.delay = static_cast<unsigned>(delay);
            set_prompt(nullptr);
            break;
        }
        case kKeyEscape: set_prompt(nullptr); break;
        case KEY_BACKSPACE:
            if (!g.prompt_value.empty()) g.prompt_value.pop_back();
            break;
        default:
            if (g.prompt_value.size() + 1 < 80 && ch >= 0 && ch < 256 && std::isprint(ch))
                g.prompt_value.push_back(static_cast<char>(ch));
    }
    return true;
}

// ---- main ---------------------------------------------------------------------

void usage(const char* program) {
    std::printf("Usage: %s [OPTION]\n"
                "Displays ongoing information about xen vm resources \n\n"
                "-h, --help           display this help and exit\n"
                "-V, --version        output version information and exit\n"
                "-d, --delay=SECONDS  seconds between updates (default 3)\n"
                "-n, --networks       output vif network data\n"
                "-x, --vbds           output vbd block device data\n"
                "-r, --repeat-header  repeat table header before each domain\n"
                "-v, --vcpus          output vcpu data\n"
                "-b, --batch          output in batch mode, no user input accepted\n"
                "-p, --pcpus          show physical CPU stats\n"
                "-i, --iterations     number of iterations before exiting\n"
                "-f, --full-name      output the full domain name (not truncated)\n"
                "-z, --dom0-first     display dom0 first (ignore sorting)\n"
                "\n"
                "Report bugs to <xen-devel@lists.xen.org>.\n",
                program);
}

void version() {
    std::printf("xentop 1.0 (xenolith " XENOLITH_VERSION ")\n"
                "A xenolith rewrite of Xen's xentop by Judy Fischbach, David Hendricks, "
                "Josh Triplett\n");
}

volatile sig_atomic_t g_signal_exit = 0;
void on_exit_signal(int) { g_signal_exit = 1; }

int run(int argc, char** argv) {
    static const option kLong[] = {
        {"help", no_argument, nullptr, 'h'},     {"version", no_argument, nullptr, 'V'},
        {"networks", no_argument, nullptr, 'n'}, {"vbds", no_argument, nullptr, 'x'},
        {"repeat-header", no_argument, nullptr, 'r'}, {"vcpus", no_argument, nullptr, 'v'},
        {"delay", required_argument, nullptr, 'd'}, {"batch", no_argument, nullptr, 'b'},
        {"pcpus", no_argument, nullptr, 'p'},    {"iterations", required_argument, nullptr, 'i'},
        {"full-name", no_argument, nullptr, 'f'}, {"dom0-first", no_argument, nullptr, 'z'},
        {nullptr, 0, nullptr, 0},
    };
    // As xentop: getopt reports a bad option, then the usage follows and
    // the exit status is 0.
    for (int opt; (opt = getopt_long(argc, argv, "hVnxrvd:bpi:fz", kLong, nullptr)) != -1;) {
        switch (opt) {
            case 'V': version(); return 0;
            case 'n': g.show_networks = true; break;
            case 'x': g.show_vbds = true; break;
            case 'r': g.repeat_header = true; break;
            case 'v': g.show_vcpus = true; break;
            case 'd': g.delay = static_cast<unsigned>(std::atoi(optarg)); break;
            case 'b': g.batch = true; break;
            case 'p': g.show_pcpus = true; break;
            case 'i':
                g.iterations = static_cast<unsigned>(std::atoi(optarg));
                g.loop = false;
                break;
            case 'f': g.show_full_name = true; break;
            case 'z': g.dom0_first = true; break;
            default: usage(argv[0]); return 0;  // -h and every error
        }
    }

    if (auto st = g_source.connect(); !st) {
        std::fprintf(stderr, "xentop: %s\n", st.error().what.c_str());
        fail("Failed to initialize xenstat library\n");
    }
    if (!g.batch) {
        g.window = initscr();
        start_color();
        cbreak();
        noecho();
        nonl();
        keypad(stdscr, TRUE);
        halfdelay(5);
        use_default_colors();
        init_pair(1, -1, COLOR_YELLOW);
        int ch = ERR;
        do {
            gettimeofday(&g.curtime, nullptr);
            if (ch != ERR || g.curtime.tv_sec - g.oldtime.tv_sec >= static_cast<long>(g.delay)) {
                erase();
                top();
                g.oldtime = g.curtime;
                refresh();
                if (!g.loop && !--g.iterations) break;
            }
            ch = getch();
        } while (handle_key(ch));
        finish_curses();
        return 0;
    }

    struct sigaction sa {};
    sa.sa_handler = on_exit_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    do {
        gettimeofday(&g.curtime, nullptr);
        top();
        std::fflush(stdout);
        g.oldtime = g.curtime;
        if (!g.loop && !--g.iterations) break;
        sleep(g.delay);
    } while (!g_signal_exit);
    return 0;
}

}  // namespace
}  // namespace xenolith::xentop

int main(int argc, char** argv) { return xenolith::xentop::run(argc, argv); }
