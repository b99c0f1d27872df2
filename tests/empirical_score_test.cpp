// The streaming empirical score (kernels/empirical_score.hpp, docs/math.md §8)
// against closed forms (n = 1: a Gaussian; two symmetric points: the tanh
// form), against the naive two-pass reference (kernels/detail/
// empirical_score_naive.hpp) over dimensions, sizes around the SIMD width and
// the block size, and extreme sigma_t; screening, tiling, batching and thread
// count must not change a bit; the expanded form stays within its tolerance
// (1e-12) of the naive reference on every output, redoes queries whose output
// bound exceeds it and blocks whose moments would cancel; the schedule
// adapter drives the reverse-SDE sampler (samples land on training points)
// and the likelihood solver (exact log p_t^n); bad input names its field.
// First: silences GCC 12's false warnings in xsimd's exp (the tile header's fallback).
#include "gengap/kernels/simd/gcc_warnings.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

#include <oneapi/tbb/task_arena.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>
#include <vector>

#include "gengap/kernels/detail/empirical_score_naive.hpp"
#include "gengap/kernels/simd/empirical_score_tiles.hpp"
#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"

namespace gengap {
namespace {

constexpr std::size_t width = xsimd::batch<double>::size;

Matrix normal_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed, double scale = 1.0) {
  Matrix X(rows, cols);
  CounterRng(seed, streams::test_data).fill_normal(X.flat());
  for (double& v : X.flat()) v *= scale;
  return X;
}

// Queries of three kinds: the diffused training points (x = mu x_j + sigma z,
// where the weights concentrate), plain normal points, and far points.
Matrix mixed_queries(const Matrix& training, double mu, double sigma, std::size_t q, std::uint64_t seed) {
  const std::size_t d = training.cols();
  Matrix x = normal_matrix(q, d, seed);
  for (std::size_t r = 0; r < q; ++r) {
    if (r % 3 == 0) {
      const std::size_t j = (r * 7919) % training.rows();
      for (std::size_t k = 0; k < d; ++k) x(r, k) = mu * training(j, k) + sigma * x(r, k);
    } else if (r % 3 == 2) {
      for (std::size_t k = 0; k < d; ++k) x(r, k) *= 4.0;
    }
  }
  return x;
}

struct Comparison {
  double score = 0.0, log_density = 0.0, divergence = 0.0;  // worst relative errors
};

// Worst errors against the naive two-pass reference, each relative to its
// natural scale: the score to |s|_inf + 1/sigma (the size of one noise-scale
// term; a symmetric query can have s = 0 exactly), the divergence to
// Var_w/sigma^4 + d/sigma^2 (its two terms), log p to max(1, |log p|).
Comparison compare_to_naive(const EmpiricalScore& s, const Matrix& x, double mu, double sigma,
                            const EmpiricalScore::Values& got) {
  Comparison worst;
  const std::size_t d = s.dim();
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const auto ref = detail::naive_empirical_score(s.training().view(), x.row(r), mu, sigma);
    double scale = 1.0 / sigma, err = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      scale = std::max(scale, std::abs(ref.score[k]));
      err = std::max(err, std::abs(got.score(r, k) - ref.score[k]));
    }
    worst.score = std::max(worst.score, err / scale);
    const double s2 = sigma * sigma;
    const double div_scale = std::abs(ref.divergence + d / s2) + d / s2;
    worst.divergence = std::max(worst.divergence, std::abs(got.divergence[r] - ref.divergence) / div_scale);
    worst.log_density = std::max(
        worst.log_density, std::abs(got.log_density[r] - ref.log_density) / std::max(1.0, std::abs(ref.log_density)));
  }
  return worst;
}

