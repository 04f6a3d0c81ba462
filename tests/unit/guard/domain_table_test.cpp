// DomainTable's reservations: a domid and name held by a create still in
// the builder are invisible to every lookup and taken for every other
// create; names are checked by the daemon itself. The builder is replaced
// by one that waits for the test, so no KVM is needed.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "domain/domain_table.hpp"

namespace xenolith::domain {
namespace {

// A builder that reports each domid it is asked for, then waits until the
// test releases it and fails (a real build needs KVM).
class HeldBuilder {
public:
    Result<std::shared_ptr<Domain>> build(const BuildRequest& req) {
        std::unique_lock lock(mu_);
        building_.push_back(req.identity.domid);
        cv_.notify_all();
        cv_.wait(lock, [this] { return released_; });
        return make_error("held builder: no domain");
    }
    domid_t wait_building(std::size_t n) {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return building_.size() >= n; });
        return building_[n - 1];
    }
    void release() {
        std::lock_guard lock(mu_);
        released_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<domid_t> building_;
    bool released_ = false;
};

BuildRequest request(const std::string& name) {
    BuildRequest r;
    r.identity.name = name;
    return r;
}

struct TableWithHeldBuilder : ::testing::Test {
    DomainTable table;
    HeldBuilder builder;
    void SetUp() override {
        table.set_builder([this](const BuildRequest& r) { return builder.build(r); });
    }
    std::future<Result<std::shared_ptr<Domain>>> create_async(const std::string& name) {
        return std::async(std::launch::async, [this, name] { return table.create(request(name)); });
    }
};

TEST_F(TableWithHeldBuilder, reserved_domid_when_looked_up_then_absent_everywhere) {
    auto held = create_async("held");
    const domid_t domid = builder.wait_building(1);
    EXPECT_EQ(table.find(domid), nullptr);  // the event-channel registry: SIGSEGV before
    EXPECT_EQ(table.get(domid), nullptr);
    EXPECT_EQ(table.find_by_name("held"), nullptr);
    EXPECT_EQ(table.find_by_name(std::to_string(domid)), nullptr);
    EXPECT_TRUE(table.all().empty());
    EXPECT_FALSE(table.destroy(domid));
    EXPECT_FALSE(table.rename(domid, "other"));
    builder.release();
    EXPECT_FALSE(held.get());
}

TEST_F(TableWithHeldBuilder, same_name_while_building_then_refused_with_libxl_message) {
    auto first = create_async("dup");
    builder.wait_building(1);
    auto second = table.create(request("dup"));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().what, "Domain with name \"dup\" already exists.");
    builder.release();
    EXPECT_FALSE(first.get());
}

TEST_F(TableWithHeldBuilder, parallel_creates_then_distinct_domids) {
    auto a = create_async("a");
    auto b = create_async("b");
    const domid_t da = builder.wait_building(1);
    const domid_t db = builder.wait_building(2);
    EXPECT_NE(da, db);
    builder.release();
    EXPECT_FALSE(a.get());
    EXPECT_FALSE(b.get());
}

TEST_F(TableWithHeldBuilder, failed_build_then_name_free_again) {
    builder.release();
    EXPECT_FALSE(table.create(request("again")));
    auto r = table.create(request("again"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what, "held builder: no domain");  // not "already exists"
}

TEST_F(TableWithHeldBuilder, domain0_name_then_refused) {
    auto r = table.create(request("Domain-0"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what, "Domain with name \"Domain-0\" already exists.");
}

TEST(ValidDomainName, ordinary_names_then_accepted) {
    EXPECT_TRUE(valid_domain_name("guest-1"));
    EXPECT_TRUE(valid_domain_name("with space.and_dots"));
    EXPECT_TRUE(valid_domain_name(std::string(kMaxDomainNameLength, 'x')));
}

TEST(ValidDomainName, control_characters_then_refused) {
    for (const char* bad : {"tab\there", "esc\x1b[31m", "nl\n", "del\x7f"}) {
        auto st = valid_domain_name(bad);
        ASSERT_FALSE(st) << bad;
        EXPECT_EQ(st.error().what, "Invalid domain name: it must not contain control characters");
    }
}

TEST(ValidDomainName, slash_empty_or_long_then_refused) {
    EXPECT_EQ(valid_domain_name("a/b").error().what,
              "Invalid domain name: it must not contain '/'");
    EXPECT_FALSE(valid_domain_name(""));
    EXPECT_FALSE(valid_domain_name(std::string(kMaxDomainNameLength + 1, 'x')));
}

TEST_F(TableWithHeldBuilder, invalid_name_then_refused_before_building) {
    auto r = table.create(request("a/b"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what, "Invalid domain name: it must not contain '/'");
}

}  // namespace
}  // namespace xenolith::domain
