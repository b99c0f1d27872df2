// StudyConfig: the studies' names and defaults, the flat strict JSON form and
// validation naming the dotted key (see study.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>


#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/io/detail/config_reader.hpp"
#include "gengap/generalization/studies/sweep/study.hpp"
#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

using Json = nlohmann::json;

using detail::config_number;
using detail::describe_json;
using detail::read_json_string;

constexpr EnumName<TauUnit> tau_unit_names[] = {{TauUnit::per_feature, "per_feature"},
                                                {TauUnit::absolute, "absolute"}};

TauUnit parse_tau_unit(std::string_view name) { return parse_enum_name(name, tau_unit_names, "tau_unit", "unit"); }

// The JSON path of the swept key ("model.m" -> {"model", "m"}).
std::vector<std::string> swept_path(StudyKind kind) {
  switch (kind) {
    case StudyKind::modes_shift: return {"target", "mu"};
    case StudyKind::capacity: return {"model", "m"};
    case StudyKind::sample_size: return {"n"};
    case StudyKind::diffusion_time: return {"schedule", "T"};
  }
  return {};
}

bool contains_path(const Json& json, const std::vector<std::string>& path) {
  const Json* node = &json;
  for (const std::string& part : path) {
    if (!node->is_object() || !node->contains(part)) return false;
    node = &(*node)[part];
  }
  return true;
}

// The study's own defaults on top of S1's, as the keys early_stopping_config_from_json reads
// (study.hpp says why each one).
Json base_defaults(StudyKind kind) {
  switch (kind) {
    case StudyKind::modes_shift:
      return {{"kl", {{"tau_stride", 2}, {"ode_tau_stride", 6}}}, {"bounds", {{"enabled", false}}}};
    case StudyKind::capacity:
      return {{"kl", {{"tau_stride", 2}, {"ode_tau_stride", 6}}}, {"bounds", {{"enabled", false}}}};
    case StudyKind::sample_size:
      return {{"model", {{"m", 1024}}},
              {"train_loss", {{"draws_per_sample", 64}}},
              {"kl", {{"tau_stride", 2}, {"ode_tau_stride", 6}, {"test_points", 1000}}},
              {"bounds", {{"enabled", false}}}};
    case StudyKind::diffusion_time:
      return {{"kl", {{"tau_stride", 2}, {"ode_tau_stride", 6}}}, {"bounds", {{"enabled", false}}}};
  }
  return Json::object();
}

StudySweep sweep_defaults(StudyKind kind) {
  StudySweep s;
  switch (kind) {
    case StudyKind::modes_shift: s.values = {1, 2, 3, 4, 5, 6, 8}; break;
    case StudyKind::capacity:
      for (double m = 16; m <= 4096; m *= 2) s.values.push_back(m);
      s.fixed_tau = 1e5;
      break;
    case StudyKind::sample_size:
      for (double n = 125; n <= 64000; n *= 2) s.values.push_back(n);
      break;
    case StudyKind::diffusion_time:
      // Log-spaced over 0.25 ... 10 (ratio ~1.6), round numbers.
      s.values = {0.25, 0.4, 0.63, 1, 1.6, 2.5, 4, 6.3, 10};
      s.fixed_tau = 1e6;
      s.bound_R = 5.0;
      break;
  }
  return s;
}

void read_sweep(StudyKind kind, const Json& json, StudySweep& s) {
  detail::ObjectReader r(json, "sweep");
  if (const Json* value = r.find("study")) {
    const std::string study = read_json_string(*value, "sweep.study");
    StudyKind named;
    try {
      named = parse_study_kind(study);
    } catch (const InvalidArgument&) {
      throw InvalidArgument("sweep.study",
                            "unknown study '" + study + "' (expected modes-shift, capacity, sample-size, diffusion-time or smoothing)");
    }
    // A capacity config's values are m's: read as mu's they would be nonsense.
    require(named == kind, "sweep.study",
            "this config is for the " + study + " study, not " + std::string(to_string(kind)));
  }
  r.read("values", s.values);
  r.read("kl_threshold", s.kl_threshold);
  r.read("fixed_tau", s.fixed_tau);
  r.read_named("tau_unit", s.tau_unit, parse_tau_unit);
  r.read("max_parallel", s.max_parallel);
  r.read("m_per_n", s.m_per_n);
  r.read("bound_R", s.bound_R);
  r.finish();
}

}  // namespace

