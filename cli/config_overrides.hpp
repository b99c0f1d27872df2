#pragma once
// The command line's configuration layer: a JSON config file (optional), then
// each --set key=value in order. Keys are dotted paths into the JSON object
// ("model.m=64", "schedule.kind=ve"); the value is parsed as JSON when it is
// valid JSON ("64", "1e-3", "true", "\"x\"") and taken as a string otherwise
// ("relu").
#include <filesystem>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gengap::cli {

// Reads a JSON object from `path`. A results folder's config.json (which
// holds the parameters under "config" next to "environment", "summary", ...)
// is accepted too: its "config" member is returned, so a run can be repeated.
// Throws InvalidArgument("config", ...) naming the file on any problem.
nlohmann::json load_config_file(const std::filesystem::path& path);

// Applies one "key=value" to `config` (an object), creating intermediate
// objects. Throws InvalidArgument("--set", ...) for a malformed assignment and
// InvalidArgument(<key>, ...) when a parent of the key is not an object.
void apply_assignment(nlohmann::json& config, std::string_view assignment);

// The whole layer in order: the config file (empty path: none), then each
// --set, then --seed when given. The caller parses the result strictly.
nlohmann::json layered_config(const std::filesystem::path& config_file, const std::vector<std::string>& assignments,
                              const std::optional<unsigned long long>& seed);

}  // namespace gengap::cli
