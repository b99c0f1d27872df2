// The diffusion-time bound's terms (generalization/diffusion_time_bound.hpp)
// against independent references: closed forms against quadrature, the
// information term against Monte Carlo, the data-only prior term against
// direct integration of KL(p_T^n || pi), the limits T -> 0 and T -> infinity,
// and the grid minimiser on a curve with a known minimum.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "gengap/generalization/bound_terms.hpp"
#include "gengap/generalization/diffusion_time_bound.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/time_embedding.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

Schedule ou(double T) {
  Schedule s;
  s.kind = ScheduleKind::ou;
  s.T = T;
  return s;
}

Matrix points(std::vector<double> xs) {
  Matrix m(xs.size(), 1);
  for (std::size_t i = 0; i < xs.size(); ++i) m(i, 0) = xs[i];
  return m;
}

double log_normal(double x, double mean, double variance) {
  return -0.5 * (x - mean) * (x - mean) / variance - 0.5 * std::log(2.0 * std::numbers::pi * variance);
}

// log (1/n) sum_j N(x; mu x_j, sigma^2), written out (independent of EmpiricalScore).
double log_empirical(double x, const Matrix& train, double mu, double sigma) {
  double top = -INFINITY;
  std::vector<double> l(train.rows());
  for (std::size_t j = 0; j < train.rows(); ++j) top = std::max(top, l[j] = log_normal(x, mu * train(j, 0), sigma * sigma));
  double sum = 0.0;
  for (const double v : l) sum += std::exp(v - top);
  return top + std::log(sum / static_cast<double>(train.rows()));
}

// int f over [a, b] by composite Simpson with `intervals` (even) pieces.
template <class F>
double simpson(F f, double a, double b, int intervals) {
  const double h = (b - a) / intervals;
  double s = f(a) + f(b);
  for (int k = 1; k < intervals; ++k) s += (k % 2 ? 4.0 : 2.0) * f(a + k * h);
  return s * h / 3.0;
}

TEST(DiffusionTimeBound, GaussianKlToPriorMatchesQuadrature) {
  for (const auto& [mean, variance, prior] : {std::tuple{0.7, 0.3, 1.0}, {-2.0, 2.5, 4.0}, {0.0, 1.0, 1.0}}) {
    const double direct = simpson(
        [&](double x) {
          const double lq = log_normal(x, mean, variance);
          return std::exp(lq) * (lq - log_normal(x, 0.0, prior));
        },
        mean - 30.0, mean + 30.0, 200000);
    EXPECT_NEAR(gaussian_kl_to_prior({&mean, 1}, variance, prior), direct, 1e-10) << mean << " " << variance;
  }
  // d = 2: the coordinates add.
  const std::vector<double> m2{0.5, -1.5};
  const double a = 0.5, b = -1.5;
  EXPECT_NEAR(gaussian_kl_to_prior(m2, 0.4, 1.0),
              gaussian_kl_to_prior({&a, 1}, 0.4, 1.0) + gaussian_kl_to_prior({&b, 1}, 0.4, 1.0), 1e-15);
}

TEST(DiffusionTimeBound, GaussianKlToPriorMatchesPriorKlOfAOneComponentTarget) {
  // p_0 = N(1.3, 0.5) diffused by ou to T is N(mu 1.3, mu^2 0.5 + sigma^2): the
  // closed form against bound_terms' adaptive quadrature of KL(p_T || pi).
  const Matrix mean = points({1.3}), variance = points({0.5});
  const GaussianMixture target = GaussianMixture::diagonal({1.0}, mean, variance);
  for (const double T : {0.05, 0.5, 2.0, 6.0}) {
    const Schedule s = ou(T);
    const double mu = s.mean_scale(T), m = mu * 1.3;
    const double closed = gaussian_kl_to_prior({&m, 1}, mu * mu * 0.5 + s.variance(T), 1.0);
    EXPECT_NEAR(closed, prior_kl(target, s, 1e-12).kl, 1e-9 + 1e-9 * closed) << T;
  }
}

