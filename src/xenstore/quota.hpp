// Per-domain quotas with C xenstored's names and defaults, and the maxima
// seen (CONTROL "quota <domid>" / "quota max"). Quotas bind unprivileged
// domains only. A value of 0 disables a quota. A domain may use exactly the
// quota (1000 nodes are fine, the 1001st is ENOSPC).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string_view>

#include "xenstore/types.hpp"

namespace xenolith::xenstore {

enum class Quota : std::uint8_t {
    nodes,              // nodes owned                      ENOSPC
    watches,            // watches registered               ENOSPC
    outstanding,        // replies not yet taken            (stops reading)
    memory,             // bytes of nodes, watches, txns    ENOMEM
    transactions,       // open transactions                ENOSPC
    transaction_nodes,  // nodes touched by one transaction ENOSPC
    node_permissions,   // entries in one SET_PERMS         ENOSPC
    path_max,           // path length below the domain dir EINVAL
    node_size,          // Node::size() of a written node   ENOSPC
};
inline constexpr std::size_t kQuotaCount = 9;

struct QuotaInfo {
    std::string_view name;         // as in CONTROL "quota set <name> <val>"
    std::string_view description;
};
const QuotaInfo& quota_info(Quota q);
std::optional<Quota> quota_by_name(std::string_view name);

inline bool exceeds(std::uint32_t limit, std::uint64_t value) {
    return limit != 0 && value > limit;
}

class Quotas {
public:
    Quotas();  // Xen's defaults

    std::uint32_t hard(Quota q) const { return hard_[index(q)]; }
    // Only "memory" has a soft quota (a warning threshold).
    std::optional<std::uint32_t> soft(Quota q) const { return soft_[index(q)]; }
    void set_hard(Quota q, std::uint32_t v) { hard_[index(q)] = v; }
    bool set_soft(Quota q, std::uint32_t v);

    static std::size_t index(Quota q) { return static_cast<std::size_t>(q); }

private:
    std::array<std::uint32_t, kQuotaCount> hard_{};
    std::array<std::optional<std::uint32_t>, kQuotaCount> soft_{};
};

// Highest values seen, per domain and over all unprivileged domains.
class UsageMaxima {
public:
    void note(domid_t domid, bool privileged, Quota q, std::uint64_t value);
    std::uint64_t domain(domid_t domid, Quota q) const;
    std::uint64_t global(Quota q) const { return global_[Quotas::index(q)]; }
    void reset();
    void forget(domid_t domid) { per_domain_.erase(domid); }

private:
    std::map<domid_t, std::array<std::uint64_t, kQuotaCount>> per_domain_;
    std::array<std::uint64_t, kQuotaCount> global_{};
};

}  // namespace xenolith::xenstore
