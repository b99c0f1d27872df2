// SmoothingStudyConfig: defaults, the strict JSON form and validation naming
// the dotted key (see smoothing_study.hpp).
#include <cmath>
#include <string>
#include <vector>

#include "gengap/generalization/detail/config_json.hpp"
#include "gengap/generalization/smoothing_study.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

using Json = nlohmann::json;
using detail::config_number;
using detail::describe_json;
using detail::read_json_double;
using detail::read_json_string;
using detail::read_json_unsigned;

// S1's groups that describe the random-feature model and its training.
constexpr const char* model_groups[] = {"seed", "model", "train_loss", "schedule", "weighting"};

void require_object(const Json& json, const std::string& key) {
  if (!json.is_object()) throw InvalidArgument(key, "expected a JSON object, got " + describe_json(json));
}

bool read_bool(const Json& value, const std::string& key) {
  if (!value.is_boolean()) throw InvalidArgument(key, "expected true or false, got " + describe_json(value));
  return value.get<bool>();
}

std::vector<double> read_doubles(const Json& value, const std::string& key) {
  if (!value.is_array()) throw InvalidArgument(key, "expected an array of numbers, got " + describe_json(value));
  std::vector<double> out;
  for (std::size_t i = 0; i < value.size(); ++i)
    out.push_back(read_json_double(value[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<std::size_t> read_counts(const Json& value, const std::string& key) {
  if (!value.is_array()) throw InvalidArgument(key, "expected an array of integers, got " + describe_json(value));
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < value.size(); ++i)
    out.push_back(read_json_unsigned(value[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

// Calls read(name, value, "group.name") for every key of the group object.
template <class Read>
void for_each_key(const Json& group, const std::string& name, Read read) {
  require_object(group, name);
  for (auto it = group.begin(); it != group.end(); ++it) read(it.key(), it.value(), name + "." + it.key());
}

[[noreturn]] void unknown(const std::string& key) { throw InvalidArgument(key, "unknown key"); }

}  // namespace

EarlyStoppingConfig smoothing_model_defaults() {
  EarlyStoppingConfig c;
  c.train_loss.draws_per_sample = 4096;
  return c;
}

double SmoothingStudyConfig::spacing() const {
  return 2.0 * segment.half_length / static_cast<double>(segment.points - 1);
}

std::string_view to_string(SmoothingScoreKind kind) {
  switch (kind) {
    case SmoothingScoreKind::empirical: return "empirical";
    case SmoothingScoreKind::smoothed: return "smoothed";
    case SmoothingScoreKind::model: return "model";
  }
  return "empirical";
}

void SmoothingStudyConfig::validate() const {
  model_base.validate();
  const auto positive_list = [](const std::vector<double>& v, const std::string& key, bool zero_ok, double upper) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      const bool ok = std::isfinite(v[i]) && (zero_ok ? v[i] >= 0.0 : v[i] > 0.0) && v[i] <= upper;
      require(ok, key + "[" + std::to_string(i) + "]",
              std::string(zero_ok ? "must be in [0, " : "must be positive and at most ") + config_number(upper) +
                  (zero_ok ? "]" : "") + ", got " + config_number(v[i]));
    }
  };
  positive_list(tau_positions, "model.tau_positions", true, 1.0);
  require(segment.points >= 2, "segment.points", "must be at least 2, got " + std::to_string(segment.points));
  require(std::isfinite(segment.half_length) && segment.half_length > 0.0, "segment.half_length",
          "must be positive, got " + config_number(segment.half_length));
  require(!dims.empty(), "dims", "must list at least one dimension");
  for (std::size_t i = 0; i < dims.size(); ++i) {
    require(dims[i] >= 1 && dims[i] <= 4096, "dims[" + std::to_string(i) + "]",
            "must be in [1, 4096], got " + std::to_string(dims[i]));
  }
  require(sampler.samples >= 1, "sampler.samples", "must be at least 1, got 0");
  try {
    sampler_options().validate();
  } catch (const InvalidArgument& e) {
    detail::rethrow_in_group("sampler", e);
  }
  positive_list(smoothing.deltas, "smoothing.deltas", false, 1e6);
  require(smoothing.hermite_nodes >= 1, "smoothing.hermite_nodes", "must be at least 1, got 0");
  require(std::isfinite(metrics.ratio_threshold) && metrics.ratio_threshold > 0.0 && metrics.ratio_threshold <= 1.0,
          "metrics.ratio_threshold", "must be in (0, 1], got " + config_number(metrics.ratio_threshold));
  require(metrics.bins_per_spacing >= 1, "metrics.bins_per_spacing", "must be at least 1, got 0");
  if (likelihood.enabled) {
    require(likelihood.heldout_points >= 2, "likelihood.heldout_points",
            "must be at least 2 (a standard error), got " + std::to_string(likelihood.heldout_points));
    try {
      likelihood_options().validate(model_base.schedule);
    } catch (const InvalidArgument& e) {
      detail::rethrow_in_group("likelihood", e);
    }
  }
}

LikelihoodOptions SmoothingStudyConfig::likelihood_options() const {
  LikelihoodOptions o;
  o.method = likelihood.method;
  o.rtol = likelihood.rtol;
  o.atol = likelihood.atol;
  o.max_steps = likelihood.max_steps;
  return o;
}

ReverseSdeOptions SmoothingStudyConfig::sampler_options() const {
  ReverseSdeOptions o;
  o.method = sampler.method;
  o.steps = sampler.steps;
  o.rtol = sampler.rtol;
  o.atol = sampler.atol;
  o.seed = model_base.seed;
  return o;
}

nlohmann::ordered_json to_json(const SmoothingStudyConfig& c) {
  const nlohmann::ordered_json s1 = to_json(c.model_base);
  nlohmann::ordered_json j;
  for (const char* group : model_groups) j[group] = s1[group];
  j["model"]["enabled"] = c.model_enabled;
  j["model"]["tau_positions"] = c.tau_positions;
  j["segment"] = {{"points", c.segment.points}, {"half_length", c.segment.half_length}};
  j["dims"] = c.dims;
  j["sampler"] = {{"samples", c.sampler.samples},
                  {"method", c.sampler.method},
                  {"steps", c.sampler.steps},
                  {"rtol", c.sampler.rtol},
                  {"atol", c.sampler.atol},
                  {"denoise", c.sampler.denoise}};
  j["smoothing"] = {{"kernel", to_string(c.smoothing.kernel)},
                    {"deltas", c.smoothing.deltas},
                    {"hermite_nodes", c.smoothing.hermite_nodes}};
  j["metrics"] = {{"ratio_threshold", c.metrics.ratio_threshold}, {"bins_per_spacing", c.metrics.bins_per_spacing}};
  j["likelihood"] = {{"enabled", c.likelihood.enabled},
                     {"heldout_points", c.likelihood.heldout_points},
                     {"method", c.likelihood.method},
                     {"rtol", c.likelihood.rtol},
                     {"atol", c.likelihood.atol},
                     {"max_steps", c.likelihood.max_steps}};
  return j;
}

SmoothingStudyConfig smoothing_study_config_from_json(const nlohmann::json& json) {
  require_object(json, "config");
  SmoothingStudyConfig c;
  // S1's groups go through S1's strict reader on top of this study's defaults.
  Json s1 = Json(to_json(smoothing_model_defaults()));
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (key == "model") {
      require_object(value, "model");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (m.key() == "enabled") {
          c.model_enabled = read_bool(m.value(), "model.enabled");
        } else if (m.key() == "tau_positions") {
          c.tau_positions = read_doubles(m.value(), "model.tau_positions");
        } else {
          s1["model"][m.key()] = m.value();
        }
      }
    } else if (key == "seed" || key == "train_loss" || key == "schedule" || key == "weighting") {
      if (key == "schedule" && value.is_object()) {
        // A new schedule kind resets the other schedule fields (S1's rule): pass the group as given.
        s1["schedule"] = value;
      } else if (value.is_object() && s1[key].is_object()) {
        for (auto m = value.begin(); m != value.end(); ++m) s1[key][m.key()] = m.value();
      } else {
        s1[key] = value;
      }
    } else if (key == "segment") {
      for_each_key(value, key, [&](const std::string& name, const Json& v, const std::string& dotted) {
        if (name == "points") c.segment.points = read_json_unsigned(v, dotted);
        else if (name == "half_length") c.segment.half_length = read_json_double(v, dotted);
        else unknown(dotted);
      });
    } else if (key == "dims") {
      c.dims = read_counts(value, "dims");
    } else if (key == "sampler") {
      for_each_key(value, key, [&](const std::string& name, const Json& v, const std::string& dotted) {
        if (name == "samples") c.sampler.samples = read_json_unsigned(v, dotted);
        else if (name == "method") c.sampler.method = read_json_string(v, dotted);
        else if (name == "steps") c.sampler.steps = read_json_unsigned(v, dotted);
        else if (name == "rtol") c.sampler.rtol = read_json_double(v, dotted);
        else if (name == "atol") c.sampler.atol = read_json_double(v, dotted);
        else if (name == "denoise") c.sampler.denoise = read_bool(v, dotted);
        else unknown(dotted);
      });
    } else if (key == "smoothing") {
      for_each_key(value, key, [&](const std::string& name, const Json& v, const std::string& dotted) {
        if (name == "kernel") {
          try {
            c.smoothing.kernel = parse_smoothing_kernel(read_json_string(v, dotted));
          } catch (const InvalidArgument& e) {
            detail::rethrow_as(dotted, e);
          }
        } else if (name == "deltas") {
          c.smoothing.deltas = read_doubles(v, dotted);
        } else if (name == "hermite_nodes") {
          c.smoothing.hermite_nodes = read_json_unsigned(v, dotted);
        } else {
          unknown(dotted);
        }
      });
    } else if (key == "metrics") {
      for_each_key(value, key, [&](const std::string& name, const Json& v, const std::string& dotted) {
        if (name == "ratio_threshold") c.metrics.ratio_threshold = read_json_double(v, dotted);
        else if (name == "bins_per_spacing") c.metrics.bins_per_spacing = read_json_unsigned(v, dotted);
        else unknown(dotted);
      });
    } else if (key == "likelihood") {
      for_each_key(value, key, [&](const std::string& name, const Json& v, const std::string& dotted) {
        if (name == "enabled") c.likelihood.enabled = read_bool(v, dotted);
        else if (name == "heldout_points") c.likelihood.heldout_points = read_json_unsigned(v, dotted);
        else if (name == "method") c.likelihood.method = read_json_string(v, dotted);
        else if (name == "rtol") c.likelihood.rtol = read_json_double(v, dotted);
        else if (name == "atol") c.likelihood.atol = read_json_double(v, dotted);
        else if (name == "max_steps") c.likelihood.max_steps = read_json_unsigned(v, dotted);
        else unknown(dotted);
      });
    } else {
      unknown(key);
    }
  }
  c.model_base = early_stopping_config_from_json(s1);
  return c;
}

}  // namespace gengap