TEST(DiffusionTimeBound, InformationMatchesMonteCarlo) {
  const Matrix train = points({-1.0, -0.2, 0.1, 0.9, 2.5});
  const Schedule s = ou(0.4);
  const double mu = s.mean_scale(0.4), sigma = s.std_dev(0.4);
  const double exact = encoder_information(train, mu, sigma, 48);
  // I_T = E_{i uniform, x ~ E_T(x_i)} [log E_T(x_i)(x) - log p_T^n(x)].
  const CounterRng rng(7, 1000);
  const std::size_t N = 200000;
  double sum = 0.0, squares = 0.0;
  for (std::size_t k = 0; k < N; ++k) {
    const std::size_t i = rng.below(k, train.rows());
    const double x = mu * train(i, 0) + sigma * rng.normal(k);
    const double v = log_normal(x, mu * train(i, 0), sigma * sigma) - log_empirical(x, train, mu, sigma);
    sum += v;
    squares += v * v;
  }
  const double mean = sum / N, se = std::sqrt((squares / N - mean * mean) / N);
  EXPECT_GT(exact, 0.1);
  EXPECT_LT(std::abs(exact - mean), 5.0 * se) << exact << " vs " << mean << " +- " << se;
}

TEST(DiffusionTimeBound, InformationLimits) {
  const Matrix train = points({-2.0, -1.0, 0.0, 1.0, 2.0});
  // sigma far below the spacing: the Gaussians separate and I_T -> log n.
  EXPECT_NEAR(encoder_information(train, 1.0, 0.01, 48), std::log(5.0), 1e-12);
  // mu -> 0: every Gaussian is the same and I_T -> 0.
  EXPECT_LT(encoder_information(train, 1e-9, 1.0, 48), 1e-15);
  EXPECT_EQ(encoder_information(points({0.7}), 0.5, 0.3, 48), 0.0);  // one point: nothing to tell apart
  // Between, monotone in T for ou.
  double previous = std::log(5.0);
  for (const double T : {0.01, 0.1, 0.5, 1.0, 3.0, 10.0}) {
    const Schedule s = ou(T);
    const double I = encoder_information(train, s.mean_scale(T), s.std_dev(T), 48);
    EXPECT_LE(I, previous + 1e-12) << T;
    previous = I;
  }
  EXPECT_LT(previous, 1e-6);
}

TEST(DiffusionTimeBound, DataOnlyPriorTermIsKlOfTheDiffusedTrainingSet) {
  const Matrix train = points({-3.1, -2.7, 0.4, 2.2, 3.0, 3.3});
  const RandomFeatures rf = draw_random_features(16, 1, linear_embedding(1.0), Activation::relu, FeatureInit::sphere, 3);
  Matrix A(1, 16);
  CounterRng(5, 1001).fill_normal(A.flat());
  for (const double T : {0.2, 1.0, 3.0}) {
    const Schedule s = ou(T);
    DsmSetup setup;
    setup.schedule = s;
    const DiffusionTimeBound b = diffusion_time_bound(s, train, rf, A, setup, 0.25, std::nullopt);
    const double mu = s.mean_scale(T), sigma = s.std_dev(T);
    const double direct = simpson(
        [&](double x) {
          const double lp = log_empirical(x, train, mu, sigma);
          return std::exp(lp) * (lp - log_normal(x, 0.0, 1.0));
        },
        -12.0, 12.0, 200000);
    // The Gauss-Hermite rule's error at the default 128 nodes is ~2e-10 here
    // (measured; it converges algebraically), Simpson's far below.
    EXPECT_NEAR(b.prior_kl_data, direct, 2e-9) << T;
    EXPECT_TRUE(std::isnan(b.prior_kl));  // no target given
  }
}

