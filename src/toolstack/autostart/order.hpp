// The order in which auto domains start and stop, from start_after.
//
// Start: a domain is created once every domain it names in start_after is
// running. Level 0 holds the domains with nothing to wait for, level k+1
// those whose latest dependency is in level k; within a level, file-name
// order (so numbered file names still order domains without start_after).
//
// Stop: a domain is asked to shut down once every domain that names it (in
// start_after, directly or through others) has stopped. Stop level 0 holds
// the domains nobody depends on.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "toolstack/autostart/auto_domains.hpp"

namespace xenolith::autostart {

// Indices into the domains vector, level by level.
using Levels = std::vector<std::vector<std::size_t>>;

// The start levels of `domains` (as scan_auto_dir returns them). A
// start_after name must be one of `domains` or in `running` (a domain that
// is already up, started some other way). Errors name every problem, one
// per line, and nothing may be started then: two files defining one name,
// a start_after naming a domain that is neither in `auto_dir` nor running,
// and cycles (each printed as "a -> b -> a", with the domains that wait on
// one).
Result<Levels> plan_start(const std::vector<AutoDomain>& domains,
                          const std::set<std::string>& running, const std::string& auto_dir);

// The stop levels of the domains of `domains` whose names are in `running`.
// Never fails, because stopping must go on whatever the configs say now:
// the order is computed over every domain of the directory (so web ->
// firewall -> netdd still stops web before netdd when firewall is not
// running), a name defined twice counts once, and domains on a cycle stop
// together, each situation with a line in `warnings`.
Levels plan_stop(const std::vector<AutoDomain>& domains, const std::set<std::string>& running,
                 std::vector<std::string>& warnings);

}  // namespace xenolith::autostart
