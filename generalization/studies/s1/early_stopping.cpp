// run_early_stopping: study S1's training dynamics (see early_stopping.hpp).
#include "gengap/generalization/studies/s1/early_stopping.hpp"

#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <exception>
#include <functional>
#include <optional>

#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/studies/s1/detail/kl_sharing.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/remote_error.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/generalization/studies/model_setup.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace gengap {
namespace {

using detail::gather_kl;
using detail::number_or_null;
using detail::share_kl_work;

std::unique_ptr<DesignPoints> population_design(const EarlyStoppingConfig& c, const GaussianMixture& target,
                                                const DsmSetup& setup) {
  if (c.population_loss.method == PopulationLossMethod::quadrature) {
    return population_quadrature(target, c.population_loss.time_nodes, c.population_loss.space_nodes, setup);
  }
  return population_monte_carlo(target, c.population_loss.samples, setup, c.seed);
}

// Log-spaced training times over the eigen-timescales m^2/lambda_j of G_n. A
// spectrum with one distinct timescale above the floor (m = 1, or G_n of rank
// one) still gets a grid: a decade either side of that timescale.
std::vector<double> training_times(const GradientFlow& flow, std::size_t points) {
  const auto [shortest, longest] = flow.timescale_range();
  if (longest <= shortest * (1.0 + 1e-12)) return log_spaced(shortest / 10.0, longest * 10.0, points);
  return log_spaced(shortest, longest, points);
}

// The log-spaced grid merged with the included times (ascending; a tie keeps
// both rows); `included_rows` receives each included time's row, in
// tau.include's order.
std::vector<double> merged_grid(std::vector<double> grid, const std::vector<double>& include,
                                std::vector<std::size_t>& included_rows) {
  std::vector<double> merged;
  merged.reserve(grid.size() + include.size());
  std::vector<std::size_t> order(include.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return include[a] < include[b]; });
  included_rows.assign(include.size(), 0);
  std::size_t g = 0;
  for (const std::size_t k : order) {
    while (g < grid.size() && grid[g] <= include[k]) merged.push_back(grid[g++]);
    included_rows[k] = merged.size();
    merged.push_back(include[k]);
  }
  while (g < grid.size()) merged.push_back(grid[g++]);
  return merged;
}

// tau* = argmin of the quadrature KL where there is one, else of the Monte Carlo KL.
void summarize_kl(const EarlyStoppingResult& r, EarlyStoppingSummary& s) {
  s.kl_t_min = r.config.kl.t_min.value_or(r.config.schedule.t_min);
  s.kl_floor = std::numeric_limits<double>::quiet_NaN();
  const bool quadrature = r.config.kl.quadrature;
  const auto value = [&](const KlRow& row) { return quadrature ? row.quad : row.ode; };
  const auto error = [&](const KlRow& row) { return quadrature ? row.quad_error : row.ode_se; };
  std::size_t first = r.kl.size(), last = 0;
  for (std::size_t i = 0; i < r.kl.size(); ++i) {
    const KlRow& row = r.kl[i];
    if (!row.evaluated) continue;
    ++s.kl_evaluated;
    s.kl_flagged += row.flags != 0 ? 1 : 0;
    if (!std::isfinite(value(row))) continue;
    first = std::min(first, i);
    last = std::max(last, i);
    if (!s.kl_available || value(row) < s.kl_best) {
      s.kl_available = true;
      s.kl_best_index = i;
      s.kl_best = value(row);
    }
  }
  if (!s.kl_available) return;
  const std::size_t b = s.kl_best_index;
  s.kl_source = quadrature ? "quadrature" : "monte_carlo";
  s.tau_kl_best = r.tau[b];
  s.kl_best_error = error(r.kl[b]);
  s.kl_interior_minimum = b != first && b != last;
  s.kl_last = value(r.kl.back());
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < r.kl.size(); ++i)
    if (r.kl[i].evaluated && std::isfinite(value(r.kl[i]))) rows.push_back(i);
  s.kl_first_minimum_index = b;
  for (std::size_t k = 1; k + 1 < rows.size(); ++k) {
    const double here = value(r.kl[rows[k]]);
    if (here < value(r.kl[rows[k - 1]]) && here < value(r.kl[rows[k + 1]])) {
      s.kl_first_minimum_index = rows[k];
      break;
    }
  }
  s.tau_kl_first_minimum = r.tau[s.kl_first_minimum_index];
  s.kl_first_minimum = value(r.kl[s.kl_first_minimum_index]);
  s.loss_pop_kl_best = r.loss_pop[b];
  s.loss_train_kl_best = r.loss_train[b];
  s.gap_kl_best = r.gap[b];
}

