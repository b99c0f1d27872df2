// EarlyStoppingConfig: validation naming the dotted field, and the strict JSON
// form that config files and the command line's --set overrides go through.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gengap/generalization/detail/config_json.hpp"
#include "gengap/generalization/detail/config_reader.hpp"
#include "gengap/generalization/early_stopping.hpp"
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
using detail::rethrow_as;

TrainLossMethod parse_train_loss_method(std::string_view s) {
  if (s == "monte_carlo") return TrainLossMethod::monte_carlo;
  if (s == "quadrature") return TrainLossMethod::quadrature;
  throw InvalidArgument("method", "unknown method '" + std::string(s) + "' (expected monte_carlo|quadrature)");
}

PopulationLossMethod parse_population_loss_method(std::string_view s) {
  if (s == "quadrature") return PopulationLossMethod::quadrature;
  if (s == "monte_carlo") return PopulationLossMethod::monte_carlo;
  throw InvalidArgument("method", "unknown method '" + std::string(s) + "' (expected quadrature|monte_carlo)");
}

InitialWeights parse_initial_weights(std::string_view s) {
  if (s == "zero") return InitialWeights::zero;
  if (s == "gaussian") return InitialWeights::gaussian;
  throw InvalidArgument("initial_weights", "unknown initial weights '" + std::string(s) + "' (expected zero|gaussian)");
}

std::string_view to_string(TrainLossMethod m) { return m == TrainLossMethod::monte_carlo ? "monte_carlo" : "quadrature"; }
std::string_view to_string(PopulationLossMethod m) {
  return m == PopulationLossMethod::quadrature ? "quadrature" : "monte_carlo";
}
std::string_view to_string(InitialWeights w) { return w == InitialWeights::zero ? "zero" : "gaussian"; }

void require_positive(std::size_t value, const char* key) {
  require(value > 0, key, "must be positive, got " + std::to_string(value));
}
void require_positive(double value, const char* key) {
  require(std::isfinite(value) && value > 0.0, key, "must be positive and finite, got " + config_number(value));
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
    if (field == "fixed_step") throw InvalidArgument(key, "must be an adaptive pair (dopri5, tsit5, bosh3), got '" + o.method + "'");
    rethrow_as(key, e);
  }
}

// The run holds at most four m x m matrices of doubles at once (during
// dsyevd: G_n, its eigenvectors and LAPACK's 2 m^2 work space; G_n and the
// population G are freed once used): refuse an m whose
// matrices cannot fit in this machine's memory, by name, before anything is
// allocated (instead of std::bad_alloc from deep inside).
void require_fits_in_memory(std::size_t m) {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return;  // unknown: let the allocation decide
  const double physical = double(pages) * double(page_size);
  const double needed = 4.0 * 8.0 * double(m) * double(m);
  require(needed <= physical, "model.m",
          config_number(double(m)) + " features need ~" + config_number(std::ceil(needed / 1e9)) +
              " GB for the m x m matrices of the flow, more than this machine's " +
              config_number(std::floor(physical / 1e9)) + " GB");
}

}  // namespace

