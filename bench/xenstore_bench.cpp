// The workload of bench/xenstore.sh, one request at a time, against either
// a xenstored unix socket (xs_wire.h framing from src/xenstore) or a
// redis-server unix socket (RESP), as the closest widely used key-value
// store with watches (keyspace notifications) and optimistic transactions
// (WATCH/MULTI/EXEC). Prints "key value" lines for the script.
//
//   xenstore_bench xenstore|redis SOCKET SERVER_PID
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "xenstore/wire.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using xenolith::xenstore::Message;

int connect_unix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
        throw std::runtime_error("cannot connect to " + path + ": " + std::strerror(errno));
    return fd;
}

void send_all(int fd, const void* data, std::size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len) {
        ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed");
        p += n;
        len -= static_cast<std::size_t>(n);
    }
}

// A buffered reader over a socket.
class Input {
public:
    explicit Input(int fd) : fd_(fd) {}
    char get() {
        if (pos_ == len_) fill();
        return buf_[pos_++];
    }
    void read(char* out, std::size_t n) {
        while (n) {
            if (pos_ == len_) fill();
            std::size_t k = std::min(n, len_ - pos_);
            std::memcpy(out, buf_ + pos_, k);
            pos_ += k;
            out += k;
            n -= k;
        }
    }

private:
    void fill() {
        ssize_t n = ::recv(fd_, buf_, sizeof buf_, 0);
        if (n <= 0) throw std::runtime_error("connection closed");
        len_ = static_cast<std::size_t>(n);
        pos_ = 0;
    }
    int fd_;
    char buf_[65536];
    std::size_t pos_ = 0, len_ = 0;
};

// The operations the workload needs, in each store's terms.
class Client {
public:
    virtual ~Client() = default;
    virtual void read(const std::string& key) = 0;
    virtual void write(const std::string& key, const std::string& value) = 0;
    virtual void add_child(const std::string& dir, const std::string& child) = 0;
    virtual std::size_t list(const std::string& dir) = 0;
    virtual void watch(const std::string& key) = 0;
    virtual void wait_event() = 0;
    // read-modify-write in an optimistic transaction; false on conflict
    virtual bool transaction(const std::string& key, const std::string& value) = 0;
    virtual void remove(const std::string& key) = 0;
};

class XsClient final : public Client {
public:
    explicit XsClient(const std::string& path) : fd_(connect_unix(path)), in_(fd_) {}
    ~XsClient() override { ::close(fd_); }

