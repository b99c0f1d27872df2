// The quadratic form of the DSM loss (docs/math.md §5): gram_matrices against sums
// over explicitly materialised features, QuadraticLoss::value against the
// point-by-point loss and against a from-scratch DSM loss built on the score
// kernel, the gradient against finite differences, thread-count independence,
// and argument checks.
#include <gtest/gtest.h>

#include "test_support.hpp"
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/kernels/detail/random_feature_tiles.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/score_field.hpp"
#include "loopback_world.hpp"

namespace gengap {
namespace {

RandomFeatures make_features(std::size_t m, std::size_t d, Activation a, std::uint64_t seed = 7) {
  return draw_random_features(m, d, fourier_embedding(16, 3.0, seed + 1), a, FeatureInit::sphere, seed);
}

// GramOptions with only the tile size set (no progress callback).
GramOptions tiles_of(std::size_t rows) {
  GramOptions options;
  options.tile_rows = rows;
  return options;
}

Matrix random_weights(std::size_t d, std::size_t m, double scale, std::uint64_t seed = 11) {
  Matrix A(d, m);
  CounterRng(seed, streams::initial_weights).fill_normal(A.flat());
  for (double& v : A.flat()) v *= scale;
  return A;
}

// (G, C, L_0) summed naively in long double over all points' features.
struct Reference {
  std::vector<long double> G, C;
  long double L0 = 0.0L;
};

Reference naive_sums(const RandomFeatures& rf, const DesignPoints& points) {
  const std::size_t m = rf.num_features(), d = rf.dim();
  DesignTile tile;
  points.fill(0, points.size(), tile);
  const Matrix phi = features(rf, tile.x, tile.t);
  Reference ref{std::vector<long double>(m * m, 0.0L), std::vector<long double>(m * d, 0.0L), 0.0L};
  for (std::size_t p = 0; p < tile.rows(); ++p) {
    const long double w = tile.weight[p];
    const auto f = phi.row(p);
    for (std::size_t j = 0; j < m; ++j) {
      const long double wf = w * f[j];
      for (std::size_t k = 0; k < m; ++k) ref.G[j * m + k] += wf * f[k];
      for (std::size_t l = 0; l < d; ++l) ref.C[j * d + l] += wf * tile.y(p, l);
    }
    ref.L0 += tile.loss0[p];
  }
  return ref;
}

// ------------------------------------------------------ Gram vs features

class GramVsFeatures : public testing::TestWithParam<std::tuple<std::size_t, std::size_t, Activation>> {};

// Each entry is a sum of N = 1261 terms; any summation order errs by at most
// N u sum|w phi_j phi_k| <= 1.4e-13 sqrt(G_jj G_kk) (Cauchy-Schwarz), and the
// sqrt(w) weighting adds a few ulps per term: 1e-12 on that scale is a bound,
// not a fit. m = 300 crosses several output blocks (one of them ragged); the
// tile sizes include 1, non-divisors of N and a tile larger than N.
TEST_P(GramVsFeatures, MatchesNaiveSums) {
  const auto [m, d, activation] = GetParam();
  const RandomFeatures rf = make_features(m, d, activation);
  const auto points = empirical_monte_carlo(normal_data(13, d), 97, ou_setup(), 2024);
  ASSERT_EQ(points->size(), 1261u);
  const Reference ref = naive_sums(rf, *points);
  double y2 = 0.0;  // sum w |y_l|^2 bounds the C entries together with G_jj
  {
    DesignTile tile;
    points->fill(0, points->size(), tile);
    for (std::size_t p = 0; p < tile.rows(); ++p)
      for (std::size_t l = 0; l < d; ++l) y2 += tile.weight[p] * tile.y(p, l) * tile.y(p, l);
  }
  for (std::size_t tile_rows : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{1000}, std::size_t{5000}}) {
    SCOPED_TRACE("tile_rows = " + std::to_string(tile_rows));
    if (m > 100 && tile_rows == 1) continue;  // 1261 rank-1 tiles of m = 300: slow, and m = 37 covers it
    const QuadraticLoss loss = gram_matrices(rf, *points, tiles_of(tile_rows));
    ASSERT_EQ(loss.G.rows(), m);
    ASSERT_EQ(loss.C.rows(), m);
    ASSERT_EQ(loss.C.cols(), d);
    std::size_t bad = 0;
    for (std::size_t j = 0; j < m; ++j) {
      for (std::size_t k = 0; k < m; ++k) {
        const double scale = std::sqrt(static_cast<double>(ref.G[j * m + j] * ref.G[k * m + k]));
        if (std::abs(loss.G(j, k) - static_cast<double>(ref.G[j * m + k])) > 1e-12 * scale && bad++ < 5) {
          ADD_FAILURE() << "G(" << j << "," << k << ") = " << loss.G(j, k) << " vs " << static_cast<double>(ref.G[j * m + k]);
        }
      }
      for (std::size_t l = 0; l < d; ++l) {
        const double scale = std::sqrt(static_cast<double>(ref.G[j * m + j]) * y2);
        EXPECT_NEAR(loss.C(j, l), static_cast<double>(ref.C[j * d + l]), 1e-12 * scale) << "C(" << j << "," << l << ")";
      }
    }
    EXPECT_EQ(bad, 0u);
    EXPECT_NEAR(loss.L0, static_cast<double>(ref.L0), 1e-12 * static_cast<double>(ref.L0));  // positive terms
    for (std::size_t j = 0; j < m; ++j)
      for (std::size_t k = 0; k < j; ++k) ASSERT_EQ(loss.G(j, k), loss.G(k, j));  // both triangles stored
  }
}

INSTANTIATE_TEST_SUITE_P(SizesAndActivations, GramVsFeatures,
                         testing::Combine(testing::Values(std::size_t{37}, std::size_t{300}),
                                          testing::Values(std::size_t{1}, std::size_t{3}),
                                          testing::Values(Activation::relu, Activation::silu)));

// ------------------------------------------------------ the loss itself

// value() expands the square; direct_loss() evaluates each point's residual.
// Both are sums of O(1) terms over ~1000 points; the expansion cancels at most
// a factor ~10 here (A is far from the minimiser), so 1e-10 relative leaves
// >100x margin over the rounding of either.
TEST(QuadraticLoss, ValueMatchesDirectLoss) {
  for (Activation a : {Activation::relu, Activation::silu}) {
    for (std::size_t d : {1u, 3u}) {
      const RandomFeatures rf = make_features(37, d, a);
      const auto points = empirical_monte_carlo(normal_data(11, d), 93, ou_setup(), 77);
      const QuadraticLoss loss = gram_matrices(rf, *points);
      for (double scale : {0.0, 1.0, 10.0}) {
        const Matrix A = random_weights(d, 37, scale);
        const double direct = direct_loss(rf, *points, A);
        EXPECT_NEAR(loss.value(A), direct, 1e-10 * std::abs(direct)) << "scale " << scale << " d " << d;
      }
    }
  }
}

// The loss is quadratic, so central differences have no truncation error:
// they match the gradient up to rounding in value() (~1e-15 |L| / h).
TEST(QuadraticLoss, GradientMatchesFiniteDifferences) {
  const std::size_t m = 37, d = 3;
  const RandomFeatures rf = make_features(m, d, Activation::silu);
  const QuadraticLoss loss = gram_matrices(rf, *empirical_monte_carlo(normal_data(9, d), 50, ou_setup(), 5));
  const Matrix A = random_weights(d, m, 3.0);
  const Matrix grad = loss.gradient(A);
  ASSERT_EQ(grad.rows(), d);
  ASSERT_EQ(grad.cols(), m);
  const double h = 1e-2;
  double scale = 0.0;
  for (double v : grad.flat()) scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0.0);
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < m; ++i) {
      Matrix plus = A, minus = A;
      plus(j, i) += h;
      minus(j, i) -= h;
      const double fd = (loss.value(plus) - loss.value(minus)) / (2.0 * h);
      EXPECT_NEAR(grad(j, i), fd, 1e-9 * (scale + std::abs(loss.value(A)))) << "(" << j << "," << i << ")";
    }
  }
  // At A = 0 the gradient is -C^T / m exactly.
  const Matrix g0 = loss.gradient(Matrix(d, m));
  for (std::size_t j = 0; j < d; ++j)
    for (std::size_t i = 0; i < m; ++i) EXPECT_DOUBLE_EQ(g0(j, i), -loss.C(i, j) / m);
}

