// Design points of the DSM loss (docs/math.md §4, §5): the four sources against
// closed forms (probability mass, L_0), against each other (quadrature vs
// large-sample Monte Carlo, within standard errors estimated from the per-point
// contributions), the documented counter-based indexing, and argument checks.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace gengap {
namespace {

// A 2-d mixture with full, correlated covariances (exercises the Cholesky paths).
GaussianMixture correlated_mixture() {
  Matrix means(2, 2, std::vector<double>{-1.5, 0.5, 1.0, -0.5});
  std::vector<Matrix> covs{Matrix(2, 2, std::vector<double>{1.0, 0.5, 0.5, 2.0}),
                           Matrix(2, 2, std::vector<double>{0.5, -0.2, -0.2, 0.8})};
  return GaussianMixture({0.3, 0.7}, std::move(means), std::move(covs));
}

DesignTile fill_all(const DesignPoints& points) {
  DesignTile tile;
  points.fill(0, points.size(), tile);
  return tile;
}

double sum(const std::vector<double>& v) {
  long double s = 0.0L;
  for (double x : v) s += x;
  return static_cast<double>(s);
}

// E_{t ~ U[t_min, T]} sigma_t^2 for OU: 1 - (e^{-2 t_min} - e^{-2T}) / (2 (T - t_min)).
double ou_mean_variance(const Schedule& s) {
  return 1.0 - (std::exp(-2.0 * s.t_min) - std::exp(-2.0 * s.T)) / (2.0 * (s.T - s.t_min));
}

// ---------------------------------------------------------------- closed forms

TEST(DesignTile, ResizeSetsEveryShape) {
  DesignTile tile;
  tile.resize(5, 3);
  EXPECT_EQ(tile.rows(), 5u);
  EXPECT_EQ(tile.x.rows(), 5u);
  EXPECT_EQ(tile.x.cols(), 3u);
  EXPECT_EQ(tile.y.rows(), 5u);
  EXPECT_EQ(tile.y.cols(), 3u);
  EXPECT_EQ(tile.weight.size(), 5u);
  EXPECT_EQ(tile.loss0.size(), 5u);
  tile.resize(2, 1);
  EXPECT_EQ(tile.x.size(), 2u);
  EXPECT_EQ(tile.y.size(), 2u);
}

// With lambda = sigma^2 and c = 1, w = sigma_t^2 and w |y|^2 = |eps|^2, so the
// total weight is E_t[sigma_t^2] (closed form) and L_0 = d/2 exactly in
// expectation; the quadrature rules (GL weights sum to T - t_min, GH weights
// to 1, exact for these integrands up to GL's smooth-integrand error, below
// 1e-13 with 40 nodes for e^{-2t}) must reproduce both to rounding.
TEST(PopulationQuadrature, MassAndL0MatchClosedForms) {
  const DsmSetup setup = ou_setup();
  for (const GaussianMixture& target : {GaussianMixture::two_modes(2.0), correlated_mixture()}) {
    const auto points = population_quadrature(target, 40, 9, setup);
    const std::size_t d = target.dim();
    ASSERT_EQ(points->size(), 40u * 2u * (d == 1 ? 9u : 81u));
    const DesignTile tile = fill_all(*points);
    EXPECT_NEAR(sum(tile.weight), ou_mean_variance(setup.schedule), 1e-13);
    EXPECT_NEAR(sum(tile.loss0), 0.5 * static_cast<double>(d), 1e-13);
  }
}

// Empirical quadrature: the GH rule reproduces E[eps^2] = 1 exactly (degree 2
// <= 2H - 1), so sum loss0 = 1/2 E_t[w |eps|^2 / (sigma^2 c^2)] = d/2, and the
// mean of x_t over the points is E_t[mu_t] * mean(x_0) (E eps = 0):
// E_t[e^{-t}] = (e^{-t_min} - e^{-T}) / (T - t_min).
TEST(EmpiricalQuadrature, MassL0AndMeanMatchClosedForms) {
  const DsmSetup setup = ou_setup();
  const Matrix data = normal_data(4, 2);
  const auto points = empirical_quadrature(data, 40, 5, setup);
  ASSERT_EQ(points->size(), 4u * 40u * 25u);
  const DesignTile tile = fill_all(*points);
  EXPECT_NEAR(sum(tile.weight), ou_mean_variance(setup.schedule), 1e-13);
  EXPECT_NEAR(sum(tile.loss0), 1.0, 1e-13);
  const Schedule& s = setup.schedule;
  const double mean_mu = (std::exp(-s.t_min) - std::exp(-s.T)) / (s.T - s.t_min);
  for (std::size_t j = 0; j < 2; ++j) {
    // Probability masses are weight / w(t) = weight / sigma_t^2.
    long double mean = 0.0L;
    for (std::size_t p = 0; p < tile.rows(); ++p) mean += tile.weight[p] / s.variance(tile.t[p]) * tile.x(p, j);
    const double data_mean = (data(0, j) + data(1, j) + data(2, j) + data(3, j)) / 4.0;
    EXPECT_NEAR(static_cast<double>(mean), mean_mu * data_mean, 1e-12);
  }
}

// The documented indexing: point p = i K + k uses x_0 = data row i,
// t = t_min + (T - t_min) uniform(p) of dsm_time, eps_j = normal(p d + j) of
// dsm_noise; weight = w/(nK), y = -eps/(sigma c). Recomputed here from the
// OU closed forms with c = 1/sigma and lambda = g^2 = 2.
TEST(EmpiricalMonteCarlo, PointsFollowTheDocumentedDraws) {
  const DsmSetup setup = ou_setup(Weighting::likelihood, OutputScale::inv_sigma);
  const std::size_t n = 3, K = 4, d = 2;
  const Matrix data = normal_data(n, d);
  const std::uint64_t seed = 42;
  const auto points = empirical_monte_carlo(data, K, setup, seed);
  ASSERT_EQ(points->size(), n * K);
  DesignTile tile;
  points->fill(5, 11, tile);  // an interior range: fill must not depend on where it starts
  ASSERT_EQ(tile.rows(), 6u);
  const CounterRng time_rng(seed, streams::dsm_time), noise_rng(seed, streams::dsm_noise);
  const Schedule& s = setup.schedule;
  for (std::size_t r = 0; r < 6; ++r) {
    const std::size_t p = 5 + r, i = p / K;
    const double t = s.t_min + (s.T - s.t_min) * time_rng.uniform(p);
    const double mu = std::exp(-t), sigma = std::sqrt(-std::expm1(-2.0 * t));
    const double c = 1.0 / sigma, w = 2.0 * c * c;
    EXPECT_DOUBLE_EQ(tile.t[r], t);
    EXPECT_NEAR(tile.weight[r], w / (n * K), 1e-14 * w);
    for (std::size_t j = 0; j < d; ++j) {
      const double eps = noise_rng.normal(p * d + j);
      EXPECT_NEAR(tile.x(r, j), mu * data(i, j) + sigma * eps, 1e-14 * (1.0 + std::abs(data(i, j))));
      EXPECT_NEAR(tile.y(r, j), -eps / (sigma * c), 1e-14 * (1.0 + std::abs(eps)));
    }
    // loss0 is the point's mass times L_0 = d/2 E_t[lambda / sigma^2] (closed form).
    const double L0 = 0.5 * static_cast<double>(d) *
                      ou_mean_lambda_over_variance(setup.weighting, s.t_min, s.T);
    EXPECT_NEAR(tile.loss0[r], L0 / (n * K), 1e-12 * L0 / (n * K));
  }
}

// ------------------------------------------------ quadrature vs Monte Carlo

// Per-entry estimate and standard error of (G lower triangle, C, L_0) from the
// per-point contributions v_p = weight_p phi phi^T etc. Points are i.i.d.
// within consecutive strata of `stratum` points (one training sample's K draws
// for the empirical MC; all N for the population MC), so
// Var(sum v) = sum_strata S * (sample variance of v in the stratum).
struct Estimate {
  std::vector<double> value;
  std::vector<double> se;
};

Estimate monte_carlo_estimate(const RandomFeatures& rf, const DesignPoints& points, std::size_t stratum) {
  const std::size_t m = rf.num_features(), d = rf.dim(), N = points.size();
  const std::size_t entries = m * (m + 1) / 2 + m * d + 1;
  std::vector<long double> total(entries, 0.0L), variance(entries, 0.0L);
  std::vector<long double> s1(entries), s2(entries);
  std::vector<double> v(entries);
  DesignTile tile;
  for (std::size_t first = 0; first < N; first += stratum) {
    std::fill(s1.begin(), s1.end(), 0.0L);
    std::fill(s2.begin(), s2.end(), 0.0L);
    points.fill(first, first + stratum, tile);
    const Matrix phi = features(rf, tile.x, tile.t);
    for (std::size_t p = 0; p < stratum; ++p) {
      const double w = tile.weight[p];
      const auto f = phi.row(p);
      std::size_t e = 0;
      for (std::size_t j = 0; j < m; ++j)
        for (std::size_t k = 0; k <= j; ++k) v[e++] = w * f[j] * f[k];
      for (std::size_t j = 0; j < m; ++j)
        for (std::size_t l = 0; l < d; ++l) v[e++] = w * f[j] * tile.y(p, l);
      v[e++] = tile.loss0[p];
      for (std::size_t q = 0; q < entries; ++q) {
        s1[q] += v[q];
        s2[q] += static_cast<long double>(v[q]) * v[q];
      }
    }
    const long double S = static_cast<long double>(stratum);
    for (std::size_t q = 0; q < entries; ++q) {
      total[q] += s1[q];
      variance[q] += S * (s2[q] - s1[q] * s1[q] / S) / (S - 1.0L);
    }
  }
  Estimate out{std::vector<double>(entries), std::vector<double>(entries)};
  for (std::size_t q = 0; q < entries; ++q) {
    out.value[q] = static_cast<double>(total[q]);
    out.se[q] = std::sqrt(std::max(0.0, static_cast<double>(variance[q])));  // rounding can dip below 0
  }
  return out;
}

std::vector<double> flatten(const QuadraticLoss& loss) {
  const std::size_t m = loss.num_features(), d = loss.dim();
  std::vector<double> out;
  for (std::size_t j = 0; j < m; ++j)
    for (std::size_t k = 0; k <= j; ++k) out.push_back(loss.G(j, k));
  for (std::size_t j = 0; j < m; ++j)
    for (std::size_t l = 0; l < d; ++l) out.push_back(loss.C(j, l));
  out.push_back(loss.L0);
  return out;
}

// Quadrature (deterministic, converged) vs Monte Carlo: every entry within 4
// standard errors. With m = 10 there are at most 76 entries; under normality
// (the CLT at N >= 2^17) a 4-SE miss per entry has probability 6e-5, so the
// whole check fails by chance with probability < 0.5%. The MC value comes from
// gram_matrices; the helper above only supplies the standard errors (and its
// own sums, which must match gram_matrices to rounding).
void expect_within_standard_errors(const QuadraticLoss& quadrature, const QuadraticLoss& monte_carlo,
                                   const Estimate& estimate) {
  const std::vector<double> q = flatten(quadrature), mc = flatten(monte_carlo);
  ASSERT_EQ(q.size(), estimate.value.size());
  double worst = 0.0;
  for (std::size_t e = 0; e < q.size(); ++e) {
    EXPECT_NEAR(mc[e], estimate.value[e], 1e-10 * (std::abs(mc[e]) + estimate.se[e])) << "entry " << e;
    if (estimate.se[e] <= 1e-14 * std::abs(mc[e])) {
      // A point-independent contribution (L_0 under lambda = sigma^2, c = 1:
      // loss0 = w d / (2 sigma^2 c^2) is constant): both rules must give it
      // exactly, up to the rounding of ~1e6 summands.
      EXPECT_NEAR(q[e], mc[e], 1e-11 * std::abs(q[e])) << "entry " << e;
      continue;
    }
    const double z = std::abs(q[e] - mc[e]) / estimate.se[e];
    worst = std::max(worst, z);
    EXPECT_LT(z, 4.0) << "entry " << e << ": quadrature " << q[e] << " vs Monte Carlo " << mc[e] << " +- "
                      << estimate.se[e];
  }
  // Guard against a vacuous comparison: with 76 entries the largest |z| of a
  // correct estimator is below 0.3 with probability < 1e-10.
  EXPECT_GT(worst, 0.3);
}

// Smooth activation and slowly varying embedding so the quadrature rules are
// converged far below the Monte Carlo error (checked by the self-convergence
// test below).
RandomFeatures smooth_features(std::size_t m, std::size_t d) {
  return draw_random_features(m, d, fourier_embedding(6, 0.5, 17), Activation::silu, FeatureInit::sphere, 23);
}

// The population quadrature's own convergence: doubling the nodes changes no
// entry by more than 1e-5 of the largest entry, while the Monte Carlo standard
// errors below are ~3e-3 of it (N = 2^17): the quadrature side of those
// comparisons is exact for their purpose. (C converges slowest: Tweedie's y is
// the mixture score, whose responsibilities switch sharply between modes.)
TEST(PopulationQuadrature, ConvergedInNodeCount) {
  const DsmSetup setup = ou_setup();
  const RandomFeatures rf = smooth_features(10, 1);
  const GaussianMixture target = GaussianMixture::two_modes(2.0);
  const QuadraticLoss a = gram_matrices(rf, *population_quadrature(target, 48, 24, setup));
  const QuadraticLoss b = gram_matrices(rf, *population_quadrature(target, 96, 48, setup));
  const std::vector<double> fa = flatten(a), fb = flatten(b);
  double scale = 0.0;
  for (double v : fb) scale = std::max(scale, std::abs(v));
  for (std::size_t e = 0; e < fa.size(); ++e) EXPECT_NEAR(fa[e], fb[e], 1e-5 * scale) << "entry " << e;
}

TEST(PopulationQuadrature, MatchesPopulationMonteCarlo1d) {
  const DsmSetup setup = ou_setup();
  const RandomFeatures rf = smooth_features(10, 1);
  const GaussianMixture target = GaussianMixture::two_modes(2.0);
  const QuadraticLoss quadrature = gram_matrices(rf, *population_quadrature(target, 64, 32, setup));
  const auto mc_points = population_monte_carlo(target, std::size_t{1} << 17, setup, 99);
  const QuadraticLoss monte_carlo = gram_matrices(rf, *mc_points);
  expect_within_standard_errors(quadrature, monte_carlo, monte_carlo_estimate(rf, *mc_points, mc_points->size()));
}

// d = 2 with correlated covariances, c = 1/sigma and lambda = g^2: exercises
// the per-component Cholesky of mu^2 S_k + sigma^2 I and Tweedie's y.
TEST(PopulationQuadrature, MatchesPopulationMonteCarlo2dCorrelated) {
  const DsmSetup setup = ou_setup(Weighting::likelihood, OutputScale::inv_sigma);
  const RandomFeatures rf = smooth_features(8, 2);
  const GaussianMixture target = correlated_mixture();
  const QuadraticLoss quadrature = gram_matrices(rf, *population_quadrature(target, 64, 20, setup));
  const auto mc_points = population_monte_carlo(target, std::size_t{1} << 17, setup, 7);
  const QuadraticLoss monte_carlo = gram_matrices(rf, *mc_points);
  expect_within_standard_errors(quadrature, monte_carlo, monte_carlo_estimate(rf, *mc_points, mc_points->size()));
}

// The denoiser (targets x_0): the quadrature's Tweedie y = (x_t + sigma^2
// score) / mu and its per-component L_0 (|m_k|^2 + tr S_k) against Monte Carlo
// draws of x_0 itself. t_min = 0.05: its weight mu^2 / sigma^2 ~ 1/(2t) would
// need graded time nodes at the default 1e-3 (the quadrature side must be converged).
TEST(PopulationQuadrature, DenoiserMatchesPopulationMonteCarlo2dCorrelated) {
  DsmSetup setup = ou_setup(Weighting::sigma2, OutputScale::denoiser);
  setup.schedule.t_min = 0.05;
  const RandomFeatures rf = smooth_features(8, 2);
  const GaussianMixture target = correlated_mixture();
  const QuadraticLoss quadrature = gram_matrices(rf, *population_quadrature(target, 64, 20, setup));
  const auto mc_points = population_monte_carlo(target, std::size_t{1} << 17, setup, 7);
  const QuadraticLoss monte_carlo = gram_matrices(rf, *mc_points);
  expect_within_standard_errors(quadrature, monte_carlo, monte_carlo_estimate(rf, *mc_points, mc_points->size()));
}

// The denoiser's empirical points: y = x_0 exactly, loss0 = |x_0|^2 / 2 E_t[w] / (n K).
TEST(EmpiricalMonteCarlo, DenoiserTargetsAreTheDataPoints) {
  const DsmSetup setup = ou_setup(Weighting::sigma2, OutputScale::denoiser);
  const std::size_t n = 3, K = 4, d = 2;
  const Matrix data = normal_data(n, d);
  const auto points = empirical_monte_carlo(data, K, setup, 42);
  DesignTile tile;
  points->fill(0, n * K, tile);
  for (std::size_t p = 0; p < n * K; ++p) {
    const std::size_t i = p / K;
    const double x02 = data(i, 0) * data(i, 0) + data(i, 1) * data(i, 1);
    for (std::size_t j = 0; j < d; ++j) EXPECT_EQ(tile.y(p, j), data(i, j));
    EXPECT_NEAR(tile.loss0[p], 0.5 * x02 * setup.mean_gram_weight() / (n * K), 1e-14 * (1.0 + x02));
    const double w = setup.gram_weight(tile.t[p]);
    EXPECT_NEAR(tile.weight[p], w / (n * K), 1e-14 * w);
  }
}

// Empirical quadrature vs empirical Monte Carlo with K = 2^15 draws per sample
// (stratified: the SE uses within-sample variances only).
TEST(EmpiricalQuadrature, MatchesEmpiricalMonteCarlo) {
  for (std::size_t d : {1u, 2u}) {
    SCOPED_TRACE("d = " + std::to_string(d));
    const DsmSetup setup = ou_setup();
    const RandomFeatures rf = smooth_features(d == 1 ? 10 : 8, d);
    const Matrix data = normal_data(5, d, 31);
    const QuadraticLoss quadrature = gram_matrices(rf, *empirical_quadrature(data, 64, d == 1 ? 32 : 16, setup));
    const std::size_t K = std::size_t{1} << 15;
    const auto mc_points = empirical_monte_carlo(data, K, setup, 1234);
    const QuadraticLoss monte_carlo = gram_matrices(rf, *mc_points);
    expect_within_standard_errors(quadrature, monte_carlo, monte_carlo_estimate(rf, *mc_points, K));
  }
}

// Population MC draws x_0 from the mixture: the first two moments of the
// sampled x_0 (recovered as (x_t - sigma eps)/mu, eps = -sigma c y) match the
// mixture's within 5 SE (the 5 mean/covariance checks at 4-5 SE fail by chance
// with probability < 1e-4).
TEST(PopulationMonteCarlo, SamplesTheMixture) {
  const DsmSetup setup = ou_setup();
  const GaussianMixture target = correlated_mixture();
  const std::size_t N = 200000;
  const auto points = population_monte_carlo(target, N, setup, 3);
  const DesignTile tile = fill_all(*points);
  const Schedule& s = setup.schedule;
  std::vector<double> x0(2 * N);
  for (std::size_t p = 0; p < N; ++p) {
    const double mu = s.mean_scale(tile.t[p]), sigma = s.std_dev(tile.t[p]);
    for (std::size_t j = 0; j < 2; ++j) {
      const double eps = -sigma * tile.y(p, j);  // c = 1
      x0[2 * p + j] = (tile.x(p, j) - sigma * eps) / mu;
    }
  }
  // Mixture moments: mean = sum pi_k m_k; second moment = sum pi_k (S_k + m_k m_k^T).
  const double pi[2] = {0.3, 0.7};
  const Matrix& means = target.means();
  for (std::size_t j = 0; j < 2; ++j) {
    double mean = 0.0, second = 0.0, fourth = 0.0;
    for (std::size_t k = 0; k < 2; ++k) {
      const Matrix S = target.covariance(k);
      mean += pi[k] * means(k, j);
      second += pi[k] * (S(j, j) + means(k, j) * means(k, j));
    }
    const double var = second - mean * mean;
    long double m1 = 0.0L, m2 = 0.0L;
    for (std::size_t p = 0; p < N; ++p) {
      m1 += x0[2 * p + j];
      m2 += static_cast<long double>(x0[2 * p + j]) * x0[2 * p + j];
    }
    const double sample_mean = static_cast<double>(m1 / N), sample_second = static_cast<double>(m2 / N);
    for (std::size_t p = 0; p < N; ++p) fourth += std::pow(x0[2 * p + j], 4);
    const double se_second = std::sqrt((fourth / N - sample_second * sample_second) / N);
    EXPECT_NEAR(sample_mean, mean, 5.0 * std::sqrt(var / N)) << "coordinate " << j;
    EXPECT_NEAR(sample_second, second, 5.0 * se_second) << "coordinate " << j;
  }
  // Cross moment E[x_1 x_2] = sum pi_k (S_k(0,1) + m_k0 m_k1).
  double cross = 0.0;
  for (std::size_t k = 0; k < 2; ++k) cross += pi[k] * (target.covariance(k)(0, 1) + means(k, 0) * means(k, 1));
  long double c1 = 0.0L, c2 = 0.0L;
  for (std::size_t p = 0; p < N; ++p) {
    const double v = x0[2 * p] * x0[2 * p + 1];
    c1 += v;
    c2 += static_cast<long double>(v) * v;
  }
  const double cm = static_cast<double>(c1 / N);
  EXPECT_NEAR(cm, cross, 5.0 * std::sqrt((static_cast<double>(c2 / N) - cm * cm) / N));
}

// ------------------------------------------------------------- bad input

TEST(DsmDesign, RejectsBadArguments) {
  const DsmSetup setup = ou_setup();
  const Matrix data = normal_data(4, 1);
  expect_invalid([&] { empirical_monte_carlo(data, 0, setup, 1); }, "draws_per_sample");
  expect_invalid([&] { empirical_monte_carlo(Matrix(), 3, setup, 1); }, "data");
  Matrix bad = data;
  bad(2, 0) = std::nan("");
  expect_invalid([&] { empirical_monte_carlo(bad, 3, setup, 1); }, "data");
  expect_invalid([&] { empirical_quadrature(bad, 3, 3, setup); }, "data");
  expect_invalid([&] { empirical_quadrature(data, 0, 3, setup); }, "time_nodes");
  expect_invalid([&] { empirical_quadrature(data, 3, 0, setup); }, "noise_nodes");
  const GaussianMixture two = GaussianMixture::two_modes(3.0);
  expect_invalid([&] { population_quadrature(two, 0, 3, setup); }, "time_nodes");
  expect_invalid([&] { population_quadrature(two, 3, 0, setup); }, "space_nodes");
  expect_invalid([&] { population_monte_carlo(two, 0, setup, 1); }, "samples");
  const GaussianMixture three_d = GaussianMixture::diagonal({1.0}, Matrix(1, 3), Matrix(1, 3, 1.0));
  expect_invalid([&] { population_quadrature(three_d, 3, 3, setup); }, "target");
  DsmSetup bad_setup = setup;
  bad_setup.schedule.t_min = -1.0;
  EXPECT_THROW(empirical_monte_carlo(data, 3, bad_setup, 1), InvalidArgument);  // the schedule names its field
  // fill outside [0, size)
  const auto points = empirical_monte_carlo(data, 3, setup, 1);
  DesignTile tile;
  expect_invalid([&] { points->fill(10, 13, tile); }, "range");
}

}  // namespace
}  // namespace gengap