    void read(const std::string& key) override { call(XS_READ, key + '\0'); }
    void write(const std::string& key, const std::string& value) override {
        call(XS_WRITE, key + '\0' + value);
    }
    void add_child(const std::string& dir, const std::string& child) override {
        write(dir + "/" + child, "");
    }
    // As libxenstore's xs_directory(): DIRECTORY, and on E2BIG (a list
    // longer than XENSTORE_PAYLOAD_MAX) DIRECTORY_PART until the list ends.
    std::size_t list(const std::string& dir) override {
        const Message& r = call(XS_DIRECTORY, dir + '\0', 0, true);
        if (r.type != XS_ERROR)
            return static_cast<std::size_t>(std::count(r.payload.begin(), r.payload.end(), '\0'));
        std::size_t offset = 0, count = 0;
        for (;;) {
            const Message& part =
                call(XS_DIRECTORY_PART, dir + '\0' + std::to_string(offset) + '\0');
            const std::string& p = part.payload;
            const std::size_t body = p.find('\0') + 1;  // after "<generation>\0"
            const bool last = p.size() > body && p.back() == '\0' &&
                              (p.size() == body + 1 || p[p.size() - 2] == '\0');
            const std::size_t len = p.size() - body - (last ? 1 : 0);
            count += static_cast<std::size_t>(std::count(p.begin() + static_cast<long>(body),
                                                         p.begin() + static_cast<long>(body + len),
                                                         '\0'));
            offset += len;
            if (last || len == 0) return count;
        }
    }
    void watch(const std::string& key) override {
        call(XS_WATCH, key + '\0' + "tok" + '\0');
        wait_event();  // the initial event
    }
    void wait_event() override {
        while (!pending_events_) next();
        --pending_events_;
    }
    bool transaction(const std::string& key, const std::string& value) override {
        const std::string id = call(XS_TRANSACTION_START, std::string(1, '\0')).payload;
        const auto tx = static_cast<std::uint32_t>(std::strtoul(id.c_str(), nullptr, 10));
        call(XS_READ, key + '\0', tx);
        call(XS_WRITE, key + '\0' + value, tx);
        return call(XS_TRANSACTION_END, std::string("T\0", 2), tx, true).type != XS_ERROR;
    }
    void remove(const std::string& key) override { call(XS_RM, key + '\0'); }

private:
    const Message& call(std::uint32_t type, const std::string& payload, std::uint32_t tx = 0,
                        bool may_fail = false) {
        Message m;
        m.type = type;
        m.req_id = ++req_;
        m.tx_id = tx;
        m.payload = payload;
        auto bytes = xenolith::xenstore::encode_message(m);
        send_all(fd_, bytes.data(), bytes.size());
        for (;;) {
            next();
            if (last_.type == XS_WATCH_EVENT) continue;  // counted by next()
            if (last_.type == XS_ERROR && !may_fail)
                throw std::runtime_error("xenstore error " + last_.payload);
            return last_;
        }
    }
    void next() {
        char hdr[sizeof(xsd_sockmsg)];
        in_.read(hdr, sizeof hdr);
        xsd_sockmsg h;
        std::memcpy(&h, hdr, sizeof h);
        last_.type = h.type;
        last_.payload.resize(h.len);
        in_.read(last_.payload.data(), h.len);
        if (h.type == XS_WATCH_EVENT) ++pending_events_;
    }

    int fd_;
    Input in_;
    std::uint32_t req_ = 0;
    Message last_;
    unsigned pending_events_ = 0;
};

// RESP: a reply is a tree; the workload only needs to consume it.
class RedisClient final : public Client {
public:
    explicit RedisClient(const std::string& path) : fd_(connect_unix(path)), in_(fd_) {}
    ~RedisClient() override { ::close(fd_); }

    void read(const std::string& key) override { call({"GET", key}); }
    void write(const std::string& key, const std::string& value) override {
        call({"SET", key, value});
    }
    void add_child(const std::string& dir, const std::string& child) override {
        call({"SADD", dir, child});
    }
    std::size_t list(const std::string& dir) override { return call({"SMEMBERS", dir}); }
    void watch(const std::string& key) override {
        call({"CONFIG", "SET", "notify-keyspace-events", "K$"});
        call({"SUBSCRIBE", "__keyspace@0__:" + key});
    }
    void wait_event() override { reply(); }  // ["message", channel, "set"]
    bool transaction(const std::string& key, const std::string& value) override {
        call({"WATCH", key});
        call({"GET", key});
        call({"MULTI"});
        call({"SET", key, value});
        return call({"EXEC"}) != kNil;  // nil: a watched key changed
    }
    void remove(const std::string& key) override { call({"DEL", key}); }

private:
    static constexpr std::size_t kNil = ~std::size_t{0};