void summarize_bounds(const EarlyStoppingResult& r, EarlyStoppingSummary& s) {
  if (r.bounds.rows.empty()) return;
  s.bounds_available = true;
  const std::size_t at = s.kl_available ? s.kl_best_index : r.tau.size() - 1;
  const BoundRow& row = r.bounds.rows[at];
  s.prior_kl = r.bounds.prior_kl;
  s.score_matching_kl_best = row.score_matching;
  s.likelihood_bound_kl_best = row.likelihood_bound;
  s.distance_to_minimizer = r.bounds.distance_to_minimizer;
  s.rademacher_last = r.bounds.rows.back().rademacher;
  s.monte_carlo_error_max = std::numeric_limits<double>::quiet_NaN();
  for (const BoundRow& b : r.bounds.rows) {
    if (std::isfinite(b.monte_carlo_error))
      s.monte_carlo_error_max = std::isfinite(s.monte_carlo_error_max) ? std::max(s.monte_carlo_error_max, b.monte_carlo_error)
                                                                       : b.monte_carlo_error;
    s.optimization_bound_violations += b.optimization_error > b.optimization_bound ? 1 : 0;
  }
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
  summarize_kl(r, s);
  summarize_bounds(r, s);
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
  if (kl_available) {
    // A missing floor (no quadrature) is null.
    j["kl"] = {{"source", kl_source},
               {"tau_best", tau_kl_best},
               {"best_index", kl_best_index},
               {"kl_best", kl_best},
               {"kl_best_error", number_or_null(kl_best_error)},
               {"interior_minimum", kl_interior_minimum},
               {"tau_first_minimum", tau_kl_first_minimum},
               {"first_minimum_index", kl_first_minimum_index},
               {"kl_first_minimum", kl_first_minimum},
               {"kl_last", number_or_null(kl_last)},
               {"loss_pop_best", loss_pop_kl_best},
               {"loss_train_best", loss_train_kl_best},
               {"gap_best", gap_kl_best},
               {"floor", number_or_null(kl_floor)},
               {"t_min", kl_t_min},
               {"evaluated", kl_evaluated},
               {"flagged", kl_flagged}};
    if (shape_kl_best) j["kl"]["density_at_tau_best"] = shape_kl_best->to_json();
    if (shape_last) j["kl"]["density_at_last_tau"] = shape_last->to_json();
  }
  if (bounds_available) {
    j["bounds"] = {{"at", kl_available ? "tau_kl_best" : "tau_last"},
                   {"prior_kl", number_or_null(prior_kl)},
                   {"score_matching", number_or_null(score_matching_kl_best)},
                   {"likelihood_bound", number_or_null(likelihood_bound_kl_best)},
                   {"distance_to_minimizer", distance_to_minimizer},
                   {"monte_carlo_error_max", number_or_null(monte_carlo_error_max)},
                   {"rademacher_last", rademacher_last},
                   {"optimization_bound_violations", optimization_bound_violations}};
  }
  return j;
}

