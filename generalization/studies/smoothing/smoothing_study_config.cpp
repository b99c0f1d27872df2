// SmoothingStudyConfig: defaults, the strict JSON form and validation naming
// the dotted key (see smoothing_study.hpp).
#include <cmath>
#include <string>
#include <vector>

#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/io/detail/config_reader.hpp"
#include "gengap/generalization/studies/smoothing/smoothing_study.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

using Json = nlohmann::json;
using detail::config_number;
using detail::ObjectReader;

// S1's groups that describe the random-feature model and its training.
constexpr const char* model_groups[] = {"seed", "model", "train_loss", "schedule", "weighting"};

// This study's defaults for S1's groups, as the keys S1's reader takes (see
// smoothing_model_defaults in smoothing_study.hpp for why).
Json model_defaults_json() { return {{"train_loss", {{"draws_per_sample", 4096}}}}; }

}  // namespace

RandomFeatureModelConfig smoothing_model_defaults() {
  return random_feature_model_config_from_json(model_defaults_json());
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
  o.ode.method = parse_rk_method(likelihood.method);  // InvalidArgument("method")
  o.ode.controller.rtol = likelihood.rtol;
  o.ode.controller.atol = likelihood.atol;
  o.ode.max_steps = likelihood.max_steps;
  return o;
}

ReverseSdeOptions SmoothingStudyConfig::sampler_options() const {
  ReverseSdeOptions o;
  o.method = parse_reverse_sde_method(sampler.method);  // InvalidArgument("method")
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
  ObjectReader root(json, "");
  SmoothingStudyConfig c;
  // S1's groups go through S1's strict reader, over this study's defaults;
  // model.enabled and model.tau_positions are this study's own.
  Json s1 = model_defaults_json();
  for (const std::string group : model_groups) {
    const Json* value = root.find(group);
    if (value == nullptr) continue;
    Json patch = *value;
    if (group == "model") {
      ObjectReader model(*value, "model");
      model.read("enabled", c.model_enabled);
      model.read("tau_positions", c.tau_positions);
      patch.erase("enabled");
      patch.erase("tau_positions");
    }
    detail::merge_into(s1[group], patch);
  }
  root.read_group("segment", [&](ObjectReader& r) {
    r.read("points", c.segment.points);
    r.read("half_length", c.segment.half_length);
  });
  root.read("dims", c.dims);
  root.read_group("sampler", [&](ObjectReader& r) {
    r.read("samples", c.sampler.samples);
    r.read("method", c.sampler.method);
    r.read("steps", c.sampler.steps);
    r.read("rtol", c.sampler.rtol);
    r.read("atol", c.sampler.atol);
    r.read("denoise", c.sampler.denoise);
  });
  root.read_group("smoothing", [&](ObjectReader& r) {
    r.read_named("kernel", c.smoothing.kernel, parse_smoothing_kernel);
    r.read("deltas", c.smoothing.deltas);
    r.read("hermite_nodes", c.smoothing.hermite_nodes);
  });
  root.read_group("metrics", [&](ObjectReader& r) {
    r.read("ratio_threshold", c.metrics.ratio_threshold);
    r.read("bins_per_spacing", c.metrics.bins_per_spacing);
  });
  root.read_group("likelihood", [&](ObjectReader& r) {
    r.read("enabled", c.likelihood.enabled);
    r.read("heldout_points", c.likelihood.heldout_points);
    r.read("method", c.likelihood.method);
    r.read("rtol", c.likelihood.rtol);
    r.read("atol", c.likelihood.atol);
    r.read("max_steps", c.likelihood.max_steps);
  });
  root.finish();
  c.model_base = random_feature_model_config_from_json(s1);
  return c;
}

}  // namespace gengap