    std::size_t call(std::initializer_list<std::string> args) {
        std::string out = "*" + std::to_string(args.size()) + "\r\n";
        for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        send_all(fd_, out.data(), out.size());
        return reply();
    }
    std::string line() {
        std::string s;
        for (char c; (c = in_.get()) != '\r';) s += c;
        in_.get();  // '\n'
        return s;
    }
    // Consumes one reply; returns the element count of an array (kNil for
    // a nil bulk or array), else 1.
    std::size_t reply() {
        const char kind = in_.get();
        const std::string l = line();
        switch (kind) {
            case '-': throw std::runtime_error("redis error " + l);
            case '$': {
                long n = std::strtol(l.c_str(), nullptr, 10);
                if (n < 0) return kNil;
                std::string body(static_cast<std::size_t>(n) + 2, '\0');
                in_.read(body.data(), body.size());
                return 1;
            }
            case '*': {
                long n = std::strtol(l.c_str(), nullptr, 10);
                if (n < 0) return kNil;
                for (long i = 0; i < n; ++i) reply();
                return static_cast<std::size_t>(n);
            }
            default: return 1;
        }
    }

    int fd_;
    Input in_;
};

std::unique_ptr<Client> make_client(const std::string& kind, const std::string& path) {
    if (kind == "redis") return std::make_unique<RedisClient>(path);
    return std::make_unique<XsClient>(path);
}

double median_us(std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

template <class F>
double time_each(int n, F&& op) {
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        op(i);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    return median_us(us);
}

long rss_kib(const std::string& pid) {
    std::ifstream f("/proc/" + pid + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

// Commits per second with `clients` connections, each on its own key.
double commit_rate(const std::string& kind, const std::string& path, const std::string& prefix,
                   int clients) {
    std::atomic<bool> go{false}, stop{false};
    std::vector<long> commits(static_cast<std::size_t>(clients), 0);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            auto cl = make_client(kind, path);
            const std::string key = prefix + "tx" + std::to_string(c);
            cl->write(key, "0");
            while (!go) std::this_thread::yield();
            long n = 0;
            while (!stop)
                if (cl->transaction(key, std::to_string(n))) ++n;
            commits[static_cast<std::size_t>(c)] = n;
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto t0 = Clock::now();
    go = true;
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop = true;
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    long total = 0;
    for (long n : commits) total += n;
    return static_cast<double>(total) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: xenstore_bench xenstore|redis SOCKET SERVER_PID\n");
        return 2;
    }
    const std::string kind = argv[1], path = argv[2], pid = argv[3];
    // Same shapes in both stores: xenstore paths, redis keys of equal length.
    const bool xs = kind != "redis";
    const std::string p = xs ? "/bench/" : "bench:";
    try {
        auto a = make_client(kind, path);
        auto b = make_client(kind, path);
        const std::string value(16, 'v');
        a->write(p + "value", value);
        std::printf("read_us %.2f\n", time_each(20000, [&](int) { a->read(p + "value"); }));
        std::printf("write_us %.2f\n",
                    time_each(20000, [&](int) { a->write(p + "value", value); }));

        const std::string dir = p + "dir";
        for (int i = 0; i < 1000; ++i) a->add_child(dir, "child" + std::to_string(i));
        std::size_t listed = 0;
        std::printf("dir1000_us %.2f\n",
                    time_each(2000, [&](int) { listed = a->list(dir); }));
        if (listed < 1000) throw std::runtime_error("directory listed " + std::to_string(listed));

        // Watch-fire latency: b changes the node, a's event arrives.
        const std::string watched = p + "watched";
        a->write(watched, "0");
        auto w = make_client(kind, path);
        w->watch(watched);
        std::printf("watch_us %.2f\n", time_each(2000, [&](int i) {
                        b->write(watched, std::to_string(i));
                        w->wait_event();
                    }));
        w.reset();

        std::printf("tx1_per_s %.0f\n", commit_rate(kind, path, p, 1));
        std::printf("tx8_per_s %.0f\n", commit_rate(kind, path, p, 8));

        // Memory: 10,000 nodes of 16 bytes under one parent.
        const long before = rss_kib(pid);
        for (int i = 0; i < 10000; ++i) a->write(p + "mem/n" + std::to_string(i), value);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const long after = rss_kib(pid);
        std::printf("mem_kib_10k %ld\n", after - before);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xenstore_bench %s: %s\n", kind.c_str(), e.what());
        return 1;
    }
    return 0;
}
