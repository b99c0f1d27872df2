// run_early_stopping: study S1's training dynamics (see early_stopping.hpp).
#include "gengap/generalization/early_stopping.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace gengap {
namespace {

std::unique_ptr<DesignPoints> training_design(const EarlyStoppingConfig& c, MatrixView data, const DsmSetup& setup) {
  if (c.train_loss.method == TrainLossMethod::monte_carlo) {
    return empirical_monte_carlo(data, c.train_loss.draws_per_sample, setup, c.seed);
  }
  return empirical_quadrature(data, c.train_loss.time_nodes, c.train_loss.noise_nodes, setup);
}

std::unique_ptr<DesignPoints> population_design(const EarlyStoppingConfig& c, const GaussianMixture& target,
                                                const DsmSetup& setup) {
  if (c.population_loss.method == PopulationLossMethod::quadrature) {
    return population_quadrature(target, c.population_loss.time_nodes, c.population_loss.space_nodes, setup);
  }
  return population_monte_carlo(target, c.population_loss.samples, setup, c.seed);
}

TimeEmbedding time_embedding(const EarlyStoppingConfig& c) {
  if (c.model.embedding == EmbeddingKind::fourier) {
    return fourier_embedding(c.model.embedding_dim, c.model.embedding_scale, c.seed);
  }
  return linear_embedding(c.schedule.T);
}

Matrix initial_weights(const EarlyStoppingConfig& c, std::size_t d) {
  Matrix A0(d, c.model.m, 0.0);
  if (c.model.initial_weights == InitialWeights::gaussian) {
    CounterRng(c.seed, streams::initial_weights).fill_normal(A0.flat());
    for (double& a : A0.flat()) a *= c.model.initial_scale;
  }
  return A0;
}

// Log-spaced training times over the eigen-timescales m^2/lambda_j of G_n. A
// spectrum with one distinct timescale above the floor (m = 1, or G_n of rank
// one) still gets a grid: a decade either side of that timescale.
std::vector<double> training_times(const GradientFlow& flow, std::size_t points) {
  const auto [shortest, longest] = flow.timescale_range();
  if (longest <= shortest * (1.0 + 1e-12)) return log_spaced(shortest / 10.0, longest * 10.0, points);
  return log_spaced(shortest, longest, points);
}

EarlyStoppingSummary summarize(const EarlyStoppingResult& r, const GradientFlow& flow) {
  EarlyStoppingSummary s;
  const auto best = std::min_element(r.loss_pop.begin(), r.loss_pop.end());
  s.best_index = static_cast<std::size_t>(best - r.loss_pop.begin());
  s.tau_best = r.tau[s.best_index];
  s.loss_pop_best = r.loss_pop[s.best_index];
  s.loss_train_best = r.loss_train[s.best_index];
  s.gap_best = r.gap[s.best_index];
  s.tau_last = r.tau.back();
  s.loss_train_last = r.loss_train.back();
  s.loss_pop_last = r.loss_pop.back();
  s.gap_last = r.gap.back();
  s.norm_growth_last = r.norm_growth.back();
  s.lambda_max = r.eigenvalues.empty() ? 0.0 : r.eigenvalues.back();
  const double floor = r.config.tau.eigen_floor * s.lambda_max;
  for (const double lambda : r.eigenvalues) {
    if (lambda > floor) {
      if (s.eigen_kept == 0) s.lambda_min_kept = lambda;
      ++s.eigen_kept;
    }
  }
  const auto [shortest, longest] = flow.timescale_range();
  s.timescale_min = shortest;
  s.timescale_max = longest;
  return s;
}

}  // namespace

std::vector<std::size_t> saved_tau_indices(std::size_t points, std::size_t saved) {
  require(points >= 2, "tau.points", "must be at least 2, got " + std::to_string(points));
  require(saved >= 2 && saved <= points, "tau.saved",
          "must lie in [2, tau.points], got " + std::to_string(saved));
  std::vector<std::size_t> indices(saved);
  for (std::size_t k = 0; k < saved; ++k) {
    // Integer rounding of k (points-1)/(saved-1): exact, and distinct because
    // consecutive targets are at least one apart when saved <= points.
    const std::size_t numerator = k * (points - 1);
    indices[k] = (2 * numerator + (saved - 1)) / (2 * (saved - 1));
  }
  return indices;
}