// The quadratic form against the DSM loss of docs/math.md §4 written from scratch:
// each draw (i, t, eps) regenerated from the documented streams, x_t from the
// OU closed forms, the score from score_and_divergence (a different kernel
// path than the Gram accumulation), and
//   L(A) = 1/N sum lambda(t)/2 (|s_A(x_t, t) + eps / sigma_t|^2 - |eps|^2/sigma_t^2) + L_0,
// the draw's A-independent lambda |eps|^2/sigma^2 / 2 replaced by its exact
// mean L_0 = d/2 E_t[lambda / sigma_t^2] (closed form for OU), as the design's
// loss0 does (dsm_design.hpp).
// Both are O(1)-term sums over 1400 points: 1e-10 relative is rounding margin.
class DsmLossFromScratch : public testing::TestWithParam<std::tuple<Weighting, OutputScale>> {};

TEST_P(DsmLossFromScratch, QuadraticFormEqualsDirectDsmLoss) {
  const auto [weighting, output_scale] = GetParam();
  const DsmSetup setup = ou_setup(weighting, output_scale);
  const std::size_t m = 45, d = 2, n = 7, K = 200, N = n * K;
  const std::uint64_t seed = 314;
  const Matrix data = normal_data(n, d, 8);
  const RandomFeatures rf = make_features(m, d, Activation::silu, 19);
  const QuadraticLoss loss = gram_matrices(rf, *empirical_monte_carlo(data, K, setup, seed), tiles_of(333));

  const CounterRng time_rng(seed, streams::dsm_time), noise_rng(seed, streams::dsm_noise);
  const double t_min = setup.schedule.t_min, T = setup.schedule.T;
  Matrix X(N, d), eps(N, d);
  std::vector<double> t(N), c(N), lambda(N), sigma(N);
  for (std::size_t p = 0; p < N; ++p) {
    t[p] = t_min + (T - t_min) * time_rng.uniform(p);
    const double mu = std::exp(-t[p]);
    sigma[p] = std::sqrt(-std::expm1(-2.0 * t[p]));
    c[p] = output_scale == OutputScale::one ? 1.0 : 1.0 / sigma[p];
    // sigma2: sigma_t^2; likelihood: g^2 = 2 for OU; none: 1.
    lambda[p] = weighting == Weighting::sigma2 ? sigma[p] * sigma[p] : weighting == Weighting::likelihood ? 2.0 : 1.0;
    for (std::size_t j = 0; j < d; ++j) {
      eps(p, j) = noise_rng.normal(p * d + j);
      X(p, j) = mu * data(p / K, j) + sigma[p] * eps(p, j);
    }
  }
  for (double scale : {0.5, 5.0}) {
    const Matrix A = random_weights(d, m, scale, 3);
    std::vector<double> score(N * d);
    detail::score_and_divergence_tiles(rf, A, X, t, c, score, {});
    long double total = 0.0L;
    for (std::size_t p = 0; p < N; ++p) {
      double r2 = 0.0, e2 = 0.0;
      for (std::size_t j = 0; j < d; ++j) {
        const double r = score[p * d + j] + eps(p, j) / sigma[p];
        r2 += r * r;
        e2 += eps(p, j) * eps(p, j);
      }
      total += 0.5 * lambda[p] * (r2 - e2 / (sigma[p] * sigma[p]));
    }
    const double L0 = 0.5 * static_cast<double>(d) * ou_mean_lambda_over_variance(weighting, t_min, T);
    const double expected = static_cast<double>(total / N) + L0;
    EXPECT_NEAR(loss.value(A), expected, 1e-10 * expected) << "scale " << scale;
  }
}

