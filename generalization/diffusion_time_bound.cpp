// The diffusion-time bound's terms at one horizon (diffusion_time_bound.hpp).
#include "gengap/generalization/diffusion_time_bound.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "gengap/generalization/bound_terms.hpp"
#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/quadrature.hpp"

namespace gengap {
namespace {

void require_one_dimensional(const Matrix& training) {
  require(training.rows() >= 1, "training", "must hold at least one point");
  require(training.cols() == 1, "training",
          "must be n x 1 (the bound's Gauss-Hermite rule is one-dimensional), got d = " + std::to_string(training.cols()));
  require_finite(training.flat(), "training");
}

// L_T: max over the t nodes of the mean over points i and draws r of
// |s_theta(mu_t x_i + sigma_t z_ir, t)|, the same z_ir at every t (so the
// curve in t is smooth), z_ir from streams::bound_noise; and the Monte Carlo
// standard error of that mean at the maximising node given the training set:
// sqrt(sum_i v_i / R) / n with v_i the variance over point i's R draws. (The
// spread over i would also count the fixed training points' differences.)
struct ScoreNorm {
  double value = 0.0;
  double standard_error = 0.0;
};
ScoreNorm score_norm_statistic(const Schedule& schedule, const Matrix& training, const RandomFeatures& rf,
                               const Matrix& A, const DsmSetup& setup, const DiffusionTimeBoundOptions& options) {
  const std::size_t n = training.rows(), R = options.score_draws, N = n * R;
  const ScoreDivergenceField score = random_feature_score(rf, A, setup);
  const CounterRng rng(options.seed, streams::bound_noise);
  const QuadratureRule times = gauss_legendre(options.score_time_nodes, schedule.t_min, schedule.T);
  std::vector<double> z(N);
  for (std::size_t k = 0; k < N; ++k) z[k] = rng.normal(k);
  Matrix x(N, 1);
  std::vector<double> t(N), s(N);
  ScoreNorm largest;
  const double draws = static_cast<double>(R);
  for (const double tk : times.nodes) {
    const double mu = schedule.mean_scale(tk), sigma = schedule.std_dev(tk);
    for (std::size_t k = 0; k < N; ++k) x(k, 0) = mu * training(k / R, 0) + sigma * z[k];
    std::fill(t.begin(), t.end(), tk);
    score(t, x.view(), s, {});
    double total = 0.0, within = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::span<const double> point(s.data() + i * R, R);
      double sum = 0.0;
      for (const double v : point) sum += std::abs(v);
      const double mean = sum / draws;
      // Two passes: deviations from the mean, not sum of squares minus square.
      double squares = 0.0;
      for (const double v : point) squares += (std::abs(v) - mean) * (std::abs(v) - mean);
      total += mean;
      within += squares / (draws - 1.0);
    }
    const double value = total / static_cast<double>(n);
    if (value <= largest.value) continue;
    largest.value = value;
    largest.standard_error = std::sqrt(within / draws) / static_cast<double>(n);
  }
  return largest;
}

}  // namespace

void DiffusionTimeBoundOptions::validate() const {
  require(std::isfinite(R) && R > 0.0, "R", "must be positive and finite, got " + std::to_string(R));
  require(hermite_nodes >= 2, "hermite_nodes", "must be at least 2, got " + std::to_string(hermite_nodes));
  require(score_time_nodes >= 1, "score_time_nodes", "must be at least 1, got 0");
  require(score_draws >= 2, "score_draws",
          "must be at least 2 (the standard error needs two draws per point), got " + std::to_string(score_draws));
  require(std::isfinite(prior_kl_tolerance) && prior_kl_tolerance > 0.0, "prior_kl_tolerance",
          "must be positive and finite, got " + std::to_string(prior_kl_tolerance));
}

double gaussian_kl_to_prior(std::span<const double> mean, double variance, double prior_variance) {
  require(std::isfinite(variance) && variance > 0.0, "variance", "must be positive and finite");
  require(std::isfinite(prior_variance) && prior_variance > 0.0, "prior_variance", "must be positive and finite");
  const double d = static_cast<double>(mean.size());
  double sq = 0.0;
  for (const double m : mean) sq += m * m;
  const double ratio = variance / prior_variance;
  // d/2 (ratio - 1 - log ratio): log1p keeps the logarithm accurate when the
  // variance is close to the prior's (large T).
  const double excess = ratio - 1.0;
  return 0.5 * (sq / prior_variance + d * (excess - std::log1p(excess)));
}