TEST(EmpiricalScore, SinglePoint_IsTheGaussianScore) {
  // n = 1: p_t^n = N(mu x_1, sigma^2 I), so s = (mu x_1 - x)/sigma^2,
  // div = -d/sigma^2, log p = -|x - mu x_1|^2/(2 sigma^2) - d/2 log(2 pi sigma^2).
  // The weight is exp(0) = 1 exactly, so only a few roundings separate the
  // kernel from the formula: 1e-14 relative.
  const Matrix point(1, 3, std::vector<double>{0.7, -1.2, 2.5});
  const EmpiricalScore s(point.view());
  const Matrix x = normal_matrix(9, 3, 1, 2.0);
  for (const double sigma : {1e-3, 0.3, 1.0, 50.0}) {
    const double mu = 0.8, s2 = sigma * sigma;
    const auto v = s.evaluate(x.view(), mu, sigma);
    for (std::size_t r = 0; r < x.rows(); ++r) {
      double dist = 0.0;
      for (std::size_t k = 0; k < 3; ++k) {
        // Correctly rounded like the kernel's residual (x - fl(mu x_1) would
        // err by eps |mu x_1|: 5e-14 relative to diff at sigma = 1e-3).
        const double diff = std::fma(-mu, point(0, k), x(r, k));
        dist += diff * diff;
        EXPECT_NEAR(v.score(r, k), -diff / s2, 1e-14 * (std::abs(diff) / s2 + 1.0 / sigma));
      }
      EXPECT_NEAR(v.divergence[r], -3.0 / s2, 1e-14 * 3.0 / s2);
      const double logp = -dist / (2 * s2) - 1.5 * std::log(2 * std::numbers::pi * s2);
      EXPECT_NEAR(v.log_density[r], logp, 1e-14 * std::max(1.0, std::abs(logp)));
    }
  }
}

TEST(EmpiricalScore, TwoSymmetricPoints_GiveTheTanhForm) {
  // Points +-a e (|e| = 1) in R^3: with b = mu a e . x / sigma^2,
  //   s = (mu a e tanh(b) - x) / sigma^2,
  //   div = mu^2 a^2 (1 - tanh^2 b) / sigma^4 - d / sigma^2  (Var_w of +-a e is a^2 sech^2 b),
  //   log p = -(|x|^2 + mu^2 a^2)/(2 sigma^2) + log cosh b - d/2 log(2 pi sigma^2).
  // Independent formulas (no softmax); 1e-13 relative to the terms' sizes.
  const double a = 1.5, mu = 0.9;
  const std::vector<double> e{2.0 / 3.0, -1.0 / 3.0, 2.0 / 3.0};
  Matrix points(2, 3);
  for (std::size_t k = 0; k < 3; ++k) points(0, k) = a * e[k], points(1, k) = -a * e[k];
  const EmpiricalScore s(points.view());
  const Matrix x = normal_matrix(12, 3, 2);
  for (const double sigma : {0.2, 0.7, 3.0}) {
    const double s2 = sigma * sigma;
    const auto v = s.evaluate(x.view(), mu, sigma);
    for (std::size_t r = 0; r < x.rows(); ++r) {
      double ex = 0.0, x2 = 0.0;
      for (std::size_t k = 0; k < 3; ++k) ex += e[k] * x(r, k), x2 += x(r, k) * x(r, k);
      const double b = mu * a * ex / s2, th = std::tanh(b);
      for (std::size_t k = 0; k < 3; ++k) {
        const double expected = (mu * a * e[k] * th - x(r, k)) / s2;
        EXPECT_NEAR(v.score(r, k), expected, 1e-13 * (std::abs(x(r, k)) + mu * a) / s2) << sigma << " " << r;
      }
      const double div = mu * mu * a * a * (1 - th * th) / (s2 * s2) - 3.0 / s2;
      EXPECT_NEAR(v.divergence[r], div, 1e-13 * (mu * mu * a * a / (s2 * s2) + 3.0 / s2));
      // log cosh b = |b| + log1p(exp(-2|b|)) - log 2 (no overflow).
      const double logcosh = std::abs(b) + std::log1p(std::exp(-2 * std::abs(b))) - std::log(2.0);
      const double logp = -(x2 + mu * mu * a * a) / (2 * s2) + logcosh - 1.5 * std::log(2 * std::numbers::pi * s2);
      EXPECT_NEAR(v.log_density[r], logp, 1e-13 * std::max(1.0, std::abs(logp) + std::abs(b)));
    }
  }
}

// Sizes around the SIMD width, the sweep group (4 batches) and the block
// size (2048 points for d <= 4, 1024 for d <= 16, 256 above); dimensions with
// compile-time loops (1-4: SIMD over points; 5-32 and 64: SIMD over padded
// coordinates) and run-time ones (40).
struct Case {
  std::size_t n, d;
};

class StreamingVsNaive : public ::testing::TestWithParam<Case> {};