INSTANTIATE_TEST_SUITE_P(WeightingsAndScales, DsmLossFromScratch,
                         testing::Values(std::make_tuple(Weighting::sigma2, OutputScale::one),
                                         std::make_tuple(Weighting::likelihood, OutputScale::inv_sigma),
                                         std::make_tuple(Weighting::none, OutputScale::one)));

// The denoiser (s = (mu D - x) / sigma^2, D = A phi / m) against its DSM loss
// written from scratch: the score from the library's score field (skip term
// included), each draw's residual r = s + eps / sigma = mu / sigma^2 (D - x_0),
// and
//   L(A) = 1/N sum [lambda/2 |r|^2 - w/2 |x_0|^2] + 1/n sum_i |x_i|^2 / 2 E_t[w],
// the draw's A-independent w |x_0|^2 / 2 (w = lambda mu^2 / sigma^4) replaced
// by its exact time average as the design's loss0 does (E_t[w] in closed form
// for OU: schedule_test). Terms reach w |x_0|^2 ~ 5e2 |x_0|^2 near t_min and
// cancel down to O(1): 1e-9 relative is rounding margin.
TEST(DsmLossFromScratch, DenoiserQuadraticFormEqualsDirectDsmLoss) {
  for (const Weighting weighting : {Weighting::sigma2, Weighting::none}) {
    const DsmSetup setup = ou_setup(weighting, OutputScale::denoiser);
    const std::size_t m = 45, d = 2, n = 7, K = 200, N = n * K;
    const std::uint64_t seed = 314;
    const Matrix data = normal_data(n, d, 8);
    const RandomFeatures rf = make_features(m, d, Activation::silu, 19);
    const QuadraticLoss loss = gram_matrices(rf, *empirical_monte_carlo(data, K, setup, seed), tiles_of(333));
    const CounterRng time_rng(seed, streams::dsm_time), noise_rng(seed, streams::dsm_noise);
    const double t_min = setup.schedule.t_min, T = setup.schedule.T;
    Matrix X(N, d), eps(N, d);
    std::vector<double> t(N);
    for (std::size_t p = 0; p < N; ++p) {
      t[p] = t_min + (T - t_min) * time_rng.uniform(p);
      const double mu = std::exp(-t[p]), sigma = std::sqrt(-std::expm1(-2.0 * t[p]));
      for (std::size_t j = 0; j < d; ++j) {
        eps(p, j) = noise_rng.normal(p * d + j);
        X(p, j) = mu * data(p / K, j) + sigma * eps(p, j);
      }
    }
    const auto closed_form_integral = [&](double u) {
      return weighting == Weighting::sigma2 ? 0.5 * std::log(-std::expm1(-2.0 * u)) : -0.5 / -std::expm1(-2.0 * u);
    };
    const double mean_w = (closed_form_integral(T) - closed_form_integral(t_min)) / (T - t_min);
    double data_constant = 0.0;
    for (std::size_t i = 0; i < n; ++i) data_constant += 0.5 * (data(i, 0) * data(i, 0) + data(i, 1) * data(i, 1)) * mean_w / n;
    for (double scale : {0.5, 5.0}) {
      const Matrix A = random_weights(d, m, scale, 3);
      std::vector<double> score(N * d), divergence(N);
      random_feature_score(rf, A, setup)(t, X.view(), score, divergence);
      long double total = 0.0L;
      for (std::size_t p = 0; p < N; ++p) {
        const double mu = std::exp(-t[p]), var = -std::expm1(-2.0 * t[p]);
        const double lambda = weighting == Weighting::sigma2 ? var : 1.0, w = lambda * mu * mu / (var * var);
        double r2 = 0.0, x02 = 0.0;
        for (std::size_t j = 0; j < d; ++j) {
          const double r = score[p * d + j] + eps(p, j) / std::sqrt(var);
          r2 += r * r;
          x02 += data(p / K, j) * data(p / K, j);
        }
        total += 0.5 * lambda * r2 - 0.5 * w * x02;
      }
      const double expected = static_cast<double>(total / N) + data_constant;
      EXPECT_NEAR(loss.value(A), expected, 1e-9 * std::abs(expected)) << to_string(weighting) << " scale " << scale;
    }
  }
}