TEST(DiffusionTimeBound, AssemblesItsTermsAndBehavesInT) {
  const GaussianMixture target = GaussianMixture::two_modes(3.0);
  const Matrix train = target.sample(40, 0, streams::training_data);
  const RandomFeatures rf = draw_random_features(32, 1, linear_embedding(1.0), Activation::relu, FeatureInit::sphere, 1);
  Matrix A(1, 32);
  CounterRng(2, 1002).fill_normal(A.flat());
  DiffusionTimeBoundOptions options;
  options.R = 2.0;
  std::vector<DiffusionTimeBound> rows;
  for (const double T : {0.25, 0.5, 1.0, 2.0, 4.0, 8.0}) {
    const Schedule s = ou(T);
    DsmSetup setup;
    setup.schedule = s;
    const DiffusionTimeBound b = diffusion_time_bound(s, train, rf, A, setup, 0.4, target, options);
    EXPECT_EQ(b.bound, b.train_loss - b.information + b.encoder_term + b.generator_term);
    EXPECT_NEAR(b.diffusion_integral, 2.0 * T, 1e-12 * T);  // ou: g^2 = 2
    EXPECT_NEAR(b.generator_term, std::sqrt(2.0) * 2.0 * b.score_norm * std::sqrt(2.0 * T / 80.0), 1e-12);
    EXPECT_NEAR(b.prior_kl_data, b.encoder_kl - b.information, 1e-12);
    // Twice the weights, twice every score: L_T is linear in A.
    Matrix A2 = A;
    for (double& v : A2.flat()) v *= 2.0;
    EXPECT_NEAR(diffusion_time_bound(s, train, rf, A2, setup, 0.4, target, options).score_norm, 2.0 * b.score_norm,
                1e-12 * b.score_norm);
    rows.push_back(b);
  }
  for (std::size_t k = 1; k < rows.size(); ++k) {
    EXPECT_LT(rows[k].information, rows[k - 1].information);    // -I_T rises with T
    EXPECT_LT(rows[k].encoder_term, rows[k - 1].encoder_term);  // the encoder term falls
    EXPECT_LT(rows[k].prior_kl, rows[k - 1].prior_kl);          // so does the exact prior term
  }
  // T -> infinity: the prior terms vanish (exact and data-only alike); T -> 0 they grow without bound.
  EXPECT_LT(rows.back().prior_kl, 1e-5);
  EXPECT_LT(rows.back().prior_kl_data, 1e-5);
  EXPECT_GT(rows.front().prior_kl, 1.0);
}

TEST(DiffusionTimeBound, ScoreNormStandardErrorMatchesTheSpreadOverSeeds) {
  // L_T is a Monte Carlo mean over noise draws z: its reported standard
  // error must match the spread of L_T over independent draws (seeds) with
  // the training set and the model fixed. 400 seeds give the spread to
  // ~3.5 % (relative SE of a standard deviation, 1/sqrt(2 x 399)) and the
  // mean SE to ~1 %; the max over 8 t nodes can shift the maximising node
  // between seeds, so 10 % (measured: 0.99).
  const GaussianMixture target = GaussianMixture::two_modes(2.0);
  const Matrix train = target.sample(60, 0, streams::training_data);
  const RandomFeatures rf = draw_random_features(32, 1, linear_embedding(1.0), Activation::relu, FeatureInit::sphere, 4);
  Matrix A(1, 32);
  CounterRng(3, 1003).fill_normal(A.flat());
  const Schedule s = ou(2.0);
  DsmSetup setup;
  setup.schedule = s;
  DiffusionTimeBoundOptions options;
  options.score_time_nodes = 8;
  const DiffusionTimeBound data = diffusion_time_data_terms(s, train, std::nullopt, options);
  std::vector<double> values, errors;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    options.seed = seed;
    const DiffusionTimeBound b = diffusion_time_bound(data, s, train, rf, A, setup, 0.3, options);
    EXPECT_EQ(b.bound_se, b.generator_term_se);
    EXPECT_NEAR(b.generator_term_se / b.generator_term, b.score_norm_se / b.score_norm, 1e-12);
    values.push_back(b.score_norm);
    errors.push_back(b.score_norm_se);
  }
  double mean = 0.0, mean_error = 0.0;
  for (std::size_t k = 0; k < values.size(); ++k) mean += values[k], mean_error += errors[k];
  mean /= values.size(), mean_error /= errors.size();
  double squares = 0.0;
  for (const double v : values) squares += (v - mean) * (v - mean);
  const double spread = std::sqrt(squares / (values.size() - 1));
  EXPECT_NEAR(mean_error / spread, 1.0, 0.10) << mean_error << " vs " << spread;
}

TEST(DiffusionTimeBound, DiffusionIntegralOfEverySchedule) {
  for (const ScheduleKind kind : {ScheduleKind::ou, ScheduleKind::vp, ScheduleKind::ve}) {
    Schedule s = ou(3.0);
    s.kind = kind;
    const double direct = simpson([&](double t) { return s.diffusion_squared(t); }, 0.0, 3.0, 20000);
    EXPECT_NEAR(diffusion_integral(s), direct, 1e-9 * direct) << static_cast<int>(kind);
  }
}

