// bound_terms_along_training: docs/math.md §10's terms along tau (see bound_terms.hpp).
#include "gengap/generalization/bound_terms.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "gengap/generalization/kl.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace gengap {
namespace {

// sum_z weight_z/2 |y_z|^2 over a design: the A-independent term of the
// explicit score-matching loss (the design's own loss0 is the DSM constant).
double half_weighted_target_norm(const DesignPoints& design) {
  constexpr std::size_t tile_rows = 4096;
  DesignTile tile;
  double sum = 0.0;
  for (std::size_t begin = 0; begin < design.size(); begin += tile_rows) {
    const std::size_t end = std::min(design.size(), begin + tile_rows);
    design.fill(begin, end, tile);
    const std::size_t d = design.dim();
    for (std::size_t r = 0; r < tile.rows(); ++r) {
      double norm = 0.0;
      for (std::size_t i = 0; i < d; ++i) norm += tile.y(r, i) * tile.y(r, i);
      sum += 0.5 * tile.weight[r] * norm;
    }
  }
  return sum;
}

// J_SM(A(tau); g^2) at every tau: the explicit score-matching loss under the
// likelihood weighting, as a quadratic loss whose constant is replaced by the
// target term, projected on the flow's eigenbasis once.
std::vector<double> score_matching_along(const GradientFlow& flow, std::span<const double> tau,
                                         const RandomFeatures& features, const GaussianMixture& target,
                                         const DsmSetup& setup, const BoundSettings& settings) {
  DsmSetup likelihood = setup;
  likelihood.weighting = Weighting::likelihood;
  const auto design = population_quadrature(target, settings.time_nodes, settings.space_nodes, likelihood);
  QuadraticLoss loss = gram_matrices(features, *design);
  loss.L0 = half_weighted_target_norm(*design);
  std::vector<double> j = flow.losses(flow.project(loss), tau);
  // The design averages over t ~ U[t_min, T]; J_SM integrates over t.
  const double horizon = setup.schedule.T - setup.schedule.t_min;
  for (double& value : j) value *= horizon;
  return j;
}

std::vector<double> second_draws_loss_along(const GradientFlow& flow, std::span<const double> tau,
                                            const RandomFeatures& features, MatrixView training_set,
                                            const DsmSetup& setup, std::size_t draws, std::uint64_t seed) {
  const auto design =
      empirical_monte_carlo(training_set, draws, setup, seed, streams::second_draws, streams::second_draws_noise);
  return flow.losses(flow.project(gram_matrices(features, *design)), tau);
}

double frobenius_norm(const Matrix& B) {
  double sum = 0.0;
  for (const double b : B.flat()) sum += b * b;
  return std::sqrt(sum);
}

}  // namespace

void BoundSettings::validate() const {
  if (score_matching) {
    require(time_nodes >= 1, "time_nodes", "must be at least 1, got 0");
    require(space_nodes >= 1, "space_nodes", "must be at least 1, got 0");
  }
  require(std::isfinite(prior_kl_tolerance) && prior_kl_tolerance > 0.0, "prior_kl_tolerance",
          "must be finite and > 0, got " + std::to_string(prior_kl_tolerance));
}

PriorKl prior_kl(const GaussianMixture& target, const Schedule& schedule, double tolerance) {
  require(target.dim() == 1, "target",
          "KL(p_T || pi) is computed by quadrature in d = 1; got d = " + std::to_string(target.dim()));
  const GaussianMixture p_T = target.diffused(schedule.mean_scale(schedule.T), schedule.std_dev(schedule.T));
  double lower = -40.0 * std::sqrt(schedule.prior_variance()), upper = -lower;
  for (std::size_t k = 0; k < p_T.components(); ++k) {
    const double spread = 40.0 * std::sqrt(p_T.covariance(k)(0, 0));
    lower = std::min(lower, p_T.means()(k, 0) - spread);
    upper = std::max(upper, p_T.means()(k, 0) + spread);
  }
  KlQuadratureOptions options;
  options.lower = lower;
  options.upper = upper;
  options.initial_nodes = 257;
  options.max_nodes = 16385;
  options.tolerance = tolerance;
  const auto log_p_T = [&](std::span<const double> x, std::span<double> out) {
    p_T.log_density(MatrixView{x.data(), x.size(), 1}, out);
  };
  const auto log_prior = [&](std::span<const double> x, std::span<double> out) {
    for (std::size_t k = 0; k < x.size(); ++k) out[k] = schedule.log_prior(x.subspan(k, 1));
  };
  const KlQuadratureResult q = kl_quadrature(log_p_T, log_prior, options);
  if (!std::isfinite(q.kl)) throw NumericalError("KL(p_T || pi): quadrature gave a non-finite value");
  return {q.kl, q.kl_error};
}

BoundTerms bound_terms_along_training(const GradientFlow& flow, std::span<const double> tau,
                                      std::span<const double> loss_train, const RandomFeatures& features,
                                      const GaussianMixture& target, MatrixView training_set, const DsmSetup& setup,
                                      const BoundSettings& settings, std::uint64_t seed) {
  settings.validate();
  require(loss_train.size() == tau.size(), "loss_train",
          "needs one value per tau (" + std::to_string(tau.size()) + "), got " + std::to_string(loss_train.size()));
  require(training_set.rows >= 1, "training_set", "must not be empty");
  const std::size_t count = tau.size();
  const double m = static_cast<double>(flow.num_features()), n = static_cast<double>(training_set.rows);

  BoundTerms terms;
  terms.rows.assign(count, BoundRow{});
  for (const double lambda : flow.eigen().values) terms.gram_trace += std::max(0.0, lambda);
  const double distance_squared = flow.distance_to_minimizer_squared();
  terms.distance_to_minimizer = std::sqrt(distance_squared);

  const bool score_matching = settings.score_matching && target.dim() <= 2;
  std::vector<double> j_sm;
  if (score_matching) j_sm = score_matching_along(flow, tau, features, target, setup, settings);
  if (target.dim() == 1) {
    const PriorKl prior = prior_kl(target, setup.schedule, settings.prior_kl_tolerance);
    terms.prior_kl = prior.kl;
    terms.prior_kl_error = prior.error;
  }
  std::vector<double> second;
  if (settings.second_draws > 0) {
    second = second_draws_loss_along(flow, tau, features, training_set, setup, settings.second_draws, seed);
  }

  for (std::size_t i = 0; i < count; ++i) {
    BoundRow& row = terms.rows[i];
    const double t = tau[i];
    if (score_matching) {
      row.score_matching = j_sm[i];
      row.likelihood_bound = j_sm[i] + terms.prior_kl;
    }
    row.optimization_error = flow.optimality_gap(t);
    row.optimization_bound = t > 0.0 ? distance_squared / (2.0 * t) : std::numeric_limits<double>::infinity();
    if (!second.empty()) {
      row.loss_train_second = second[i];
      row.monte_carlo_error = std::abs(loss_train[i] - second[i]) / std::sqrt(2.0);
    }
    row.rademacher = frobenius_norm(flow.eigen_weights(t)) * std::sqrt(terms.gram_trace) / (m * std::sqrt(n));
    row.theorem_tau4_mn = std::pow(t, 4) / (m * n);
    row.theorem_tau3_m2 = std::pow(t, 3) / (m * m);
    row.theorem_inv_tau = 1.0 / t;
    row.theorem_inv_m = 1.0 / m;
  }
  return terms;
}

}  // namespace gengap