std::string_view to_string(StudyKind kind) {
  switch (kind) {
    case StudyKind::modes_shift: return "modes-shift";
    case StudyKind::capacity: return "capacity";
    case StudyKind::sample_size: return "sample-size";
    case StudyKind::diffusion_time: return "diffusion-time";
  }
  return "?";
}

StudyKind parse_study_kind(std::string_view name) {
  if (name == "modes-shift") return StudyKind::modes_shift;
  if (name == "capacity") return StudyKind::capacity;
  if (name == "sample-size") return StudyKind::sample_size;
  if (name == "diffusion-time") return StudyKind::diffusion_time;
  throw InvalidArgument("study", "unknown study '" + std::string(name) +
                                     "' (expected modes-shift, capacity, sample-size, diffusion-time or smoothing)");
}

std::string_view swept_key(StudyKind kind) {
  switch (kind) {
    case StudyKind::modes_shift: return "target.mu";
    case StudyKind::capacity: return "model.m";
    case StudyKind::sample_size: return "n";
    case StudyKind::diffusion_time: return "schedule.T";
  }
  return "?";
}

std::string_view study_label(StudyKind kind) {
  switch (kind) {
    case StudyKind::modes_shift: return "S2";
    case StudyKind::capacity: return "S3";
    case StudyKind::sample_size: return "S4";
    case StudyKind::diffusion_time: return "S5";
  }
  return "?";
}

std::size_t features_for(double m_per_n, std::size_t n) {
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(m_per_n * static_cast<double>(n))));
}

std::string_view to_string(TauUnit unit) { return enum_name(unit, tau_unit_names, "tau_unit", "TauUnit"); }

EarlyStoppingConfig StudyConfig::setting(std::size_t k) const {
  require(k < sweep.values.size(), "setting", "index " + std::to_string(k) + " out of range");
  EarlyStoppingConfig c = base;
  const double value = sweep.values[k];
  switch (kind) {
    case StudyKind::modes_shift: c.target.mu = value; break;
    case StudyKind::capacity: c.model.m = static_cast<std::size_t>(value); break;
    case StudyKind::sample_size:
      c.n = static_cast<std::size_t>(value);
      if (sweep.m_per_n) c.model.m = features_for(*sweep.m_per_n, c.n);
      break;
    case StudyKind::diffusion_time: c.schedule.T = value; break;
  }
  if (sweep.fixed_tau) {
    const double tau = *sweep.fixed_tau * tau_scale(k);
    if (std::find(c.tau.include.begin(), c.tau.include.end(), tau) == c.tau.include.end()) {
      c.tau.include.push_back(tau);
    }
  }
  return c;
}

double StudyConfig::tau_scale(std::size_t k) const {
  if (sweep.tau_unit == TauUnit::absolute) return 1.0;
  if (kind == StudyKind::capacity) return sweep.values.at(k);
  if (kind == StudyKind::sample_size && sweep.m_per_n) {
    return static_cast<double>(features_for(*sweep.m_per_n, static_cast<std::size_t>(sweep.values.at(k))));
  }
  return static_cast<double>(base.model.m);
}

std::string StudyConfig::setting_label(std::size_t k) const {
  return std::string(swept_key(kind)) + "=" + config_number(sweep.values.at(k));
}