void EarlyStoppingConfig::validate() const {
  require(std::isfinite(target.mu), "target.mu", "must be finite, got " + config_number(target.mu));
  require_positive(target.variance, "target.variance");
  require_positive(n, "n");
  require_positive(model.m, "model.m");
  require_fits_in_memory(model.m);
  if (model.embedding == EmbeddingKind::fourier || model.embedding == EmbeddingKind::sinusoidal) {
    require(model.embedding_dim > 0 && model.embedding_dim % 2 == 0, "model.embedding_dim",
            "must be even and positive for the " + std::string(to_string(model.embedding)) + " embedding, got " +
                std::to_string(model.embedding_dim));
  }
  if (model.embedding == EmbeddingKind::fourier) require_positive(model.embedding_scale, "model.embedding_scale");
  if (model.embedding_horizon) {
    require(std::isfinite(*model.embedding_horizon) && *model.embedding_horizon > 0.0, "model.embedding_horizon",
            "must be positive and finite (or null: schedule.T), got " + config_number(*model.embedding_horizon));
  }
  if (model.embedding == EmbeddingKind::polynomial) require_positive(model.embedding_dim, "model.embedding_dim");
  for (const auto& [scale, key] : {std::pair{model.w_scale, "model.w_scale"}, std::pair{model.u_scale, "model.u_scale"},
                                   std::pair{model.b_scale, "model.b_scale"}}) {
    require(std::isfinite(scale) && scale >= 0.0, key, "must be finite and non-negative, got " + config_number(scale));
  }
  require(std::isfinite(model.initial_scale) && model.initial_scale >= 0.0, "model.initial_scale",
          "must be finite and non-negative, got " + config_number(model.initial_scale));
  require(std::isfinite(schedule.T) && std::isfinite(schedule.t_min), "schedule.T", "must be finite");
  require(schedule.t_min > 0.0, "schedule.t_min", "must be positive, got " + config_number(schedule.t_min));
  require(schedule.T > schedule.t_min, "schedule.T",
          "must be greater than schedule.t_min (T = " + config_number(schedule.T) +
              ", t_min = " + config_number(schedule.t_min) + ")");
  try {
    schedule.validate();
  } catch (const InvalidArgument& e) {
    // The schedule names its own fields ("T", "sigma_max"); prefix them with
    // the group unless they already carry it.
    const std::string what = e.what();
    const std::string field = what.substr(0, what.find(':'));
    rethrow_as(field.starts_with("schedule") ? field : "schedule." + field, e);
  }
  if (train_loss.method == TrainLossMethod::monte_carlo) {
    require_positive(train_loss.draws_per_sample, "train_loss.draws_per_sample");
  } else {
    require_positive(train_loss.time_nodes, "train_loss.time_nodes");
    require_positive(train_loss.noise_nodes, "train_loss.noise_nodes");
  }
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
  s.likelihood.method = kl.method;
  s.likelihood.rtol = kl.rtol;
  s.likelihood.atol = kl.atol;
  s.likelihood.max_steps = kl.max_steps;
  s.likelihood.t_min = kl.t_min;
  s.quadrature = kl.quadrature;
  s.quadrature_likelihood = s.likelihood;
  s.quadrature_likelihood.rtol = kl.quadrature_rtol;
  s.quadrature_likelihood.atol = kl.quadrature_atol;
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

DsmSetup EarlyStoppingConfig::dsm_setup() const {
  DsmSetup setup;
  setup.schedule = schedule;
  setup.weighting = weighting;
  setup.output_scale = model.output_scale;
  return setup;
}

GaussianMixture EarlyStoppingConfig::target_distribution() const {
  return GaussianMixture::two_modes(target.mu, target.variance);
}

nlohmann::ordered_json to_json(const EarlyStoppingConfig& c) {
  nlohmann::ordered_json j;
  j["seed"] = c.seed;
  j["target"] = {{"kind", "two_modes"}, {"mu", c.target.mu}, {"variance", c.target.variance}};
  j["n"] = c.n;
  j["model"] = {{"m", c.model.m},
                {"activation", to_string(c.model.activation)},
                {"feature_init", to_string(c.model.feature_init)},
                {"embedding", to_string(c.model.embedding)},
                {"embedding_dim", c.model.embedding_dim},
                {"embedding_scale", c.model.embedding_scale},
                {"embedding_horizon", c.model.embedding_horizon ? nlohmann::ordered_json(*c.model.embedding_horizon)
                                                                : nlohmann::ordered_json(nullptr)},
                {"w_scale", c.model.w_scale},
                {"u_scale", c.model.u_scale},
                {"b_scale", c.model.b_scale},
                {"output_scale", to_string(c.model.output_scale)},
                {"initial_weights", to_string(c.model.initial_weights)},
                {"initial_scale", c.model.initial_scale}};
  j["schedule"] = {{"kind", to_string(c.schedule.kind)},       {"T", c.schedule.T},
                   {"t_min", c.schedule.t_min},                {"beta_min", c.schedule.beta_min},
                   {"beta_max", c.schedule.beta_max},          {"sigma_max", c.schedule.sigma_max}};
  j["weighting"] = to_string(c.weighting);
  j["train_loss"] = {{"method", to_string(c.train_loss.method)},
                     {"draws_per_sample", c.train_loss.draws_per_sample},
                     {"time_nodes", c.train_loss.time_nodes},
                     {"noise_nodes", c.train_loss.noise_nodes}};
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
  return j;
}

EarlyStoppingConfig early_stopping_config_from_json(const nlohmann::json& json) {
  EarlyStoppingConfig c;
  ObjectReader root(json, "");
  root.read("seed", c.seed);
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
  if (const Json* model = root.find("model")) {
    ObjectReader r(*model, "model");
    r.read("m", c.model.m);
    r.read_named("activation", c.model.activation, parse_activation);
    r.read_named("feature_init", c.model.feature_init, parse_feature_init);
    r.read_named("embedding", c.model.embedding, parse_embedding);
    r.read("embedding_dim", c.model.embedding_dim);
    r.read("embedding_scale", c.model.embedding_scale);
    r.read("embedding_horizon", c.model.embedding_horizon);
    r.read("w_scale", c.model.w_scale);
    r.read("u_scale", c.model.u_scale);
    r.read("b_scale", c.model.b_scale);
    r.read_named("output_scale", c.model.output_scale, parse_output_scale);
    r.read_named("initial_weights", c.model.initial_weights, parse_initial_weights);
    r.read("initial_scale", c.model.initial_scale);
    r.finish();
  }
  if (const Json* schedule = root.find("schedule")) {
    ObjectReader r(*schedule, "schedule");
    ScheduleKind kind = c.schedule.kind;
    r.read_named("kind", kind, parse_schedule);
    c.schedule = default_schedule(kind);
    r.read("T", c.schedule.T);
    r.read("t_min", c.schedule.t_min);
    r.read("beta_min", c.schedule.beta_min);
    r.read("beta_max", c.schedule.beta_max);
    r.read("sigma_max", c.schedule.sigma_max);
    r.finish();
  }
  root.read_named("weighting", c.weighting, parse_weighting);
  if (const Json* train = root.find("train_loss")) {
    ObjectReader r(*train, "train_loss");
    r.read_named("method", c.train_loss.method, parse_train_loss_method);
    r.read("draws_per_sample", c.train_loss.draws_per_sample);
    r.read("time_nodes", c.train_loss.time_nodes);
    r.read("noise_nodes", c.train_loss.noise_nodes);
    r.finish();
  }
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
  root.finish();
  return c;
}

}  // namespace gengap