TEST_P(StreamingVsNaive, StreamingMatchesNaiveTwoPass) {
  // The same residuals (one fma each) and log-weights; only the summation
  // order of S, E_w r and Var_w differs (blocked lane-wise sums and pairwise
  // merges vs one sequential sum). Sequential summation of n positive terms
  // errs by up to n eps relative (n <= 2200 here: 5e-13 worst case, ~1e-15
  // typical; observed at most 6e-15 over these cases): 1e-12.
  const Case c = GetParam();
  const Matrix training = normal_matrix(c.n, c.d, 10 + c.n + c.d);
  const EmpiricalScore s(training.view());
  for (const double sigma : {0.05, 0.5, 2.0}) {
    const double mu = std::sqrt(std::max(0.0, 1.0 - sigma * sigma * 0.2));
    const Matrix x = mixed_queries(training, mu, sigma, 24, 3);
    const auto v = s.evaluate(x.view(), mu, sigma);
    const Comparison err = compare_to_naive(s, x, mu, sigma, v);
    EXPECT_LT(err.score, 1e-12) << "n=" << c.n << " d=" << c.d << " sigma=" << sigma;
    EXPECT_LT(err.divergence, 1e-12) << "n=" << c.n << " d=" << c.d << " sigma=" << sigma;
    EXPECT_LT(err.log_density, 1e-12) << "n=" << c.n << " d=" << c.d << " sigma=" << sigma;
  }
}

INSTANTIATE_TEST_SUITE_P(EmpiricalScore, StreamingVsNaive,
                         ::testing::Values(Case{1, 1}, Case{width - 1, 1}, Case{width, 2}, Case{width + 1, 2},
                                           Case{4 * width + 3, 3}, Case{2048 + 5, 1}, Case{2 * 2048 + 1, 2},
                                           Case{100, 4}, Case{1024 + 9, 5}, Case{333, 8}, Case{257, 16}, Case{600, 17},
                                           Case{513, 64}, Case{3, 9}, Case{width + 1, 40}),
                         [](const auto& info) {
                           return std::string("n").append(std::to_string(info.param.n)) + "_d" +
                                  std::to_string(info.param.d);
                         });

EmpiricalScore::Values evaluate_with(const EmpiricalScore& s, const Matrix& x, double mu, double sigma,
                                     EmpiricalScoreOptions options) {
  return s.evaluate(x.view(), mu, sigma, options);
}

void expect_bitwise_equal(const EmpiricalScore::Values& a, const EmpiricalScore::Values& b, const char* what) {
  EXPECT_EQ(a.score, b.score) << what;
  EXPECT_EQ(a.log_density, b.log_density) << what;
  EXPECT_EQ(a.divergence, b.divergence) << what;
}

TEST(EmpiricalScore, ScreeningTilingAndThreads_DoNotChangeABit) {
  // Screening only decides which batches are evaluated exactly; every batch it
  // drops would be skipped by the exact sweep (rigorous error bound), and each
  // query's arithmetic is independent of the others: same bits for screening
  // on/off, any tile size and any thread count (expanded form off: its dgemm
  // moments are tested below).
  for (const std::size_t d : {2u, 20u, 64u}) {
    const Matrix training = normal_matrix(1500, d, 40 + d);
    const EmpiricalScore s(training.view());
    for (const double sigma : {1e-3, 0.1, 1.0}) {
      const double mu = 0.95;
      const Matrix x = mixed_queries(training, mu, sigma, 70, 41);
      EmpiricalScoreOptions off, on, tiny;
      off.expanded_tolerance = on.expanded_tolerance = tiny.expanded_tolerance = 0.0;
      off.screening = DistanceScreening::off;
      on.screening = DistanceScreening::on;
      tiny.tile = 3;
      tiny.screening = DistanceScreening::on;
      const auto reference = evaluate_with(s, x, mu, sigma, off);
      expect_bitwise_equal(reference, evaluate_with(s, x, mu, sigma, on), "screening on");
      expect_bitwise_equal(reference, evaluate_with(s, x, mu, sigma, tiny), "tile 3");
      EmpiricalScore::Values one_thread;
      tbb::task_arena(1).execute([&] { one_thread = evaluate_with(s, x, mu, sigma, on); });
      expect_bitwise_equal(reference, one_thread, "1 thread");
      // A row evaluated alone gives the same bits as inside the batch.
      const Matrix row(1, d, std::vector<double>(x.row(7).begin(), x.row(7).end()));
      const auto alone = evaluate_with(s, row, mu, sigma, off);
      for (std::size_t k = 0; k < d; ++k) EXPECT_EQ(alone.score(0, k), reference.score(7, k));
      EXPECT_EQ(alone.divergence[0], reference.divergence[7]);
      EXPECT_EQ(alone.log_density[0], reference.log_density[7]);
    }
  }
}