// The denoiser's field is the "one" field rescaled plus the skip term, exactly:
// s = mu / sigma^2 s_one - x / sigma^2, div = mu / sigma^2 div_one - d / sigma^2.
TEST(RandomFeatureScoreField, DenoiserIsTweediesFormOfTheOutput) {
  const std::size_t m = 30, d = 3, N = 70;  // N > 64: the parallel blocks too
  const RandomFeatures rf = make_features(m, d, Activation::relu, 5);
  const Matrix A = random_weights(d, m, 2.0, 8);
  Matrix X(N, d);
  CounterRng(4, streams::test_data).fill_normal(X.flat());
  std::vector<double> t(N);
  for (std::size_t p = 0; p < N; ++p) t[p] = 1e-3 + 0.07 * static_cast<double>(p);
  std::vector<double> s_one(N * d), div_one(N), s_den(N * d), div_den(N);
  random_feature_score(rf, A, ou_setup(Weighting::sigma2, OutputScale::one))(t, X.view(), s_one, div_one);
  const DsmSetup denoiser = ou_setup(Weighting::sigma2, OutputScale::denoiser);
  random_feature_score(rf, A, denoiser)(t, X.view(), s_den, div_den);
  for (std::size_t p = 0; p < N; ++p) {
    const double mu = denoiser.schedule.mean_scale(t[p]), var = denoiser.schedule.variance(t[p]);
    for (std::size_t j = 0; j < d; ++j) {
      const double expected = (mu * s_one[p * d + j] - X(p, j)) / var;
      EXPECT_NEAR(s_den[p * d + j], expected, 1e-13 * (1.0 + std::abs(expected))) << "row " << p;
    }
    const double expected_div = (mu * div_one[p] - static_cast<double>(d)) / var;
    EXPECT_NEAR(div_den[p], expected_div, 1e-13 * (1.0 + std::abs(expected_div))) << "row " << p;
  }
}

