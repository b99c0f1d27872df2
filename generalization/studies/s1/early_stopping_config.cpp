// EarlyStoppingConfig: validation naming the dotted field, and the strict JSON
// form that config files and the command line's --set overrides go through.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/io/detail/config_reader.hpp"
#include "gengap/generalization/studies/s1/early_stopping.hpp"
#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

using Json = nlohmann::json;

using detail::config_number;
using detail::describe_json;
using detail::read_json_double;
using detail::read_json_string;
using detail::read_json_unsigned;
using detail::ObjectReader;
using detail::require_positive;
using detail::rethrow_as;

constexpr EnumName<PopulationLossMethod> population_loss_method_names[] = {
    {PopulationLossMethod::quadrature, "quadrature"}, {PopulationLossMethod::monte_carlo, "monte_carlo"}};

PopulationLossMethod parse_population_loss_method(std::string_view s) {
  return parse_enum_name(s, population_loss_method_names, "method", "method");
}

std::string_view to_string(PopulationLossMethod m) {
  return enum_name(m, population_loss_method_names, "method", "PopulationLossMethod");
}

// Validates one set of likelihood ODE options, naming the config's keys.
void validate_likelihood(const LikelihoodOptions& o, const Schedule& schedule, const std::string& rtol_key,
                         const std::string& atol_key) {
  try {
    o.validate(schedule);
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    const std::string field = what.substr(0, what.find(':'));
    const std::string key = field == "rtol"        ? rtol_key
                            : field == "atol"      ? atol_key
                            : field == "fixed_step" ? "kl.method"
                                                    : "kl." + field;
    if (field == "fixed_step") {
      throw InvalidArgument(key, "must be an adaptive pair (dopri5, tsit5, bosh3), got '" +
                                     std::string(to_string(o.ode.method)) + "'");
    }
    rethrow_as(key, e);
  }
}

// The run holds at most four m x m matrices of doubles at once (during
// dsyevd: G_n, its eigenvectors and LAPACK's 2 m^2 work space; G_n and the
// population G are freed once used): refuse an m whose
// matrices cannot fit in this machine's memory, by name, before anything is
// allocated (instead of std::bad_alloc from deep inside).
}  // namespace

void EarlyStoppingConfig::validate() const {
  require(std::isfinite(target.mu), "target.mu", "must be finite, got " + config_number(target.mu));
  require_positive(target.variance, "target.variance");
  require_positive(n, "n");
  require_positive(gram.lanes, "gram.lanes");
  RandomFeatureModelConfig::validate();
  if (population_loss.method == PopulationLossMethod::quadrature) {
    require_positive(population_loss.time_nodes, "population_loss.time_nodes");
    require_positive(population_loss.space_nodes, "population_loss.space_nodes");
  } else {
    require_positive(population_loss.samples, "population_loss.samples");
  }
  require(tau.points >= 2, "tau.points", "must be at least 2, got " + std::to_string(tau.points));
  require(std::isfinite(tau.eigen_floor) && tau.eigen_floor > 0.0 && tau.eigen_floor < 1.0, "tau.eigen_floor",
          "must lie in (0, 1), got " + config_number(tau.eigen_floor));
  require(tau.saved >= 3 && tau.saved <= tau.points, "tau.saved",
          "must lie in [3, tau.points] (first, a middle and the last tau), got " + std::to_string(tau.saved));
  for (std::size_t i = 0; i < tau.include.size(); ++i) {
    const std::string key = "tau.include[" + std::to_string(i) + "]";
    require(std::isfinite(tau.include[i]) && tau.include[i] > 0.0, key,
            "must be finite and > 0, got " + config_number(tau.include[i]));
    for (std::size_t k = 0; k < i; ++k) {
      require(tau.include[k] != tau.include[i], key, "repeats tau.include[" + std::to_string(k) + "]");
    }
  }
  if (!kl.enabled) return;
  require(kl.test_points != 1, "kl.test_points", "must be 0 (no Monte Carlo KL) or at least 2, got 1");
  require(kl.test_points > 0 || kl.quadrature, "kl.test_points",
          "is 0 and kl.quadrature is false: nothing to compute (set kl.enabled=false)");
  require_positive(kl.tau_stride, "kl.tau_stride");
  require_positive(kl.ode_tau_stride, "kl.ode_tau_stride");
  try {
    parse_rk_method(kl.method);
  } catch (const InvalidArgument& e) {
    rethrow_as("kl.method", e);
  }
  const KlSettings s = kl_settings();
  validate_likelihood(s.likelihood, schedule, "kl.rtol", "kl.atol");
  if (kl.quadrature) {
    validate_likelihood(s.quadrature_likelihood, schedule, "kl.quadrature_rtol", "kl.quadrature_atol");
    require(kl.quadrature_nodes >= 5 && kl.quadrature_nodes % 2 == 1, "kl.quadrature_nodes",
            "must be odd and at least 5, got " + std::to_string(kl.quadrature_nodes));
    require(kl.quadrature_max_nodes >= kl.quadrature_nodes, "kl.quadrature_max_nodes",
            "must be at least kl.quadrature_nodes (" + std::to_string(kl.quadrature_nodes) + "), got " +
                std::to_string(kl.quadrature_max_nodes));
    require_positive(kl.quadrature_tolerance, "kl.quadrature_tolerance");
    require(std::isfinite(kl.quadrature_relative_tolerance) && kl.quadrature_relative_tolerance >= 0.0,
            "kl.quadrature_relative_tolerance",
            "must be finite and non-negative, got " + config_number(kl.quadrature_relative_tolerance));
  }
}