double encoder_information(const Matrix& training, double mu, double sigma, std::size_t hermite_nodes) {
  require_one_dimensional(training);
  require(std::isfinite(mu), "mu", "must be finite");
  require(std::isfinite(sigma) && sigma > 0.0, "sigma", "must be positive and finite");
  require(hermite_nodes >= 2, "hermite_nodes", "must be at least 2, got " + std::to_string(hermite_nodes));
  const std::size_t n = training.rows(), H = hermite_nodes;
  const QuadratureRule rule = gauss_hermite_normal(H);
  // Node k of point i: x = mu x_i + sigma eps_k; there
  //   log E_T(x_i)(x) = -eps_k^2 / 2 - log(2 pi sigma^2) / 2,
  // and log p_T^n(x) by the empirical score's streaming log-sum-exp.
  Matrix x(n * H, 1);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < H; ++k) x(i * H + k, 0) = mu * training(i, 0) + sigma * rule.nodes[k];
  const EmpiricalScore empirical(training.view());
  const EmpiricalScore::Values p = empirical.evaluate(x.view(), mu, sigma);
  const double log_norm = -0.5 * std::log(2.0 * std::numbers::pi * sigma * sigma);
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    double kl = 0.0;
    for (std::size_t k = 0; k < H; ++k) {
      const double log_q = log_norm - 0.5 * rule.nodes[k] * rule.nodes[k];
      kl += rule.weights[k] * (log_q - p.log_density[i * H + k]);
    }
    total += kl;
  }
  // Each KL is >= 0 and I_T <= log n; the rule's error can only push an exact 0
  // (one point, or all points equal) a rounding below it.
  return std::max(0.0, total / static_cast<double>(n));
}

double diffusion_integral(const Schedule& schedule) {
  const QuadratureRule rule = gauss_legendre(64, 0.0, schedule.T);
  double sum = 0.0;
  for (std::size_t k = 0; k < rule.nodes.size(); ++k) sum += rule.weights[k] * schedule.diffusion_squared(rule.nodes[k]);
  return sum;
}

DiffusionTimeBound diffusion_time_data_terms(const Schedule& schedule, const Matrix& training,
                                             const std::optional<GaussianMixture>& target,
                                             const DiffusionTimeBoundOptions& options) {
  options.validate();
  schedule.validate();
  require_one_dimensional(training);
  const std::size_t n = training.rows();
  const double mu = schedule.mean_scale(schedule.T), sigma = schedule.std_dev(schedule.T);
  const double v = schedule.prior_variance();

  DiffusionTimeBound b;
  b.T = schedule.T;
  double encoder_kl = 0.0, encoder_root = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double mean = mu * training(i, 0);
    const double kl = gaussian_kl_to_prior({&mean, 1}, sigma * sigma, v);
    encoder_kl += kl;
    encoder_root += std::sqrt(kl);
  }
  b.encoder_kl = encoder_kl / static_cast<double>(n);
  b.information = encoder_information(training, mu, sigma, options.hermite_nodes);
  b.prior_kl_data = std::max(0.0, b.encoder_kl - b.information);
  if (target) {
    const PriorKl exact = prior_kl(*target, schedule, options.prior_kl_tolerance);
    b.prior_kl = exact.kl;
    b.prior_kl_error = exact.error;
  }
  b.encoder_term = std::numbers::sqrt2 * options.R * encoder_root / static_cast<double>(n);
  b.diffusion_integral = diffusion_integral(schedule);
  return b;
}