// Output blocks of G are computed by the same calls in the same tile order
// whatever the scheduling: 1 and 2 threads give identical bits.
TEST(GramMatrices, BitwiseIdenticalForAnyThreadCount) {
  const std::size_t m = 600, d = 2;
  const RandomFeatures rf = make_features(m, d, Activation::silu);
  const auto points = empirical_monte_carlo(normal_data(31, d), 97, ou_setup(), 9);  // N = 3007
  QuadraticLoss one, two;
  tbb::task_arena(1).execute([&] { one = gram_matrices(rf, *points, tiles_of(512)); });
  tbb::task_arena(2).execute([&] { two = gram_matrices(rf, *points, tiles_of(512)); });
  EXPECT_TRUE(one.G == two.G);
  EXPECT_TRUE(one.C == two.C);
  EXPECT_EQ(std::memcmp(&one.L0, &two.L0, sizeof(double)), 0);
  // and the direct loss too (its reduction is serial in point order)
  const Matrix A = random_weights(d, m, 1.0);
  double l1 = 0.0, l2 = 0.0;
  tbb::task_arena(1).execute([&] { l1 = direct_loss(rf, *points, A); });
  tbb::task_arena(2).execute([&] { l2 = direct_loss(rf, *points, A); });
  EXPECT_EQ(std::memcmp(&l1, &l2, sizeof(double)), 0);
}