KlSettings EarlyStoppingConfig::kl_settings() const {
  KlSettings s;
  s.test_points = kl.test_points;
  s.likelihood.ode.method = parse_rk_method(kl.method);
  s.likelihood.ode.controller.rtol = kl.rtol;
  s.likelihood.ode.controller.atol = kl.atol;
  s.likelihood.ode.max_steps = kl.max_steps;
  s.likelihood.t_min = kl.t_min;
  s.quadrature = kl.quadrature;
  s.quadrature_likelihood = s.likelihood;
  s.quadrature_likelihood.ode.controller.rtol = kl.quadrature_rtol;
  s.quadrature_likelihood.ode.controller.atol = kl.quadrature_atol;
  s.quadrature_nodes = kl.quadrature_nodes;
  s.quadrature_max_nodes = kl.quadrature_max_nodes;
  s.quadrature_tolerance = kl.quadrature_tolerance;
  s.quadrature_relative_tolerance = kl.quadrature_relative_tolerance;
  return s;
}

namespace {

// Every stride-th row, the saved ones, the included ones and the last, ascending.
std::vector<std::size_t> strided_with_saved(const EarlyStoppingConfig& c, std::size_t stride,
                                            std::span<const std::size_t> included_rows) {
  const std::size_t points = c.grid_points();
  std::vector<bool> chosen(points, false);
  for (std::size_t i = 0; i < points; i += std::max<std::size_t>(stride, 1)) chosen[i] = true;
  for (const std::size_t i : saved_tau_indices(points, c.tau.saved)) chosen[i] = true;
  for (const std::size_t i : included_rows) {
    require(i < points, "included_rows", "row " + std::to_string(i) + " is outside the grid of " +
                                             std::to_string(points));
    chosen[i] = true;
  }
  chosen.back() = true;
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < points; ++i)
    if (chosen[i]) indices.push_back(i);
  return indices;
}

}  // namespace

std::vector<std::size_t> EarlyStoppingConfig::kl_quadrature_indices(std::span<const std::size_t> included_rows) const {
  if (!kl.enabled || !kl.quadrature) return {};
  return strided_with_saved(*this, kl.tau_stride, included_rows);
}

std::vector<std::size_t> EarlyStoppingConfig::kl_ode_indices(std::span<const std::size_t> included_rows) const {
  if (!kl.enabled || kl.test_points == 0) return {};
  return strided_with_saved(*this, kl.ode_tau_stride, included_rows);
}

GaussianMixture EarlyStoppingConfig::target_distribution() const {
  return GaussianMixture::two_modes(target.mu, target.variance);
}