nlohmann::ordered_json EarlyStoppingSummary::to_json() const {
  nlohmann::ordered_json j;
  j["tau_best"] = tau_best;
  j["best_index"] = best_index;
  j["loss_pop_best"] = loss_pop_best;
  j["loss_train_best"] = loss_train_best;
  j["gap_best"] = gap_best;
  j["tau_last"] = tau_last;
  j["loss_train_last"] = loss_train_last;
  j["loss_pop_last"] = loss_pop_last;
  j["gap_last"] = gap_last;
  j["norm_growth_last"] = norm_growth_last;
  j["eigen"] = {{"lambda_max", lambda_max},
                {"lambda_min_kept", lambda_min_kept},
                {"kept", eigen_kept},
                {"timescale_min", timescale_min},
                {"timescale_max", timescale_max}};
  return j;
}

EarlyStoppingResult run_early_stopping(const EarlyStoppingConfig& config,
                                       const std::function<void(std::string_view)>& on_phase) {
  config.validate();
  EarlyStoppingResult r;
  r.config = config;
  const auto start = [&](const char* phase) {
    if (on_phase) on_phase(phase);
    return PhaseTimings::Scope(r.timings, phase);
  };
  const DsmSetup setup = config.dsm_setup();
  const GaussianMixture target = config.target_distribution();

  {
    const auto timer = start("training_set");
    r.training_set = target.sample(config.n, config.seed, streams::training_data);
  }
  {
    const auto timer = start("features");
    r.features = draw_random_features(config.model.m, target.dim(), time_embedding(config), config.model.activation,
                                      config.model.feature_init, config.seed);
    r.initial_weights = initial_weights(config, target.dim());
  }
  QuadraticLoss train;
  QuadraticLoss population;
  {
    const auto timer = start("gram_train");
    train = gram_matrices(r.features, *training_design(config, r.training_set, setup));
  }
  {
    const auto timer = start("gram_population");
    population = gram_matrices(r.features, *population_design(config, target, setup));
  }
  std::optional<GradientFlow> flow;
  {
    const auto timer = start("eigendecomposition");
    flow.emplace(train, r.initial_weights, GradientFlowOptions{config.tau.eigen_floor});
    r.eigenvalues = flow->eigen().values;
  }
  ProjectedLoss projected;
  {
    const auto timer = start("projection");
    projected = flow->project(population);
  }
  {
    const auto timer = start("curves");
    r.tau = training_times(*flow, config.tau.points);
    const std::size_t points = r.tau.size();
    r.loss_train.resize(points);
    r.loss_pop.resize(points);
    r.gap.resize(points);
    r.norm_growth.resize(points);
    for (std::size_t i = 0; i < points; ++i) {
      r.loss_train[i] = flow->train_loss(r.tau[i]);
      r.loss_pop[i] = flow->loss(projected, r.tau[i]);
      r.gap[i] = r.loss_pop[i] - r.loss_train[i];
      r.norm_growth[i] = flow->distance_from_start(r.tau[i]);
    }
    for (std::size_t i = 0; i < points; ++i) {
      if (!std::isfinite(r.loss_train[i]) || !std::isfinite(r.loss_pop[i]) || !std::isfinite(r.norm_growth[i])) {
        throw NumericalError("early stopping: non-finite loss at tau = " + std::to_string(r.tau[i]));
      }
    }
    r.saved_indices = saved_tau_indices(points, config.tau.saved);
    for (const std::size_t i : r.saved_indices) r.saved_weights.push_back(flow->weights(r.tau[i]));
  }
  r.summary = summarize(r, *flow);
  return r;
}

}  // namespace gengap