// Lanes fix the summation order, ranks only who sums: 5 lanes over 1, 2 and
// 3 ranks (threads over the in-process network; 3 is an uneven split, 2 and
// 1 + 2 lanes) give rank 0 the one-process bits, the other ranks nothing.
// Different lane counts are the same sums in another order: equal to
// rounding (relative 1e-12: ~3000 rows of O(1) terms, each sum's error
// ~sqrt(N) ulp).
TEST(GramMatrices, LanesOverRanksGiveTheOneProcessBits) {
  const std::size_t m = 300, d = 2;
  const RandomFeatures rf = make_features(m, d, Activation::silu);
  const auto points = empirical_monte_carlo(normal_data(31, d), 97, ou_setup(), 9);  // N = 3007
  GramOptions options = tiles_of(256);
  options.lanes = 5;
  const QuadraticLoss one = gram_matrices(rf, *points, options);
  for (const int ranks : {1, 2, 3}) {
    LoopbackNetwork network(ranks);
    std::vector<QuadraticLoss> results(static_cast<std::size_t>(ranks));
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r) {
      threads.emplace_back([&, r] {
        LoopbackRank world(network, r);
        GramOptions o = options;
        o.world = &world;
        results[static_cast<std::size_t>(r)] = gram_matrices(rf, *points, o);
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_TRUE(results[0].G == one.G) << ranks;
    EXPECT_TRUE(results[0].C == one.C) << ranks;
    EXPECT_EQ(std::memcmp(&results[0].L0, &one.L0, sizeof(double)), 0) << ranks;
    for (int r = 1; r < ranks; ++r) EXPECT_TRUE(results[static_cast<std::size_t>(r)].G.empty());
  }
  options.lanes = 2;
  const QuadraticLoss two = gram_matrices(rf, *points, options);
  for (std::size_t k = 0; k < m * m; ++k) {
    ASSERT_NEAR(two.G.flat()[k], one.G.flat()[k], 1e-12 * (std::abs(one.G.flat()[k]) + 1.0)) << k;
  }
  EXPECT_NEAR(two.L0, one.L0, 1e-12 * std::abs(one.L0));
}

// ------------------------------------------------------------- bad input

// A hand-written source, to feed gram_matrices what the library's never produce.
class FixedPoints final : public DesignPoints {
 public:
  explicit FixedPoints(DesignTile tile) : tile_(std::move(tile)) {}
  std::size_t size() const override { return tile_.rows(); }
  std::size_t dim() const override { return tile_.x.cols(); }
  void fill(std::size_t begin, std::size_t end, DesignTile& tile) const override {
    const std::size_t d = dim();
    tile.resize(end - begin, d);
    for (std::size_t p = begin; p < end; ++p) {
      for (std::size_t j = 0; j < d; ++j) {
        tile.x(p - begin, j) = tile_.x(p, j);
        tile.y(p - begin, j) = tile_.y(p, j);
      }
      tile.t[p - begin] = tile_.t[p];
      tile.weight[p - begin] = tile_.weight[p];
      tile.loss0[p - begin] = tile_.loss0[p];
    }
  }

 private:
  DesignTile tile_;
};

DesignTile simple_tile(std::size_t rows, std::size_t d) {
  DesignTile tile;
  tile.resize(rows, d);
  for (std::size_t p = 0; p < rows; ++p) {
    for (std::size_t j = 0; j < d; ++j) {
      tile.x(p, j) = 0.1 * static_cast<double>(p + j);
      tile.y(p, j) = 1.0;
    }
    tile.t[p] = 0.5;
    tile.weight[p] = 1.0 / static_cast<double>(rows);
    tile.loss0[p] = 0.5 / static_cast<double>(rows);
  }
  return tile;
}

TEST(GramMatrices, RejectsBadArguments) {
  const RandomFeatures rf = make_features(20, 2, Activation::relu);
  const auto one_d = empirical_monte_carlo(normal_data(4, 1), 3, ou_setup(), 1);
  expect_invalid([&] { gram_matrices(rf, *one_d); }, "points");
  expect_invalid([&] { direct_loss(rf, *one_d, Matrix(2, 20)); }, "points");
  const auto two_d = empirical_monte_carlo(normal_data(4, 2), 3, ou_setup(), 1);
  expect_invalid([&] { gram_matrices(rf, *two_d, tiles_of(0)); }, "tile_rows");
  GramOptions no_lanes;
  no_lanes.lanes = 0;
  expect_invalid([&] { gram_matrices(rf, *two_d, no_lanes); }, "lanes");
  expect_invalid([&] { direct_loss(rf, *two_d, Matrix(1, 20)); }, "A");

  DesignTile negative = simple_tile(10, 2);
  negative.weight[3] = -1.0;
  expect_invalid([&] { gram_matrices(rf, FixedPoints(negative)); }, "points");

  // An infinite target overflows C and L_0: a numerical failure, not silence.
  DesignTile infinite = simple_tile(10, 2);
  infinite.y(4, 1) = std::numeric_limits<double>::infinity();
  infinite.loss0[4] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(gram_matrices(rf, FixedPoints(infinite)), NumericalError);
}

TEST(QuadraticLoss, ValidateNamesTheField) {
  const RandomFeatures rf = make_features(12, 2, Activation::relu);
  const QuadraticLoss good = gram_matrices(rf, *empirical_monte_carlo(normal_data(4, 2), 3, ou_setup(), 1));
  EXPECT_NO_THROW(good.validate());
  QuadraticLoss bad = good;
  bad.G = Matrix(12, 11);
  expect_invalid([&] { bad.validate(); }, "G");
  bad = good;
  bad.C = Matrix(11, 2);
  expect_invalid([&] { bad.validate(); }, "C");
  bad = good;
  bad.G(3, 4) = std::nan("");
  expect_invalid([&] { bad.validate(); }, "G");
  bad = good;
  bad.L0 = std::numeric_limits<double>::infinity();
  expect_invalid([&] { bad.validate(); }, "L0");
  expect_invalid([&] { good.value(Matrix(2, 11)); }, "A");
  expect_invalid([&] { good.gradient(Matrix(3, 12)); }, "A");
}

}  // namespace
}  // namespace gengap