DiffusionTimeBound diffusion_time_bound(const DiffusionTimeBound& data_terms, const Schedule& schedule,
                                        const Matrix& training, const RandomFeatures& rf, const Matrix& A,
                                        const DsmSetup& setup, double train_loss,
                                        const DiffusionTimeBoundOptions& options) {
  options.validate();
  require_one_dimensional(training);
  require(data_terms.T == schedule.T, "data_terms", "were computed at T = " + std::to_string(data_terms.T) +
                                                        ", not at the schedule's T = " + std::to_string(schedule.T));
  require(std::isfinite(train_loss), "train_loss", "must be finite, got " + std::to_string(train_loss));
  require(rf.dim() == 1, "rf", "must be a model of d = 1, got d = " + std::to_string(rf.dim()));
  require(A.rows() == 1 && A.cols() == rf.num_features(), "A",
          "must be 1 x " + std::to_string(rf.num_features()) + ", got " + std::to_string(A.rows()) + " x " +
              std::to_string(A.cols()));
  const double n = static_cast<double>(training.rows());
  DiffusionTimeBound b = data_terms;
  const ScoreNorm L = score_norm_statistic(schedule, training, rf, A, setup, options);
  b.score_norm = L.value;
  b.score_norm_se = L.standard_error;
  // The generator term is linear in L_T; every other term is deterministic
  // given the training set, so L_T's error is the bound's.
  const double per_unit_L = std::numbers::sqrt2 * options.R * std::sqrt(b.diffusion_integral / (2.0 * n));
  b.generator_term = per_unit_L * b.score_norm;
  b.generator_term_se = per_unit_L * b.score_norm_se;
  b.bound_se = b.generator_term_se;
  b.train_loss = train_loss;
  b.bound = train_loss - b.information + b.encoder_term + b.generator_term;
  if (!std::isfinite(b.bound)) throw NumericalError("diffusion_time_bound: a non-finite term at T = " + std::to_string(schedule.T));
  return b;
}

DiffusionTimeBound diffusion_time_bound(const Schedule& schedule, const Matrix& training, const RandomFeatures& rf,
                                        const Matrix& A, const DsmSetup& setup, double train_loss,
                                        const std::optional<GaussianMixture>& target,
                                        const DiffusionTimeBoundOptions& options) {
  return diffusion_time_bound(diffusion_time_data_terms(schedule, training, target, options), schedule, training, rf,
                              A, setup, train_loss, options);
}

GridMinimum grid_minimum(std::span<const double> x, std::span<const double> y) {
  require(!x.empty(), "x", "must hold at least one point");
  require(x.size() == y.size(), "x", "has " + std::to_string(x.size()) + " points but y has " + std::to_string(y.size()));
  for (std::size_t k = 0; k < x.size(); ++k) {
    require(std::isfinite(x[k]) && x[k] > 0.0, "x", "must be positive and finite (x[" + std::to_string(k) + "])");
    if (k > 0) require(x[k] > x[k - 1], "x", "must be ascending (x[" + std::to_string(k) + "] <= x[" + std::to_string(k - 1) + "])");
  }
  std::optional<std::size_t> best;
  for (std::size_t k = 0; k < y.size(); ++k)
    if (std::isfinite(y[k]) && (!best || y[k] < y[*best])) best = k;
  require(best.has_value(), "y", "has no finite value");
  GridMinimum g;
  g.index = *best;
  g.x = x[g.index];
  g.value = y[g.index];
  g.interior = g.index > 0 && g.index + 1 < x.size();
  if (!g.interior || !std::isfinite(y[g.index - 1]) || !std::isfinite(y[g.index + 1])) return g;
  // Parabola through (log x, y) at the three points; its vertex if it opens upwards.
  const double u0 = std::log(x[g.index - 1]), u1 = std::log(x[g.index]), u2 = std::log(x[g.index + 1]);
  const double y0 = y[g.index - 1], y1 = y[g.index], y2 = y[g.index + 1];
  const double d01 = (y1 - y0) / (u1 - u0), d12 = (y2 - y1) / (u2 - u1);
  const double curvature = (d12 - d01) / (u2 - u0);  // half the second derivative
  if (!(curvature > 0.0)) return g;
  // Vertex of y = y0 + d01 (u - u0) + curvature (u - u0)(u - u1).
  const double vertex = 0.5 * (u0 + u1) - d01 / (2.0 * curvature);
  g.x = std::exp(std::clamp(vertex, u0, u2));
  return g;
}

}  // namespace gengap
