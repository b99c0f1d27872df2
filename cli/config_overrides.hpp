#pragma once
// The command line's configuration layer: a JSON config file (optional), then
// each --set key=value in order. Keys are dotted paths into the JSON object
// ("model.m=64", "schedule.kind=ve"); the value is parsed as JSON when it is
// valid JSON ("64", "1e-3", "true", "\"x\"") and taken as a string otherwise
// ("relu").
#include <CLI/CLI.hpp>

#include <cstddef>
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

// The options of every config-driven command (run, study): where the layer
// comes from, and how the run goes.
struct ConfigCommandOptions {
  std::string config_file;               // empty: the defaults only
  std::vector<std::string> assignments;  // --set key=value, in order
  std::optional<unsigned long long> seed;
  std::size_t threads = 0;               // 0: all cores
  bool quiet = false;                    // no progress output
  std::string command_line;              // recorded in config.json

  nlohmann::json layered() const { return layered_config(config_file, assignments, seed); }
};

// The help texts that differ between the commands.
struct ConfigOptionHelp {
  std::string config;  // --config
  std::string set;     // --set
  std::string quiet;   // --quiet
};

// Registers --config, --set, --threads, --seed and --quiet on `command`.
void add_config_options(CLI::App& command, ConfigCommandOptions& options, const ConfigOptionHelp& help);

}  // namespace gengap::cli