EarlyStoppingResult run_early_stopping(const EarlyStoppingConfig& config,
                                       const std::function<void(std::string_view)>& on_phase,
                                       const std::function<void(double)>& on_progress, Communicator* ranks) {
  config.validate();
  SingleProcess alone;
  Communicator& world = ranks != nullptr ? *ranks : alone;
  const bool lead = world.rank() == 0;  // rank 0 decomposes, projects and assembles the result
  // All parallelism is TBB's (as in run_study and the CLI): OpenBLAS runs
  // single-threaded, so that no BLAS reduction (dsyevd's) depends on a thread
  // count and every caller of the library gets the command line's bits.
  const ScopedBlasThreads single_threaded_blas(1);
  EarlyStoppingResult r;
  r.config = config;
  const auto start = [&](const char* phase) {
    check_interrupt();
    if (on_phase) on_phase(phase);
    return PhaseTimings::Scope(r.timings, phase);
  };
  GramOptions gram_options;
  gram_options.on_progress = on_progress;
  gram_options.lanes = config.gram.lanes;
  gram_options.world = &world;
  // Work that rank 0 does alone ends with every rank agreeing on its outcome:
  // a failure there must not leave the others waiting for it.
  const auto on_lead = [&](const std::function<void()>& work) {
    std::exception_ptr error;
    if (lead) {
      try {
        work();
      } catch (...) {
        error = std::current_exception();
      }
    }
    throw_if_any_rank_failed(world, error);
  };
  // Counts finished taus of a parallel KL phase for on_progress.
  const auto tau_counter = [&](std::size_t total) {
    return [&on_progress, total, done = std::make_shared<std::atomic<std::size_t>>(0)] {
      const std::size_t now = ++*done;
      if (on_progress) on_progress(static_cast<double>(now) / static_cast<double>(total));
    };
  };
  const DsmSetup setup = config.dsm_setup();
  const GaussianMixture target = config.target_distribution();

  {
    const auto timer = start("training_set");
    r.training_set = target.sample(config.n, config.seed, streams::training_data);
  }
  {
    const auto timer = start("features");
    r.features = model_random_features(config, target.dim());
    r.initial_weights = model_initial_weights(config, target.dim());
  }
  // At most four m x m matrices live at once (2 GiB each at m = 16384): G_n,
  // Q and dsyevd's 2 m^2 work space; G_n is freed once decomposed, the
  // population G (accumulated beside Q) once projected, leaving Q and Q^T G Q
  // for the rest of the run.
  std::optional<GradientFlow> flow;
  {
    QuadraticLoss train;
    {
      const auto timer = start("gram_train");
      train = gram_matrices(r.features, *model_training_design(config, r.training_set, setup), gram_options);
    }
    const auto timer = start("eigendecomposition");
    on_lead([&] {
      flow.emplace(train, r.initial_weights, GradientFlowOptions{config.tau.eigen_floor});
      r.eigenvalues = flow->eigen().values;
    });
  }
  ProjectedLoss projected;
  {
    QuadraticLoss population;
    {
      const auto timer = start("gram_population");
      population = gram_matrices(r.features, *population_design(config, target, setup), gram_options);
    }
    const auto timer = start("projection");
    if (lead) projected = flow->project(population);
  }
  std::vector<std::size_t> quadrature_indices, ode_indices;
  std::vector<Matrix> kl_weights;  // A(tau) where a KL is wanted, computed serially (BLAS)
  on_lead([&] {
    {
      const auto timer = start("curves");
      r.tau = merged_grid(training_times(*flow, config.tau.points), config.tau.include, r.included_indices);
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
      r.saved_indices = saved_tau_indices(points, config.tau.saved);  // points = grid_points()
      for (const std::size_t i : r.saved_indices) r.saved_weights.push_back(flow->weights(r.tau[i]));
    }
    {
      const auto timer = start("bounds");
      if (config.bounds.enabled) {
        BoundSettings settings;
        settings.score_matching = config.bounds.score_matching;
        settings.time_nodes = config.population_loss.time_nodes;
        settings.space_nodes = config.population_loss.space_nodes;
        if (config.bounds.monte_carlo_error && config.train_loss.method == TrainLossMethod::monte_carlo) {
          settings.second_draws = config.train_loss.draws_per_sample;
        }
        r.bounds = bound_terms_along_training(*flow, r.tau, r.loss_train, r.features, target, r.training_set, setup,
                                              settings, config.seed);
      }
    }
  });
  std::optional<KlAlongTraining> kl;
  double floor = std::numeric_limits<double>::quiet_NaN();
  {
    const auto timer = start("kl_setup");
    on_lead([&] {
      r.kl.assign(r.tau.size(), KlRow{});
      quadrature_indices = config.kl_quadrature_indices(r.included_indices);
      ode_indices = config.kl_ode_indices(r.included_indices);
      kl_weights.resize(r.tau.size());
      for (const auto* indices : {&quadrature_indices, &ode_indices}) {
        for (const std::size_t i : *indices)
          if (kl_weights[i].empty()) kl_weights[i] = flow->weights(r.tau[i]);
      }
    });
    // The other ranks get the KL's taus and weights (d x m each): they share the KL's work.
    share_kl_work(world, quadrature_indices, ode_indices, kl_weights);
    if (!quadrature_indices.empty() || !ode_indices.empty()) {
      kl.emplace(target, r.training_set, r.features, setup, config.kl_settings(), config.seed);
      if (config.kl.quadrature) floor = kl->floor().kl;
    }
  }
  // Rank r computes the KL at the taus k with k % R == r (every tau's KL is
  // one independent computation: the same bits on whichever rank).
  const auto ranks_count = static_cast<std::size_t>(world.size()), rank = static_cast<std::size_t>(world.rank());
  const auto own_tasks = [&](std::size_t count) {
    std::vector<std::size_t> tasks;
    for (std::size_t k = rank; k < count; k += ranks_count) tasks.push_back(k);
    return tasks;
  };
  std::vector<KlQuadratureAtTau> quadrature_results(quadrature_indices.size());
  // p_0 and p_theta on row i's final quadrature grid, within the initial window.
  const auto density_snapshot = [&](std::size_t i) {
    const auto at = std::lower_bound(quadrature_indices.begin(), quadrature_indices.end(), i);
    const KlQuadratureResult& q = quadrature_results[static_cast<std::size_t>(at - quadrature_indices.begin())].kl;
    DensitySnapshot snapshot;
    snapshot.index = i;
    snapshot.tau = r.tau[i];
    for (std::size_t j = 0; j < q.x.size(); ++j) {
      if (q.x[j] < kl->lower() || q.x[j] > kl->upper()) continue;
      snapshot.x.push_back(q.x[j]);
      snapshot.p0.push_back(std::exp(q.log_p0[j]));
      snapshot.p_theta.push_back(std::exp(q.log_p_theta[j]));
    }
    return snapshot;
  };
  {
    const auto timer = start("kl_quadrature");
    std::vector<KlQuadratureAtTau>& results = quadrature_results;
    std::vector<double> score_integral(quadrature_indices.size(), std::numeric_limits<double>::quiet_NaN());
    // One tau per task: a quadrature round often has too few new nodes to
    // keep every core busy on its own.
    const std::vector<std::size_t> tasks = own_tasks(quadrature_indices.size());
    const auto tau_done = tau_counter(tasks.size());
    std::exception_ptr error;
    try {
      tbb::parallel_for(std::size_t{0}, tasks.size(), [&](std::size_t t) {
        const std::size_t k = tasks[t];
        const Matrix& A = kl_weights[quadrature_indices[k]];
        results[k] = kl->quadrature(A);
        if (config.kl.score_integral) score_integral[k] = kl->score_integral(A).kl;
        tau_done();
      });
    } catch (...) {
      error = std::current_exception();
    }
    gather_kl(world, error, results, &score_integral);
    for (std::size_t k = 0; lead && k < quadrature_indices.size(); ++k) {
      KlRow& row = r.kl[quadrature_indices[k]];
      const KlQuadratureAtTau& q = results[k];
      row.evaluated = true;
      row.quad = q.kl.kl;
      row.quad_error = q.kl.kl_error;
      row.mass = q.kl.mass;
      row.quad_evaluations = q.evaluations_per_node;
      row.quad_nodes = q.kl.nodes();
      row.score_integral = score_integral[k];
      row.flags |= q.flags;
    }
    for (const std::size_t i : quadrature_indices.empty() ? std::vector<std::size_t>{} : r.saved_indices) {
      r.densities.push_back(density_snapshot(i));
    }
  }
  {
    const auto timer = start("kl_ode");
    std::vector<KlMonteCarloAtTau> results(ode_indices.size());
    const std::vector<std::size_t> tasks = own_tasks(ode_indices.size());
    const auto tau_done = tau_counter(tasks.size());
    std::exception_ptr error;
    try {
      tbb::parallel_for(std::size_t{0}, tasks.size(), [&](std::size_t t) {
        results[tasks[t]] = kl->monte_carlo(kl_weights[ode_indices[tasks[t]]]);
        tau_done();
      });
    } catch (...) {
      error = std::current_exception();
    }
    gather_kl(world, error, results, nullptr);
    for (std::size_t k = 0; lead && k < ode_indices.size(); ++k) {
      KlRow& row = r.kl[ode_indices[k]];
      const KlMonteCarloAtTau& m = results[k];
      row.evaluated = true;
      row.ode = m.kl.kl;
      row.ode_se = m.kl.standard_error;
      row.ode_evaluations = m.evaluations_per_point;
      row.ode_failed = m.kl.failed;
      row.flags |= m.flags;
    }
  }
  if (!lead) return r;  // the others' share is in rank 0's result
  r.summary = summarize(r, *flow);
  r.summary.kl_floor = floor;
  // The included taus and tau* have a KL, so their weights are at hand:
  // kept for callers that evaluate more at those times (the diffusion-time study).
  if (r.summary.kl_available) {
    r.kl_best_weights = kl_weights[r.summary.kl_best_index];
    for (const std::size_t i : r.included_indices) r.included_weights.push_back(kl_weights[i]);
  }
  if (r.summary.kl_available && r.summary.kl_source == "quadrature") {
    r.best_density = density_snapshot(r.summary.kl_best_index);
    // The modes at -|mu| and |mu| (mu = 0 is one mode: no shape to report).
    const double mu = std::abs(config.target.mu);
    const auto shape = [&](const DensitySnapshot& d) { return density_shape(d.x, d.p0, d.p_theta, mu); };
    const DensitySnapshot last = density_snapshot(r.tau.size() - 1);  // the last tau always has a quadrature KL
    if (mu > 0.0 && r.best_density->x.size() >= 2) r.summary.shape_kl_best = shape(*r.best_density);
    if (mu > 0.0 && last.x.size() >= 2) r.summary.shape_last = shape(last);
  }
  return r;
}

}  // namespace gengap