EmpiricalScore::Values evaluate_stats(const EmpiricalScore& s, const Matrix& x, double mu, double sigma,
                                      const EmpiricalScoreOptions& options, EmpiricalScoreStats& stats) {
  const std::size_t q = x.rows(), d = s.dim();
  EmpiricalScore::Values v{Matrix(q, d), std::vector<double>(q), std::vector<double>(q)};
  const double m[1] = {mu}, sg[1] = {sigma};
  stats = s.evaluate(x.view(), m, sg, v.score.flat(), v.log_density, v.divergence, options);
  return v;
}

double worst_of(const Comparison& c) { return std::max({c.score, c.divergence, c.log_density}); }

TEST(EmpiricalScore, ExpandedForm_MatchesNaiveAndIsIndependentOfBatching) {
  // Dense weights (sigma_t ~ 1 against unit-normal data): queries whose
  // log-weight bound is within the tolerance (1e-12) take the expanded form,
  // far ones (|x| ~ 4 sqrt(d)) and the large-d, small-sigma ones the exact
  // path. The expanded form's added error is bounded by the tolerance on
  // every output; the summation rounding common to every path is ~1e-15
  // (n = 2100). Observed: 8.9e-15. Each query's arithmetic is its own:
  // same bits for 1 thread, tile 5 and the query evaluated alone.
  double observed = 0.0;
  for (const std::size_t d : {8u, 16u, 64u, 128u}) {
    const Matrix training = normal_matrix(2100, d, 45 + d);
    const EmpiricalScore s(training.view());
    std::size_t expanded = 0;
    for (const double sigma : {0.6, 1.0, 3.0}) {
      const double mu = 0.7;
      const Matrix x = mixed_queries(training, mu, sigma, 30, 46);
      EmpiricalScoreStats stats;
      const auto v = evaluate_stats(s, x, mu, sigma, {}, stats);
      expanded += stats.expanded_pairs;
      const Comparison err = compare_to_naive(s, x, mu, sigma, v);
      observed = std::max(observed, worst_of(err));
      EXPECT_LT(err.score, 1e-12) << d << " " << sigma;
      EXPECT_LT(err.divergence, 1e-12) << d << " " << sigma;
      EXPECT_LT(err.log_density, 1e-12) << d << " " << sigma;
      EmpiricalScore::Values one_thread;
      tbb::task_arena(1).execute([&] { one_thread = s.evaluate(x.view(), mu, sigma); });
      expect_bitwise_equal(v, one_thread, "expanded, 1 thread");
      EmpiricalScoreOptions tile5;
      tile5.tile = 5;
      expect_bitwise_equal(v, evaluate_with(s, x, mu, sigma, tile5), "expanded, tile 5");
      for (const std::size_t r : {0u, 1u, 29u}) {
        const Matrix row(1, d, std::vector<double>(x.row(r).begin(), x.row(r).end()));
        const auto alone = s.evaluate(row.view(), mu, sigma);
        for (std::size_t k = 0; k < d; ++k) EXPECT_EQ(alone.score(0, k), v.score(r, k)) << d << " " << r;
        EXPECT_EQ(alone.divergence[0], v.divergence[r]);
        EXPECT_EQ(alone.log_density[0], v.log_density[r]);
      }
    }
    EXPECT_GT(expanded, 0u) << d;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.2e", observed);
  RecordProperty("observed_relative_error", text);
}

TEST(EmpiricalScore, ExpandedForm_MeetsItsToleranceAndRedoesQueriesAboveIt) {
  // Hard cases for the expanded form: two clusters +-5 e_1 (d = 16, jitter
  // 0.3), queries between them (the weight splits: Var_w r is large, so the
  // divergence bound 2 eps V / (V + d / sigma^2) approaches 2 eps), near
  // either cluster, and far (|x| ~ 20). Over tolerances 1e-14..1e-9 (factor
  // 1.25): every output stays within the tolerance of the naive two-pass
  // (plus 1e-13 for the summation common to both paths), some queries go
  // through the expanded form, and somewhere a query whose single-weight
  // bound passed is redone because its output bound did not. Observed: at
  // most 1.4e-14 at every tolerance.
  const std::size_t d = 16, n = 2100;
  Matrix training = normal_matrix(n, d, 52, 0.3);
  for (std::size_t i = 0; i < n; ++i) training(i, 0) += i % 2 == 0 ? 5.0 : -5.0;
  const EmpiricalScore s(training.view());
  const double mu = 0.9, sigma = 0.8;
  Matrix x = normal_matrix(24, d, 53, 0.5);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    if (r % 3 == 1) x(r, 0) += 4.5;
    if (r % 3 == 2) x(r, 1) += 20.0;
  }
  std::size_t expanded = 0, redone = 0;
  for (double tolerance = 1e-14; tolerance < 1e-9; tolerance *= 1.25) {
    EmpiricalScoreOptions options;
    options.expanded_tolerance = tolerance;
    EmpiricalScoreStats stats;
    const auto v = evaluate_stats(s, x, mu, sigma, options, stats);
    expanded += stats.expanded_pairs;
    redone += stats.expanded_redone;
    const Comparison err = compare_to_naive(s, x, mu, sigma, v);
    EXPECT_LT(worst_of(err), tolerance + 1e-13) << tolerance;
  }
  EXPECT_GT(expanded, 0u);
  EXPECT_GT(redone, 0u);
}

