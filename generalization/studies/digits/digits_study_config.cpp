// DigitsStudyConfig: defaults, the strict JSON form and validation naming the
// dotted key (see digits_study.hpp).
#include <cmath>
#include <string>
#include <vector>

#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/io/detail/config_reader.hpp"
#include "gengap/generalization/io/digits.hpp"
#include "gengap/generalization/studies/digits/digits_study.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/solvers/gradient_flow.hpp"

namespace gengap {
namespace {

using Json = nlohmann::json;
using detail::config_number;
using detail::ObjectReader;

constexpr const char* model_groups[] = {"seed", "model", "train_loss", "schedule", "weighting"};

// This study's defaults for S1's groups (digits_model_defaults says why).
Json model_defaults_json() {
  return {{"model", {{"m", 4096}, {"output_scale", "denoiser"}, {"u_scale", 5.0}, {"b_scale", 5.0}}},
          {"train_loss", {{"draws_per_sample", 512}}}};
}

void require_positive(double value, const std::string& key) {
  require(std::isfinite(value) && value > 0.0, key, "must be positive and finite, got " + config_number(value));
}

}  // namespace

RandomFeatureModelConfig digits_model_defaults() { return random_feature_model_config_from_json(model_defaults_json()); }

std::vector<double> DigitsStudyConfig::tau_grid() const { return log_spaced(tau.first, tau.last, tau.points); }
std::vector<double> DigitsStudyConfig::curve_grid() const {
  return log_spaced(tau.curve_first, tau.curve_last, tau.curve_points);
}

void DigitsStudyConfig::validate() const {
  model_base.validate();
  require(std::isfinite(data.lower) && std::isfinite(data.upper) && data.lower < data.upper, "data.upper",
          "must be finite and above data.lower, got [" + config_number(data.lower) + ", " + config_number(data.upper) +
              "]");
  require(data.held_out >= 2, "data.held_out", "must be at least 2, got " + std::to_string(data.held_out));
  require(!data.sizes.empty(), "data.sizes", "must list at least one training-set size");
  for (std::size_t i = 0; i < data.sizes.size(); ++i) {
    const std::string key = "data.sizes[" + std::to_string(i) + "]";
    require(data.sizes[i] >= 2, key, "must be at least 2 (a second-nearest digit), got " + std::to_string(data.sizes[i]));
    require(i == 0 || data.sizes[i] > data.sizes[i - 1], key, "must be above the previous size (increasing)");
  }
  require_positive(tau.first, "tau.first");
  require_positive(tau.last, "tau.last");
  require(tau.last > tau.first, "tau.last", "must be above tau.first");
  require(tau.points >= 2, "tau.points", "must be at least 2, got " + std::to_string(tau.points));
  require_positive(tau.curve_first, "tau.curve_first");
  require_positive(tau.curve_last, "tau.curve_last");
  require(tau.curve_last > tau.curve_first, "tau.curve_last", "must be above tau.curve_first");
  require(tau.curve_points >= 2, "tau.curve_points", "must be at least 2, got " + std::to_string(tau.curve_points));
  require(heldout_loss.draws_per_sample >= 1, "heldout_loss.draws_per_sample", "must be at least 1, got 0");
  require(sampler.samples >= 1, "sampler.samples", "must be at least 1, got 0");
  try {
    sampler_options().validate();
  } catch (const InvalidArgument& e) {
    detail::rethrow_in_group("sampler", e);
  }
  if (likelihood.enabled) {
    require(likelihood.points >= 2, "likelihood.points",
            "must be at least 2 (a standard error), got " + std::to_string(likelihood.points));
    try {
      likelihood_options().validate(model_base.schedule);
    } catch (const InvalidArgument& e) {
      detail::rethrow_in_group("likelihood", e);
    }
  }
  require(std::isfinite(metrics.ratio_threshold) && metrics.ratio_threshold > 0.0 && metrics.ratio_threshold <= 1.0,
          "metrics.ratio_threshold", "must be in (0, 1], got " + config_number(metrics.ratio_threshold));
  require(std::isfinite(metrics.memorized_fraction) && metrics.memorized_fraction > 0.0 &&
              metrics.memorized_fraction <= 1.0,
          "metrics.memorized_fraction", "must be in (0, 1], got " + config_number(metrics.memorized_fraction));
  require(std::isfinite(metrics.fit_confidence) && metrics.fit_confidence > 0.0 && metrics.fit_confidence < 1.0,
          "metrics.fit_confidence", "must be in (0, 1), got " + config_number(metrics.fit_confidence));
}

LikelihoodOptions DigitsStudyConfig::likelihood_options() const {
  LikelihoodOptions o;
  o.ode.method = parse_rk_method(likelihood.method);  // InvalidArgument("method")
  o.ode.controller.rtol = likelihood.rtol;
  o.ode.controller.atol = likelihood.atol;
  o.ode.max_steps = likelihood.max_steps;
  return o;
}

ReverseSdeOptions DigitsStudyConfig::sampler_options() const {
  ReverseSdeOptions o;
  o.method = parse_reverse_sde_method(sampler.method);  // InvalidArgument("method")
  o.steps = sampler.steps;
  o.rtol = sampler.rtol;
  o.atol = sampler.atol;
  o.seed = model_base.seed;
  return o;
}

nlohmann::ordered_json to_json(const DigitsStudyConfig& c) {
  const nlohmann::ordered_json s1 = to_json(c.model_base);
  nlohmann::ordered_json j;
  for (const char* group : model_groups) j[group] = s1[group];
  j["data"] = {{"file", c.data.file.empty() ? std::string(debian_digits_file) : c.data.file},
               {"lower", c.data.lower},
               {"upper", c.data.upper},
               {"held_out", c.data.held_out},
               {"sizes", c.data.sizes}};
  j["tau"] = {{"first", c.tau.first},           {"last", c.tau.last},
              {"points", c.tau.points},         {"curve_first", c.tau.curve_first},
              {"curve_last", c.tau.curve_last}, {"curve_points", c.tau.curve_points}};
  j["heldout_loss"] = {{"draws_per_sample", c.heldout_loss.draws_per_sample}};
  j["sampler"] = {{"samples", c.sampler.samples}, {"method", c.sampler.method}, {"steps", c.sampler.steps},
                  {"rtol", c.sampler.rtol},       {"atol", c.sampler.atol},     {"denoise", c.sampler.denoise}};
  j["likelihood"] = {{"enabled", c.likelihood.enabled}, {"points", c.likelihood.points},
                     {"method", c.likelihood.method},   {"rtol", c.likelihood.rtol},
                     {"atol", c.likelihood.atol},       {"max_steps", c.likelihood.max_steps}};
  j["metrics"] = {{"ratio_threshold", c.metrics.ratio_threshold},
                  {"memorized_fraction", c.metrics.memorized_fraction},
                  {"fit_confidence", c.metrics.fit_confidence}};
  j["images"] = {{"pairs", c.images.pairs}};
  return j;
}

DigitsStudyConfig digits_study_config_from_json(const nlohmann::json& json) {
  ObjectReader root(json, "");
  DigitsStudyConfig c;
  Json s1 = model_defaults_json();
  for (const std::string group : model_groups) {
    if (const Json* value = root.find(group)) detail::merge_into(s1[group], *value);
  }
  root.read_group("data", [&](ObjectReader& r) {
    r.read("file", c.data.file);
    r.read("lower", c.data.lower);
    r.read("upper", c.data.upper);
    r.read("held_out", c.data.held_out);
    r.read("sizes", c.data.sizes);
  });
  root.read_group("tau", [&](ObjectReader& r) {
    r.read("first", c.tau.first);
    r.read("last", c.tau.last);
    r.read("points", c.tau.points);
    r.read("curve_first", c.tau.curve_first);
    r.read("curve_last", c.tau.curve_last);
    r.read("curve_points", c.tau.curve_points);
  });
  root.read_group("heldout_loss", [&](ObjectReader& r) { r.read("draws_per_sample", c.heldout_loss.draws_per_sample); });
  root.read_group("sampler", [&](ObjectReader& r) {
    r.read("samples", c.sampler.samples);
    r.read("method", c.sampler.method);
    r.read("steps", c.sampler.steps);
    r.read("rtol", c.sampler.rtol);
    r.read("atol", c.sampler.atol);
    r.read("denoise", c.sampler.denoise);
  });
  root.read_group("likelihood", [&](ObjectReader& r) {
    r.read("enabled", c.likelihood.enabled);
    r.read("points", c.likelihood.points);
    r.read("method", c.likelihood.method);
    r.read("rtol", c.likelihood.rtol);
    r.read("atol", c.likelihood.atol);
    r.read("max_steps", c.likelihood.max_steps);
  });
  root.read_group("metrics", [&](ObjectReader& r) {
    r.read("ratio_threshold", c.metrics.ratio_threshold);
    r.read("memorized_fraction", c.metrics.memorized_fraction);
    r.read("fit_confidence", c.metrics.fit_confidence);
  });
  root.read_group("images", [&](ObjectReader& r) { r.read("pairs", c.images.pairs); });
  root.finish();
  c.model_base = random_feature_model_config_from_json(s1);
  return c;
}

}  // namespace gengap
