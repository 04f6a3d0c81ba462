// What the device sub-grammars (disk=, vif=) report: an error or warnings,
// each at a byte offset into the spec string, so the caller can turn it into
// file:line:column.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace xenolith::config {

struct SpecIssue {
    std::size_t offset = 0;  // byte offset into the spec
    std::string message;
};

struct SpecIssues {
    std::optional<SpecIssue> error;  // the first error; parsing stops there
    std::vector<SpecIssue> warnings;

    bool failed() const { return error.has_value(); }
    // Records the first error only; returns false so callers can `return fail(...)`.
    bool fail(std::size_t offset, std::string message) {
        if (!error) error = SpecIssue{offset, std::move(message)};
        return false;
    }
    void warn(std::size_t offset, std::string message) {
        warnings.push_back(SpecIssue{offset, std::move(message)});
    }
};

}  // namespace xenolith::config
