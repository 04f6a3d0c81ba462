// A destroyed domain's nodes: the store's index of the nodes whose
// permissions name a domain, and the removal of orphans it drives, checked
// against the walk of the whole store that it replaced.
#include <map>
#include <random>
#include <tuple>

#include "test_util.hpp"

namespace xenolith::xenstore::test {
namespace {

using V = std::vector<std::string>;

std::string set_perms(Client& c, const std::string& path, const V& perms) {
    std::string p = path + '\0';
    for (const auto& x : perms) p += x + '\0';
    return status(c.send(XS_SET_PERMS, std::move(p)));
}

// Everything a client can observe of a store: path -> value, perms, children.
using Snapshot = std::map<std::string, std::tuple<std::string, std::string, std::string>>;
Snapshot snapshot(const Store& store) {
    Snapshot s;
    store.for_each([&](const std::string& path, const NodeRef& ref) {
        s[path] = {ref->value, perms_to_wire(ref->perms), ref->children};
    });
    return s;
}

// The orphan removal as it was, by walking every node, done by a dom0
// client: the reference the indexed removal must match.
void remove_orphans_by_walk(Server& server, Client& dom0, domid_t domid) {
    V owned, reowned, mentioned;
    server.store().for_each([&](const std::string& path, const NodeRef& ref) {
        const Perms& p = ref->perms;
        if (p[0].domid == domid)
            (path == "/" || path[0] == '@' ? reowned : owned).push_back(path);
        else
            for (std::size_t i = 1; i < p.size(); ++i)
                if (p[i].domid == domid) {
                    mentioned.push_back(path);
                    break;
                }
    });
    auto rewrite = [&](const std::string& path, bool reown) {
        const NodeRef n = server.store().get(path);
        if (!n) return;
        V perms;
        for (std::size_t i = 0; i < n->perms.size(); ++i) {
            Perm p = n->perms[i];
            if (i == 0 && reown) p.domid = 0;
            if (i > 0 && p.domid == domid) continue;
            std::string w;
            append_perm(w, p);
            w.pop_back();  // the NUL
            perms.push_back(w);
        }
        ASSERT_EQ(set_perms(dom0, path, perms), "ok") << path;
    };
    for (const auto& path : reowned) rewrite(path, true);
    std::sort(owned.begin(), owned.end(),
              [](const auto& a, const auto& b) { return a.size() < b.size(); });
    for (const auto& path : owned) {
        if (server.store().exists(path)) {
            ASSERT_EQ(dom0.rm(path), "ok") << path;
        }
    }
    for (const auto& path : mentioned) rewrite(path, false);
}

// A store shaped like a host's: per-domain homes, /vm and /libxl entries,
// shared nodes granting access to several domains, subtrees owned by one
// domain inside another's, nodes naming a domain twice; deterministic.
void populate(Client& dom0, unsigned domains, unsigned seed) {
    std::mt19937 rng(seed);
    auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
    auto dom = [&] { return std::to_string(1 + pick(domains)); };
    const char* kinds = "nrwb";
    for (unsigned d = 1; d <= domains; ++d) {
        const std::string id = std::to_string(d);
        const std::string home = "/local/domain/" + id;
        ASSERT_EQ(dom0.mkdir(home), "ok");
        ASSERT_EQ(set_perms(dom0, home, {"n0", "r" + id}), "ok");
        for (const char* sub : {"device/vbd/768", "control/shutdown", "data", "memory/target"}) {
            ASSERT_EQ(dom0.write(home + "/" + sub, id), "ok");
            ASSERT_EQ(set_perms(dom0, home + "/" + sub, {"n" + id, "r0"}), "ok");
        }
        ASSERT_EQ(dom0.write("/vm/" + id + "/name", "d" + id), "ok");
        ASSERT_EQ(dom0.write("/libxl/" + id + "/type", "pvh"), "ok");
    }
    for (unsigned i = 0; i < 40; ++i) {
        const std::string path = "/shared/" + std::to_string(pick(8)) + "/" + std::to_string(i);
        ASSERT_EQ(dom0.write(path, "x"), "ok");
        V perms{std::string("n") + (pick(3) ? dom() : "0")};
        for (unsigned k = pick(4); k > 0; --k) perms.push_back(kinds[pick(4)] + dom());
        ASSERT_EQ(set_perms(dom0, path, perms), "ok");
    }
    // Parents owned by one domain, children by others (and the reverse).
    for (unsigned i = 0; i < 10; ++i) {
        const std::string a = dom(), b = dom();
        const std::string top = "/nest/" + std::to_string(i);
        ASSERT_EQ(dom0.write(top + "/inner/leaf", "y"), "ok");
        ASSERT_EQ(set_perms(dom0, top, {"n" + a, "r" + b}), "ok");
        ASSERT_EQ(set_perms(dom0, top + "/inner", {"n" + b, "w" + a, "r" + a}), "ok");
    }
    ASSERT_EQ(set_perms(dom0, "@releaseDomain", {"n" + dom(), "r" + dom()}), "ok");
}

class Orphans : public XenstoreTest {};

TEST_F(Orphans, DestructionLeavesTheStoreTheWholeWalkLeft) {
    for (unsigned seed = 1; seed <= 20; ++seed) {
        Server walked;
        Client walked_dom0{walked, walked.connect_socket()};
        Server indexed;
        Client indexed_dom0{indexed, indexed.connect_socket()};
        populate(walked_dom0, 6, seed);
        populate(indexed_dom0, 6, seed);
        ASSERT_EQ(snapshot(walked.store()), snapshot(indexed.store()));
        for (domid_t victim : {domid_t(1 + seed % 6), domid_t(1 + (seed + 3) % 6)}) {
            remove_orphans_by_walk(walked, walked_dom0, victim);
            indexed.domain_destroyed(victim);
            ASSERT_EQ(snapshot(walked.store()), snapshot(indexed.store()))
                << "seed " << seed << ", dom" << victim;
            EXPECT_TRUE(indexed.store().paths_naming(victim).empty());
            auto st = indexed.check();
            ASSERT_TRUE(st.ok()) << (st.ok() ? "" : st.error().what);
        }
    }
}

TEST_F(Orphans, IndexFollowsPermissionChangesWritesAndRemovals) {
    auto naming = [&](domid_t d) {
        V v = server.store().paths_naming(d);
        std::sort(v.begin(), v.end());
        return v;
    };
    dom0.write("/a/b", "1");
    EXPECT_EQ(set_perms(dom0, "/a/b", {"n4", "r5", "w5"}), "ok");
    EXPECT_EQ(naming(4), V{"/a/b"});
    EXPECT_EQ(naming(5), V{"/a/b"});  // named twice, listed once
    EXPECT_EQ(set_perms(dom0, "/a/b", {"n5"}), "ok");
    EXPECT_EQ(naming(4), V{});
    EXPECT_EQ(naming(5), V{"/a/b"});
    dom0.write("/a/b", "2");  // a write keeps the permissions
    EXPECT_EQ(naming(5), V{"/a/b"});
    EXPECT_EQ(set_perms(dom0, "/a", {"n0", "r5"}), "ok");
    std::uint32_t tx = dom0.start();  // a commit goes through the index too
    dom0.write("/a/c", "3", tx);
    EXPECT_EQ(status(dom0.send(XS_SET_PERMS, strs({"/a/c", "n5"}), tx)), "ok");
    EXPECT_EQ(dom0.end(tx), "ok");
    EXPECT_EQ(naming(5), (V{"/a", "/a/b", "/a/c"}));
    EXPECT_EQ(dom0.rm("/a"), "ok");
    EXPECT_EQ(naming(5), V{});
}

TEST_F(Orphans, DestructionLooksOnlyAtTheDomainsNodes) {
    // Many domains' nodes in the store; the destroyed one's index entry
    // holds only its own (its home's children and what names it).
    for (domid_t d = 1; d <= 50; ++d) guest_with_home(d).write("data/x", "1");
    const V mine = server.store().paths_naming(7);
    EXPECT_EQ(mine.size(), 3u);  // its home, data, data/x
    const std::size_t before = server.store().size();
    server.domain_destroyed(7);
    EXPECT_EQ(server.store().size(), before - 3);
    EXPECT_EQ(server.store().paths_naming(7), V{});
    EXPECT_EQ(server.store().paths_naming(8).size(), 3u);
}

}  // namespace
}  // namespace xenolith::xenstore::test
