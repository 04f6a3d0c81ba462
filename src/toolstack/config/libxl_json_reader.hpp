// libxl's domain config JSON read back into a DomainConfig: what
// `xl restore` and `xl migrate-receive` do with the config a save file
// carries (libxl_domain_config_from_json), for the fields xenolith acts on.
// The inverse of to_json (json.hpp) for everything to_json writes.
//
// The text comes from a save file or a migration stream, so it is
// untrusted: every field is type-checked, numbers are range-checked as
// build_domain_config checks them, disks and vifs are rebuilt as xl.cfg
// specs and parsed by the same parsers as a config file's (the daemon
// parses the specs again). Fields libxl has and xenolith does not use are
// ignored, as a config file's unknown keys are, without warnings.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "toolstack/config/domain_config.hpp"

namespace xenolith::config {

// Errors read "<source>: <field>: what is wrong", e.g.
// "<saved>: b_info.max_memkb: must be a whole number of MiB".
Result<DomainConfig> domain_config_from_json(const nlohmann::json& config, std::string_view source);

// The same from text; refuses text that is not one JSON object, or that
// nests deeper than libxl's config ever does.
Result<DomainConfig> domain_config_from_json_text(std::string_view text, std::string_view source);

}  // namespace xenolith::config