TEST(GridMinimum, FindsAKnownMinimumBetweenGridPoints) {
  // y = 3 (ln x - ln 2)^2 + 1: a parabola in ln x, so the refinement is exact.
  std::vector<double> x, y;
  for (int k = 0; k <= 8; ++k) {
    x.push_back(0.25 * std::pow(40.0, k / 8.0));
    y.push_back(3.0 * std::pow(std::log(x.back() / 2.0), 2) + 1.0);
  }
  const GridMinimum g = grid_minimum(x, y);
  EXPECT_TRUE(g.interior);
  EXPECT_NEAR(g.x, 2.0, 1e-12);
  EXPECT_EQ(g.value, y[g.index]);
  EXPECT_NEAR(x[g.index], 2.0, 0.6);  // the nearest grid point
  // A minimum at an end is the end itself.
  const std::vector<double> falling{5.0, 4.0, 3.0};
  const GridMinimum end = grid_minimum(std::vector<double>{1.0, 2.0, 3.0}, falling);
  EXPECT_FALSE(end.interior);
  EXPECT_EQ(end.index, 2u);
  EXPECT_EQ(end.x, 3.0);
  // NaN rows are skipped.
  const GridMinimum skipping = grid_minimum(std::vector<double>{1.0, 2.0, 3.0}, std::vector<double>{NAN, 2.0, 1.5});
  EXPECT_EQ(skipping.index, 2u);
}

TEST(GridMinimum, BadGridsNameTheField) {
  expect_invalid([] { grid_minimum(std::vector<double>{}, std::vector<double>{}); }, "x");
  expect_invalid([] { grid_minimum(std::vector<double>{1.0, 3.0, 2.0}, std::vector<double>{1, 2, 3}); }, "x");
  expect_invalid([] { grid_minimum(std::vector<double>{0.0, 1.0}, std::vector<double>{1, 2}); }, "x");
  expect_invalid([] { grid_minimum(std::vector<double>{1.0, 2.0}, std::vector<double>{1.0}); }, "x");
  expect_invalid([] { grid_minimum(std::vector<double>{1.0, 2.0}, std::vector<double>{NAN, NAN}); }, "y");
}

TEST(DiffusionTimeBound, BadInputNamesTheField) {
  const Matrix train = points({0.0, 1.0});
  const RandomFeatures rf = draw_random_features(8, 1, linear_embedding(1.0), Activation::relu, FeatureInit::sphere, 1);
  const Matrix A(1, 8);
  const Schedule s = ou(1.0);
  DsmSetup setup;
  setup.schedule = s;
  DiffusionTimeBoundOptions bad_R;
  bad_R.R = 0.0;
  expect_invalid([&] { diffusion_time_bound(s, train, rf, A, setup, 0.1, std::nullopt, bad_R); }, "R");
  DiffusionTimeBoundOptions bad_nodes;
  bad_nodes.hermite_nodes = 1;
  expect_invalid([&] { diffusion_time_bound(s, train, rf, A, setup, 0.1, std::nullopt, bad_nodes); }, "hermite_nodes");
  DiffusionTimeBoundOptions one_draw;
  one_draw.score_draws = 1;
  expect_invalid([&] { diffusion_time_bound(s, train, rf, A, setup, 0.1, std::nullopt, one_draw); }, "score_draws");
  expect_invalid([&] { diffusion_time_bound(s, Matrix(2, 2), rf, A, setup, 0.1, std::nullopt); }, "training");
  expect_invalid([&] { diffusion_time_bound(s, train, rf, Matrix(1, 7), setup, 0.1, std::nullopt); }, "A");
  expect_invalid([&] { diffusion_time_bound(s, train, rf, A, setup, NAN, std::nullopt); }, "train_loss");
  Schedule short_horizon = s;
  short_horizon.T = short_horizon.t_min;  // T <= t_min
  EXPECT_THROW(diffusion_time_bound(short_horizon, train, rf, A, setup, 0.1, std::nullopt), InvalidArgument);
}

}  // namespace
}  // namespace gengap
