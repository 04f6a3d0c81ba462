// Helpers for driving a xenstore Server the way a client would.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xenstore/server.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore::test {

// "a\0b\0": each string NUL-terminated, as most requests carry them.
inline std::string strs(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (auto p : parts) {
        s += p;
        s += '\0';
    }
    return s;
}

// "ok" for a successful reply, else the error name ("EACCES").
inline std::string status(const Reply& r) {
    if (r.type != XS_ERROR) return "ok";
    std::string s = r.payload;
    if (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}

inline std::vector<std::string> list(std::string_view payload) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < payload.size()) {
        std::size_t nul = payload.find('\0', pos);
        if (nul == std::string_view::npos) nul = payload.size();
        out.emplace_back(payload.substr(pos, nul - pos));
        pos = nul + 1;
    }
    return out;
}

class Client {
public:
    Client(Server& s, Connection& c) : s_(&s), c_(&c) {}

    Connection& conn() { return *c_; }
    Server& server() { return *s_; }

    Reply send(std::uint32_t type, std::string payload, std::uint32_t tx = 0) {
        Message m;
        m.type = type;
        m.req_id = ++req_;
        m.tx_id = tx;
        m.payload = std::move(payload);
        Reply r = s_->handle(*c_, m);
        s_->reply_sent(*c_);
        EXPECT_EQ(r.req_id, m.req_id);
        EXPECT_EQ(r.tx_id, m.tx_id);
        if (r.type != XS_ERROR) {
            EXPECT_EQ(r.type, m.type);
        }
        EXPECT_LE(r.payload.size(), std::size_t{XENSTORE_PAYLOAD_MAX});
        return r;
    }

    std::string write(std::string_view path, std::string_view value, std::uint32_t tx = 0) {
        std::string p(path);
        p += '\0';
        p += value;
        return status(send(XS_WRITE, std::move(p), tx));
    }
    // Value on success, "<ERROR>" otherwise.
    std::string read(std::string_view path, std::uint32_t tx = 0) {
        Reply r = send(XS_READ, strs({path}), tx);
        return r.type == XS_ERROR ? "<" + status(r) + ">" : r.payload;
    }
    std::string mkdir(std::string_view path, std::uint32_t tx = 0) {
        return status(send(XS_MKDIR, strs({path}), tx));
    }
    std::string rm(std::string_view path, std::uint32_t tx = 0) {
        return status(send(XS_RM, strs({path}), tx));
    }
    std::vector<std::string> dir(std::string_view path, std::uint32_t tx = 0) {
        Reply r = send(XS_DIRECTORY, strs({path}), tx);
        if (r.type == XS_ERROR) return {"<" + status(r) + ">"};
        return list(r.payload);
    }
    std::string get_perms(std::string_view path, std::uint32_t tx = 0) {
        Reply r = send(XS_GET_PERMS, strs({path}), tx);
        if (r.type == XS_ERROR) return "<" + status(r) + ">";
        std::string out;
        for (const auto& p : list(r.payload)) out += (out.empty() ? "" : " ") + p;
        return out;
    }
    std::string set_perms(std::string_view path, std::initializer_list<std::string_view> perms,
                          std::uint32_t tx = 0) {
        std::string p(path);
        p += '\0';
        for (auto x : perms) {
            p += x;
            p += '\0';
        }
        return status(send(XS_SET_PERMS, std::move(p), tx));
    }
    std::string watch(std::string_view path, std::string_view token) {
        return status(send(XS_WATCH, strs({path, token})));
    }
    std::string unwatch(std::string_view path, std::string_view token) {
        return status(send(XS_UNWATCH, strs({path, token})));
    }
    std::uint32_t start() {
        Reply r = send(XS_TRANSACTION_START, strs({""}));
        EXPECT_EQ(status(r), "ok");
        if (r.type == XS_ERROR) return 0;
        return static_cast<std::uint32_t>(std::stoul(r.payload));
    }
    std::string end(std::uint32_t tx, bool commit = true) {
        return status(send(XS_TRANSACTION_END, strs({commit ? "T" : "F"}), tx));
    }
    std::string control(std::initializer_list<std::string_view> args) {
        Reply r = send(XS_CONTROL, strs(args));
        if (r.type == XS_ERROR) return "<" + status(r) + ">";
        std::string s = r.payload;
        if (!s.empty() && s.back() == '\0') s.pop_back();
        return s;
    }

    // Queued watch events as "path token" strings.
    std::vector<std::string> events() {
        std::vector<std::string> out;
        while (auto ev = s_->next_event(*c_)) out.push_back(ev->path + " " + ev->token);
        return out;
    }

private:
    Server* s_;
    Connection* c_;
    std::uint32_t req_ = 0;
};

// A server with the host socket client `dom0` and helpers to add guests.
class XenstoreTest : public ::testing::Test {
protected:
    Client guest(domid_t domid) {
        if (!server.domain_connection(domid)) {
            EXPECT_EQ(status(dom0.send(XS_INTRODUCE,
                                       strs({std::to_string(domid), "4096", "3"}))),
                      "ok");
        }
        return Client(server, *server.domain_connection(domid));
    }
    // Creates /local/domain/<domid> owned by the guest, readable by dom0, as
    // the toolstack does.
    Client guest_with_home(domid_t domid) {
        std::string home = "/local/domain/" + std::to_string(domid);
        EXPECT_EQ(dom0.mkdir(home), "ok");
        EXPECT_EQ(dom0.set_perms(home, {"n" + std::to_string(domid), "r0"}) , "ok");
        return guest(domid);
    }

    void TearDown() override {
        auto st = server.check();
        EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().what);
    }

    Server server;
    Client dom0{server, server.connect_socket()};
};

}  // namespace xenolith::xenstore::test