TEST(EmpiricalScore, HardCases_MatchNaiveInEveryMode) {
  // Small sigma (one point wins), far queries (log-weights ~ -1e4: the
  // expanded form's bound grows with |x|^2 and sends them to the exact path),
  // near-coincident training points (pairs 1e-9 apart: their weights tie),
  // d = 8..128, screening automatic, off and with a loose tolerance 1e-10
  // (the expanded form on more queries): 1e-12 relative (1e-10 + 1e-13 with
  // the loose tolerance), as in StreamingMatchesNaiveTwoPass.
  for (const std::size_t d : {8u, 40u, 128u}) {
    Matrix training = normal_matrix(2100, d, 60 + d);
    for (std::size_t i = 1; i < training.rows(); i += 7)
      for (std::size_t k = 0; k < d; ++k) training(i, k) = training(i - 1, k) + 1e-9 * static_cast<double>(k % 3);
    const EmpiricalScore s(training.view());
    for (const double sigma : {1e-3, 0.05, 0.3, 1.5}) {
      const double mu = std::sqrt(1.0 - std::min(0.99, sigma * sigma));
      const Matrix x = mixed_queries(training, mu, sigma, 18, 61);
      EmpiricalScoreOptions off, loose;
      off.screening = DistanceScreening::off;
      loose.expanded_tolerance = 1e-10;
      for (const auto& [options, bound] : {std::pair{EmpiricalScoreOptions{}, 1e-12}, std::pair{off, 1e-12},
                                           std::pair{loose, 1e-10 + 1e-13}}) {
        const Comparison err = compare_to_naive(s, x, mu, sigma, evaluate_with(s, x, mu, sigma, options));
        EXPECT_LT(worst_of(err), bound) << d << " " << sigma;
      }
    }
  }
}

TEST(EmpiricalScore, ExpandedForm_RedoesBlocksWhereTheMomentsLoseDigits) {
  // Points clustered within 1e-4 of one centre: Var_w(x_i) ~ 1e-8 against
  // E_w|x_i|^2 ~ 16, so E|x|^2 - |E x|^2 would keep ~6 digits; those blocks
  // must be redone exactly, and the result matches the naive two-pass to 1e-12.
  const std::size_t d = 16;
  Matrix training = normal_matrix(2500, d, 47, 1e-4);
  for (std::size_t i = 0; i < training.rows(); ++i) training(i, 3) += 4.0;
  const EmpiricalScore s(training.view());
  const Matrix x = normal_matrix(20, d, 48);
  const double mu[1] = {0.8}, sigma[1] = {0.5};
  EmpiricalScore::Values v{Matrix(20, d), std::vector<double>(20), std::vector<double>(20)};
  const EmpiricalScoreStats stats = s.evaluate(x.view(), mu, sigma, v.score.flat(), v.log_density, v.divergence);
  EXPECT_GT(stats.expanded_fallbacks, 0u);
  const Comparison err = compare_to_naive(s, x, 0.8, 0.5, v);
  EXPECT_LT(err.score, 1e-12);
  EXPECT_LT(err.divergence, 1e-12);
  EXPECT_LT(err.log_density, 1e-12);
}

TEST(EmpiricalScore, Screening_SkipsMostPairsWhenWeightsConcentrate) {
  // d = 64, sigma small against the spacing of normal points: a handful of
  // points carry weight, so screening evaluates few exact distances, while
  // with screening off every pair is evaluated.
  const Matrix training = normal_matrix(4096, 64, 50);
  const EmpiricalScore s(training.view());
  const Matrix x = mixed_queries(training, 0.9, 0.3, 64, 51);
  const double mu[1] = {0.9}, sigma[1] = {0.3};
  std::vector<double> score(64 * 64);
  EmpiricalScoreOptions on, off;
  on.screening = DistanceScreening::on;
  off.screening = DistanceScreening::off;
  on.expanded_tolerance = 0.0;
  const EmpiricalScoreStats screened = s.evaluate(x.view(), mu, sigma, score, {}, {}, on);
  const EmpiricalScoreStats direct = s.evaluate(x.view(), mu, sigma, score, {}, {}, off);
  EXPECT_EQ(direct.distance_pairs, 64u * 4096u);
  EXPECT_LT(screened.distance_pairs, direct.distance_pairs / 10);
  EXPECT_GT(screened.screened_blocks, 0u);
  EXPECT_EQ(screened.weighted_pairs, direct.weighted_pairs);
}

