#include "config_overrides.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap::cli {

nlohmann::json load_config_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InvalidArgument("config", "cannot open '" + path.string() + "': " + std::strerror(errno));
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message carries the line and column of the problem.
    throw InvalidArgument("config", "'" + path.string() + "' is not valid JSON: " + e.what());
  }
  if (!json.is_object()) throw InvalidArgument("config", "'" + path.string() + "' must hold a JSON object");
  if (json.contains("config") && json.contains("environment") && json["config"].is_object()) {
    return json["config"];
  }
  return json;
}

nlohmann::json layered_config(const std::filesystem::path& config_file, const std::vector<std::string>& assignments,
                              const std::optional<unsigned long long>& seed) {
  nlohmann::json json = config_file.empty() ? nlohmann::json::object() : load_config_file(config_file);
  for (const std::string& assignment : assignments) apply_assignment(json, assignment);
  if (seed) json["seed"] = *seed;
  return json;
}

void apply_assignment(nlohmann::json& config, std::string_view assignment) {
  const std::size_t equals = assignment.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    throw InvalidArgument("--set", "expected key=value, got '" + std::string(assignment) + "'");
  }
  const std::string key(assignment.substr(0, equals));
  const std::string text(assignment.substr(equals + 1));

  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;

  nlohmann::json* node = &config;
  std::size_t begin = 0;
  while (true) {
    const std::size_t dot = key.find('.', begin);
    const std::string part = key.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (part.empty()) throw InvalidArgument("--set", "empty component in key '" + key + "'");
    if (!node->is_object()) {
      throw InvalidArgument(key.substr(0, begin == 0 ? 0 : begin - 1), "is not an object, cannot set '" + key + "'");
    }
    if (dot == std::string::npos) {
      (*node)[part] = std::move(value);
      return;
    }
    nlohmann::json& child = (*node)[part];
    if (child.is_null()) child = nlohmann::json::object();
    node = &child;
    begin = dot + 1;
  }
}

void add_config_options(CLI::App& command, ConfigCommandOptions& options, const ConfigOptionHelp& help) {
  command.add_option("--config", options.config_file, help.config);
  command.add_option("--set", options.assignments, help.set)->type_name("KEY=VALUE");
  command.add_option("--threads", options.threads, "Worker threads (default: all cores)")->check(CLI::Range(1, 4096));
  command.add_option("--seed", options.seed, "Seed of every random stream (overrides the config's seed)");
  command.add_flag("--quiet", options.quiet, help.quiet);
}

}  // namespace gengap::cli