nlohmann::ordered_json to_json(const EarlyStoppingConfig& c) {
  nlohmann::ordered_json j;
  j["seed"] = c.seed;  // the model's groups in S1's key order: seed, target, n, model, ...
  j["target"] = {{"kind", "two_modes"}, {"mu", c.target.mu}, {"variance", c.target.variance}};
  j["n"] = c.n;
  const nlohmann::ordered_json model = to_json(static_cast<const RandomFeatureModelConfig&>(c));
  for (const char* group : {"model", "schedule", "weighting", "train_loss"}) j[group] = model[group];
  j["population_loss"] = {{"method", to_string(c.population_loss.method)},
                          {"time_nodes", c.population_loss.time_nodes},
                          {"space_nodes", c.population_loss.space_nodes},
                          {"samples", c.population_loss.samples}};
  j["tau"] = {{"points", c.tau.points},
              {"eigen_floor", c.tau.eigen_floor},
              {"saved", c.tau.saved},
              {"include", c.tau.include}};
  j["kl"] = {{"enabled", c.kl.enabled},
             {"test_points", c.kl.test_points},
             {"tau_stride", c.kl.tau_stride},
             {"ode_tau_stride", c.kl.ode_tau_stride},
             {"method", c.kl.method},
             {"rtol", c.kl.rtol},
             {"atol", c.kl.atol},
             {"max_steps", c.kl.max_steps},
             {"t_min", c.kl.t_min ? nlohmann::ordered_json(*c.kl.t_min) : nlohmann::ordered_json(nullptr)},
             {"quadrature", c.kl.quadrature},
             {"quadrature_rtol", c.kl.quadrature_rtol},
             {"quadrature_atol", c.kl.quadrature_atol},
             {"quadrature_nodes", c.kl.quadrature_nodes},
             {"quadrature_max_nodes", c.kl.quadrature_max_nodes},
             {"quadrature_tolerance", c.kl.quadrature_tolerance},
             {"quadrature_relative_tolerance", c.kl.quadrature_relative_tolerance},
             {"score_integral", c.kl.score_integral}};
  j["bounds"] = {{"enabled", c.bounds.enabled},
                 {"score_matching", c.bounds.score_matching},
                 {"monte_carlo_error", c.bounds.monte_carlo_error}};
  j["gram"] = {{"lanes", c.gram.lanes}};
  return j;
}

EarlyStoppingConfig early_stopping_config_from_json(const nlohmann::json& json) {
  EarlyStoppingConfig c;
  ObjectReader root(json, "");
  if (const Json* target = root.find("target")) {
    ObjectReader r(*target, "target");
    if (const Json* kind = r.find("kind"); kind != nullptr && read_json_string(*kind, "target.kind") != "two_modes") {
      throw InvalidArgument("target.kind", "unknown target '" + kind->get<std::string>() + "' (expected two_modes)");
    }
    r.read("mu", c.target.mu);
    r.read("variance", c.target.variance);
    r.finish();
  }
  root.read("n", c.n);
  read_model_config(root, c);
  if (const Json* population = root.find("population_loss")) {
    ObjectReader r(*population, "population_loss");
    r.read_named("method", c.population_loss.method, parse_population_loss_method);
    r.read("time_nodes", c.population_loss.time_nodes);
    r.read("space_nodes", c.population_loss.space_nodes);
    r.read("samples", c.population_loss.samples);
    r.finish();
  }
  if (const Json* tau = root.find("tau")) {
    ObjectReader r(*tau, "tau");
    r.read("points", c.tau.points);
    r.read("eigen_floor", c.tau.eigen_floor);
    r.read("saved", c.tau.saved);
    r.read("include", c.tau.include);
    r.finish();
  }
  if (const Json* kl = root.find("kl")) {
    ObjectReader r(*kl, "kl");
    r.read("enabled", c.kl.enabled);
    r.read("test_points", c.kl.test_points);
    r.read("tau_stride", c.kl.tau_stride);
    r.read("ode_tau_stride", c.kl.ode_tau_stride);
    r.read("method", c.kl.method);
    r.read("rtol", c.kl.rtol);
    r.read("atol", c.kl.atol);
    r.read("max_steps", c.kl.max_steps);
    r.read("t_min", c.kl.t_min);
    r.read("quadrature", c.kl.quadrature);
    r.read("quadrature_rtol", c.kl.quadrature_rtol);
    r.read("quadrature_atol", c.kl.quadrature_atol);
    r.read("quadrature_nodes", c.kl.quadrature_nodes);
    r.read("quadrature_max_nodes", c.kl.quadrature_max_nodes);
    r.read("quadrature_tolerance", c.kl.quadrature_tolerance);
    r.read("quadrature_relative_tolerance", c.kl.quadrature_relative_tolerance);
    r.read("score_integral", c.kl.score_integral);
    r.finish();
  }
  if (const Json* bounds = root.find("bounds")) {
    ObjectReader r(*bounds, "bounds");
    r.read("enabled", c.bounds.enabled);
    r.read("score_matching", c.bounds.score_matching);
    r.read("monte_carlo_error", c.bounds.monte_carlo_error);
    r.finish();
  }
  if (const Json* gram = root.find("gram")) {
    ObjectReader r(*gram, "gram");
    r.read("lanes", c.gram.lanes);
    r.finish();
  }
  root.finish();
  return c;
}

}  // namespace gengap