TEST(EmpiricalScore, ExtremeSigmaAndFarQueries_StayFiniteAndKeepTheWinner) {
  // sigma = 1e-6: log-weights ~ -1e12 |r|^2; sigma = 1e3: all weights ~ equal;
  // queries 1e6 away. The largest weight is exp(0) = 1, so nothing underflows
  // to 0/0: the nearest point wins (s = (mu x_j - x)/sigma^2 to rounding when
  // the runner-up is much farther), and everything agrees with the naive
  // reference (1e-12 as above; at sigma = 1e-6 the residuals are exact to
  // eps relative thanks to the fma, so even s ~ 1e6 keeps 12 digits).
  Matrix training(5, 2, std::vector<double>{0.0, 0.0, 1.0, 0.0, 0.0, 1.0, -1.0, -1.0, 3.0, 2.0});
  const EmpiricalScore s(training.view());
  const double mu = 0.99;
  for (const double sigma : {1e-6, 1e3}) {
    Matrix x(5, 2, std::vector<double>{0.99 + 3e-7, -2e-7, 1e6, 1e6, -1e6, 5.0, 2.97, 1.98 + 1e-6, 0.1, 0.2});
    const auto v = s.evaluate(x.view(), mu, sigma);
    for (double value : v.score.flat()) EXPECT_TRUE(std::isfinite(value));
    for (double value : v.divergence) EXPECT_TRUE(std::isfinite(value));
    for (double value : v.log_density) EXPECT_TRUE(std::isfinite(value));
    const Comparison err = compare_to_naive(s, x, mu, sigma, v);
    EXPECT_LT(err.score, 1e-12) << sigma;
    EXPECT_LT(err.divergence, 1e-12) << sigma;
    EXPECT_LT(err.log_density, 1e-12) << sigma;
    if (sigma == 1e-6) {
      // Rows 0, 1, 3: nearest points 1 (= (1, 0)), 4 (= (3, 2)) for row 1
      // (the far query along the diagonal), 4 for row 3.
      const std::size_t winner[3][2] = {{0, 1}, {1, 4}, {3, 4}};
      for (const auto& [row, j] : winner) {
        for (std::size_t k = 0; k < 2; ++k) {
          const double expected = (mu * training(j, k) - x(row, k)) / (sigma * sigma);
          EXPECT_NEAR(v.score(row, k), expected, 1e-9 * std::abs(expected) + 1e-3) << row;
        }
        EXPECT_NEAR(v.divergence[row], -2.0 / (sigma * sigma), 1e-12 * 2.0 / (sigma * sigma));
      }
    }
  }
}

TEST(EmpiricalScore, WeightExp_IsWithin3UlpOfStdExp) {
  // The expanded form's exp (kernels/simd/empirical_score_tiles.hpp; with
  // AVX-512 its own table + degree-7 polynomial) against std::exp (correctly
  // rounded to ~0.5 ulp on glibc): <= 3 ulp on [-700, 0] (the error bound
  // budgets 4), exact 1 at 0, finite and tiny below -700 and at -inf.
  using Batch = xsimd::batch<double>;
  const std::size_t W = Batch::size;
  CounterRng rng(5, streams::test_data);
  std::vector<double> x(W * 20000);
  rng.fill_normal(x);
  double worst = 0.0;
  alignas(64) double in[16], out[16];
  for (std::size_t i = 0; i < x.size(); i += W) {
    for (std::size_t j = 0; j < W; ++j) {
      // |normal| scaled onto [0, 46] (the weights kept) and [0, 700].
      const double z = std::abs(x[i + j]);
      in[j] = -(i % (2 * W) == 0 ? std::fmod(23.0 * z, 46.0) : std::fmod(250.0 * z, 700.0));
    }
    detail::empirical::exp_nonpositive(Batch::load_aligned(in)).store_aligned(out);
    for (std::size_t j = 0; j < W; ++j) {
      const double e = std::exp(in[j]);
      worst = std::max(worst, std::abs(out[j] - e) / e);
    }
  }
  EXPECT_LT(worst, 3.0 * 0x1p-53);
  for (std::size_t j = 0; j < W; ++j) in[j] = j == 0 ? 0.0 : j == 1 ? -800.0 : -std::numeric_limits<double>::infinity();
  detail::empirical::exp_nonpositive(Batch::load_aligned(in)).store_aligned(out);
  EXPECT_EQ(out[0], 1.0);
  for (std::size_t j = 1; j < W; ++j) EXPECT_TRUE(std::isfinite(out[j]) && out[j] >= 0.0 && out[j] < 1e-300) << j;
}

