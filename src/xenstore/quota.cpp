#include "xenstore/quota.hpp"

extern "C" {
#include <xen/io/xs_wire.h>
}

namespace xenolith::xenstore {

namespace {

constexpr std::array<QuotaInfo, kQuotaCount> kInfo = {{
    {"nodes", "Nodes per domain"},
    {"watches", "Watches per domain"},
    {"outstanding", "Outstanding requests per domain"},
    {"memory", "Total Xenstore memory per domain"},
    {"transactions", "Active transactions per domain"},
    {"transaction-nodes", "Max. number of accessed nodes per transaction"},
    {"node-permissions", "Max. number of permissions per node"},
    {"path-max", "Max. length of a node path"},
    {"node-size", "Max. size of a node"},
}};

}  // namespace

const QuotaInfo& quota_info(Quota q) { return kInfo[Quotas::index(q)]; }

std::optional<Quota> quota_by_name(std::string_view name) {
    for (std::size_t i = 0; i < kInfo.size(); ++i) {
        if (kInfo[i].name == name) return static_cast<Quota>(i);
    }
    return std::nullopt;
}

Quotas::Quotas() {
    set_hard(Quota::nodes, 1000);
    set_hard(Quota::watches, 128);
    set_hard(Quota::outstanding, 20);
    set_hard(Quota::memory, 2 * 1024 * 1024 + 512 * 1024);
    soft_[index(Quota::memory)] = 2 * 1024 * 1024;
    set_hard(Quota::transactions, 10);
    set_hard(Quota::transaction_nodes, 1024);
    set_hard(Quota::node_permissions, 5);
    set_hard(Quota::path_max, XENSTORE_REL_PATH_MAX);
    set_hard(Quota::node_size, 2048);
}

bool Quotas::set_soft(Quota q, std::uint32_t v) {
    if (!soft_[index(q)]) return false;
    soft_[index(q)] = v;
    return true;
}

void UsageMaxima::note(domid_t domid, bool privileged, Quota q, std::uint64_t value) {
    auto& d = per_domain_[domid][Quotas::index(q)];
    if (value > d) d = value;
    auto& g = global_[Quotas::index(q)];
    if (!privileged && value > g) g = value;
}

std::uint64_t UsageMaxima::domain(domid_t domid, Quota q) const {
    auto it = per_domain_.find(domid);
    return it == per_domain_.end() ? 0 : it->second[Quotas::index(q)];
}

void UsageMaxima::reset() {
    per_domain_.clear();
    global_.fill(0);
}

}  // namespace xenolith::xenstore