void StudyConfig::validate() const {
  require(!sweep.values.empty(), "sweep.values", "must hold at least one value");
  const bool integer = kind == StudyKind::capacity || kind == StudyKind::sample_size;
  for (std::size_t i = 0; i < sweep.values.size(); ++i) {
    const std::string key = "sweep.values[" + std::to_string(i) + "]";
    const double v = sweep.values[i];
    require(std::isfinite(v) && v > 0.0, key, "must be positive, got " + config_number(v));
    // 2^53: beyond it a double no longer holds every integer.
    require(!integer || (v == std::floor(v) && v <= 9007199254740992.0), key,
            "must be a positive integer (" + std::string(swept_key(kind)) + "), got " + config_number(v));
    if (i > 0) {
      require(v > sweep.values[i - 1], key,
              "must be greater than sweep.values[" + std::to_string(i - 1) + "] = " + config_number(sweep.values[i - 1]) +
                  " (ascending, distinct), got " + config_number(v));
    }
  }
  require(std::isfinite(sweep.kl_threshold) && sweep.kl_threshold > 0.0, "sweep.kl_threshold",
          "must be positive and finite, got " + config_number(sweep.kl_threshold));
  if (sweep.m_per_n) {
    require(kind == StudyKind::sample_size, "sweep.m_per_n",
            "ties model.m to n: only for the sample-size study (must be null for " + std::string(to_string(kind)) + ")");
    require(std::isfinite(*sweep.m_per_n) && *sweep.m_per_n > 0.0, "sweep.m_per_n",
            "must be positive and finite (or null), got " + config_number(*sweep.m_per_n));
  }
  if (sweep.bound_R) {
    require(kind == StudyKind::diffusion_time, "sweep.bound_R",
            "is the diffusion-time bound's sub-Gaussian constant: only for the diffusion-time study (must be null for " +
                std::string(to_string(kind)) + ")");
    require(std::isfinite(*sweep.bound_R) && *sweep.bound_R > 0.0, "sweep.bound_R",
            "must be positive and finite, got " + config_number(*sweep.bound_R));
  } else {
    require(kind != StudyKind::diffusion_time, "sweep.bound_R", "must be set for the diffusion-time study (default 5)");
  }
  if (sweep.fixed_tau) {
    require(std::isfinite(*sweep.fixed_tau) && *sweep.fixed_tau > 0.0, "sweep.fixed_tau",
            "must be positive and finite (or null), got " + config_number(*sweep.fixed_tau));
  }
  base.validate();
  // What base alone cannot show: a constraint that only the swept value breaks.
  for (std::size_t k = 0; k < sweep.values.size(); ++k) {
    try {
      setting(k).validate();
    } catch (const InvalidArgument& e) {
      throw InvalidArgument("sweep.values[" + std::to_string(k) + "]",
                            "setting " + setting_label(k) + " is invalid: " + e.what());
    }
  }
}

StudyConfig default_study_config(StudyKind kind) { return study_config_from_json(kind, Json::object()); }

nlohmann::ordered_json to_json(const StudyConfig& config) {
  nlohmann::ordered_json j = to_json(config.base);
  // The swept key lives in sweep.values only: a config.json read back must
  // not set it twice (study_config_from_json rejects that).
  const std::vector<std::string> path = swept_path(config.kind);
  nlohmann::ordered_json* node = &j;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) node = &(*node)[path[i]];
  node->erase(path.back());
  if (config.sweep.m_per_n) j["model"].erase("m");  // each setting's m is m_per_n * n
  j["sweep"] = {{"study", to_string(config.kind)},
                {"values", config.sweep.values},
                {"kl_threshold", config.sweep.kl_threshold},
                {"fixed_tau", config.sweep.fixed_tau ? nlohmann::ordered_json(*config.sweep.fixed_tau)
                                                     : nlohmann::ordered_json(nullptr)},
                {"tau_unit", to_string(config.sweep.tau_unit)},
                {"max_parallel", config.sweep.max_parallel},
                {"m_per_n", config.sweep.m_per_n ? nlohmann::ordered_json(*config.sweep.m_per_n)
                                                 : nlohmann::ordered_json(nullptr)},
                {"bound_R", config.sweep.bound_R ? nlohmann::ordered_json(*config.sweep.bound_R)
                                                 : nlohmann::ordered_json(nullptr)}};
  return j;
}

StudyConfig study_config_from_json(StudyKind kind, const nlohmann::json& json) {
  if (!json.is_object()) throw InvalidArgument("config", "expected a JSON object, got " + describe_json(json));
  const std::vector<std::string> path = swept_path(kind);
  if (contains_path(json, path)) {
    throw InvalidArgument(swept_key(kind), "set by the " + std::string(to_string(kind)) +
                                               " study's sweep.values (e.g. --set sweep.values=[...])");
  }
  StudyConfig c;
  c.kind = kind;
  c.sweep = sweep_defaults(kind);
  Json base = base_defaults(kind);
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key() == "sweep") {
      read_sweep(kind, it.value(), c.sweep);
    } else {
      detail::merge_into(base[it.key()], it.value());
    }
  }
  if (c.sweep.m_per_n && json.contains("model") && json["model"].is_object() && json["model"].contains("m")) {
    throw InvalidArgument("model.m", "set by sweep.m_per_n (m = round(m_per_n * n) per setting); remove one of them");
  }
  c.base = early_stopping_config_from_json(base);
  return c;
}

}  // namespace gengap