TEST(EmpiricalScore, EmptyQueryBatch_IsANoOp) {
  const Matrix training = normal_matrix(10, 3, 62);
  const EmpiricalScore s(training.view());
  const double one[1] = {1.0};
  const EmpiricalScoreStats stats = s.evaluate(MatrixView{nullptr, 0, 3}, one, one, {}, {}, {});
  EXPECT_EQ(stats.queries, 0u);
  EXPECT_EQ(stats.distance_pairs, 0u);
}

TEST(EmpiricalScore, BadInput_NamesTheField) {
  const Matrix training = normal_matrix(10, 2, 60);
  expect_invalid([] { EmpiricalScore s(MatrixView{nullptr, 0, 2}); }, "training");
  Matrix bad = training;
  bad(3, 1) = std::numeric_limits<double>::quiet_NaN();
  expect_invalid([&] { EmpiricalScore s(bad.view()); }, "training");
  const EmpiricalScore s(training.view());
  const Matrix x3 = normal_matrix(4, 3, 61);
  const Matrix x = normal_matrix(4, 2, 61);
  expect_invalid([&] { s.evaluate(x3.view(), 0.9, 0.5); }, "x");
  Matrix xnan = x;
  xnan(0, 0) = std::numeric_limits<double>::infinity();
  expect_invalid([&] { s.evaluate(xnan.view(), 0.9, 0.5); }, "x");
  expect_invalid([&] { s.evaluate(x.view(), 0.9, 0.0); }, "sigma_t");
  expect_invalid([&] { s.evaluate(x.view(), 0.9, -1.0); }, "sigma_t");
  expect_invalid([&] { s.evaluate(x.view(), -0.1, 1.0); }, "mu_t");
  std::vector<double> score(8), logp(4), div(4), two(2);
  const double one[1] = {1.0};
  expect_invalid([&] { s.evaluate(x.view(), two, one, score, logp, div); }, "mu_t");
  expect_invalid([&] { s.evaluate(x.view(), one, two, score, logp, div); }, "sigma_t");
  expect_invalid([&] { s.evaluate(x.view(), one, one, two, logp, div); }, "score");
  expect_invalid([&] { s.evaluate(x.view(), one, one, score, two, div); }, "log_density");
  expect_invalid([&] { s.evaluate(x.view(), one, one, score, logp, two); }, "divergence");
  EmpiricalScoreOptions options;
  options.tile = 0;
  expect_invalid([&] { s.evaluate(x.view(), one, one, score, logp, div, options); }, "tile");
  options = {};
  options.expanded_tolerance = -1.0;
  expect_invalid([&] { s.evaluate(x.view(), one, one, score, logp, div, options); }, "expanded_tolerance");
  expect_invalid([] { empirical_score_field(nullptr, default_schedule(ScheduleKind::ou)); }, "empirical");
}

TEST(EmpiricalScoreField, MatchesTheKernelAtTheScheduleTimes_AndFlagsNonFiniteRows) {
  // Row r at its own t: mu_t, sigma_t from the schedule; a non-finite row gets
  // NaN and leaves the others bitwise unchanged.
  const Schedule schedule = default_schedule(ScheduleKind::vp);
  const Matrix training = normal_matrix(50, 2, 70);
  const auto empirical = std::make_shared<const EmpiricalScore>(training.view());
  const ScoreDivergenceField field = empirical_score_field(empirical, schedule);
  Matrix x = normal_matrix(3, 2, 71);
  const std::vector<double> t{0.01, 0.3, 0.9};
  std::vector<double> score(6), div(3);
  field(t, x.view(), score, div);
  for (std::size_t r = 0; r < 3; ++r) {
    const Matrix row(1, 2, std::vector<double>(x.row(r).begin(), x.row(r).end()));
    const auto v = empirical->evaluate(row.view(), schedule.mean_scale(t[r]), schedule.std_dev(t[r]));
    EXPECT_EQ(score[2 * r], v.score(0, 0));
    EXPECT_EQ(score[2 * r + 1], v.score(0, 1));
    EXPECT_EQ(div[r], v.divergence[0]);
  }
  std::vector<double> score2(6), div2(3);
  x(1, 0) = std::numeric_limits<double>::quiet_NaN();
  field(t, x.view(), score2, div2);
  EXPECT_TRUE(std::isnan(score2[2]) && std::isnan(score2[3]) && std::isnan(div2[1]));
  EXPECT_EQ(score2[0], score[0]);
  EXPECT_EQ(score2[5], score[5]);
  EXPECT_EQ(div2[2], div[2]);
}

TEST(EmpiricalScoreField, ReverseSdeSamples_LandOnTrainingPoints) {
  // Sampling with s_n reproduces the training set (memorisation, docs/math.md §8):
  // p_{t_min}^n puts each sample within ~sigma sqrt(d) of mu x_j, and at
  // t_min = 1e-3 (ou: sigma = 0.045) that is far closer than the next point of
  // a jittered unit grid (20 points in d = 2, spacing ~1): memorised =
  // nearest / second-nearest distance < 1/3. Euler-Maruyama, 500 uniform
  // steps (h = 0.01: the last steps' contraction g^2 h / sigma_t^2 stays
  // <= 1). Expect >= 95% memorised (observed: 196 of 200).
  const Schedule schedule = default_schedule(ScheduleKind::ou);
  const std::size_t n = 20, d = 2, samples = 200;
  Matrix training = normal_matrix(n, d, 80, 0.1);
  for (std::size_t i = 0; i < n; ++i)
    training(i, 0) += static_cast<double>(i % 5) - 2.0, training(i, 1) += static_cast<double>(i / 5) - 1.5;
  ReverseSdeOptions options;
  options.steps = 500;
  options.seed = 3;
  const SampleResult result =
      sample_reverse_sde(schedule, score_only(empirical_score_field(training.view(), schedule)), samples, d, options);
  ASSERT_TRUE(result.all_succeeded()) << result.failure_summary();
  std::size_t memorised = 0;
  for (std::size_t r = 0; r < samples; ++r) {
    double best = INFINITY, second = INFINITY;
    for (std::size_t i = 0; i < n; ++i) {
      double dist = 0.0;
      for (std::size_t k = 0; k < d; ++k) {
        const double diff = result.samples(r, k) - training(i, k);
        dist += diff * diff;
      }
      dist = std::sqrt(dist);
      if (dist < best)
        second = best, best = dist;
      else if (dist < second)
        second = dist;
    }
    if (best < second / 3.0) ++memorised;
  }
  EXPECT_GE(static_cast<double>(memorised) / samples, 0.95) << memorised << " of " << samples;
}

TEST(EmpiricalScoreField, Likelihood_IsExactWithTheExactDivergence) {
  // With the exact score and divergence of p_t^n and the exact terminal
  // density log p_T^n, the probability-flow ODE maps p_T^n to p_{t_min}^n:
  // log_likelihood must reproduce the kernel's log p_{t_min}^n(x). ou with
  // t_min = 0.05 (sigma = 0.31) keeps the score smooth; dopri5 at 1e-9.
  // The solve's error ~1e-7 per point: 1e-5 absolute.
  Schedule schedule = default_schedule(ScheduleKind::ou);
  schedule.t_min = 0.05;
  schedule.T = 3.0;
  const Matrix training = normal_matrix(7, 2, 90);
  const auto empirical = std::make_shared<const EmpiricalScore>(training.view());
  const Matrix x =
      mixed_queries(training, schedule.mean_scale(schedule.t_min), schedule.std_dev(schedule.t_min), 6, 91);
  LikelihoodOptions options;
  options.ode.controller.rtol = options.ode.controller.atol = 1e-9;
  options.terminal_log_density = empirical_log_density(empirical, schedule, schedule.T);
  const LikelihoodResult result = log_likelihood(schedule, empirical_score_field(empirical, schedule), x, options);
  ASSERT_TRUE(result.all_succeeded()) << result.failure_summary();
  const auto exact =
      empirical->evaluate(x.view(), schedule.mean_scale(schedule.t_min), schedule.std_dev(schedule.t_min));
  for (std::size_t r = 0; r < x.rows(); ++r) EXPECT_NEAR(result.log_p[r], exact.log_density[r], 1e-5) << r;
}

}  // namespace
}  // namespace gengap
