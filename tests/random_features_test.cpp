// Random-feature score model (docs/math.md §3, §9) against per-entry scalar loops,
// finite differences and its own contracts (unit-sphere rows, thread-count
// independence, argument checks).
#include <gtest/gtest.h>

#include "test_support.hpp"
#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/kernels/detail/random_feature_tiles.hpp"
#include "gengap/kernels/random_features.hpp"

namespace gengap {
namespace {

constexpr double eps = std::numeric_limits<double>::epsilon();

// Activation formulas written independently of kernels/simd/activation_impl.hpp
// (different algebraic forms, std math only); inputs here stay within |z| < 30.
double reference_act(Activation a, double z) {
  switch (a) {
    case Activation::relu: return z > 0.0 ? z : 0.0;
    case Activation::silu: return z / (1.0 + std::exp(-z));
    case Activation::softplus: return std::log1p(std::exp(z));
    case Activation::tanh: return std::tanh(z);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

RandomFeatures make_features(std::size_t m, std::size_t d, Activation a, std::uint64_t seed = 7) {
  return draw_random_features(m, d, fourier_embedding(16, 3.0, seed + 1), a, FeatureInit::sphere, seed);
}

// Points x ~ N(0, I) and times t in (0, 1), from their own streams.
struct Points {
  Matrix X;
  std::vector<double> t;
  std::vector<double> c;
};
Points make_points(std::size_t n, std::size_t d, std::uint64_t seed = 3) {
  Points p{Matrix(n, d), std::vector<double>(n), std::vector<double>(n)};
  const CounterRng rng(seed, streams::test_data);
  rng.fill_normal(p.X.flat());
  for (std::size_t i = 0; i < n; ++i) {
    p.t[i] = rng.uniform(1'000'000 + i);
    p.c[i] = 0.5 + rng.uniform(2'000'000 + i);  // output scales in (0.5, 1.5)
  }
  return p;
}

Matrix make_weights(std::size_t d, std::size_t m, std::uint64_t seed = 11) {
  Matrix A(d, m);
  CounterRng(seed, streams::initial_weights).fill_normal(A.flat());
  return A;
}

// z_j(x, t) by the definition, one feature at a time.
std::vector<double> naive_pre_activation(const RandomFeatures& rf, std::span<const double> x, double t) {
  std::vector<double> e(rf.embedding.dim());
  rf.embedding.evaluate(t, e);
  std::vector<double> z(rf.num_features());
  for (std::size_t j = 0; j < z.size(); ++j) {
    double s = rf.b[j];
    for (std::size_t k = 0; k < x.size(); ++k) s += rf.W(j, k) * x[k];
    for (std::size_t l = 0; l < e.size(); ++l) s += rf.U(j, l) * e[l];
    z[j] = s;
  }
  return z;
}

// s = c/m A act(z), by the definition.
std::vector<double> naive_score(const RandomFeatures& rf, const Matrix& A, std::span<const double> x, double t,
                                double c) {
  const auto z = naive_pre_activation(rf, x, t);
  const std::size_t m = rf.num_features();
  std::vector<double> s(rf.dim(), 0.0);
  for (std::size_t k = 0; k < s.size(); ++k) {
    for (std::size_t j = 0; j < m; ++j) s[k] += A(k, j) * reference_act(rf.activation, z[j]);
    s[k] *= c / static_cast<double>(m);
  }
  return s;
}

// Tolerance for kernel-vs-naive comparisons: dgemm sums the p = d + 17 terms of
// z_j in another order (error <= p eps sum|terms|, and sum|terms| <= ~10 here
// since the rows are unit vectors and |x| ~ sqrt(d)), the SIMD exp/log1p/tanh
// differ from std by a few ulp, and act is 1.1-Lipschitz: 1e-12 (1 + |ref|)
// bounds all of it with a margin of ~10 while catching any wrong term (>= 1e-3).
double kernel_tolerance(double reference) { return 1e-12 * (1.0 + std::abs(reference)); }

TEST(RandomFeatures_Draw, SphereRowsHaveUnitNormAndAreNormalisedGaussians) {
  const std::size_t m = 257, d = 3, seed = 5;
  const auto sphere = draw_random_features(m, d, fourier_embedding(16, 1.0, 1), Activation::relu,
                                           FeatureInit::sphere, seed);
  const auto gauss = draw_random_features(m, d, fourier_embedding(16, 1.0, 1), Activation::relu,
                                          FeatureInit::gaussian, seed);
  const std::size_t de = 16, p = d + de + 1;
  const CounterRng rng(seed, streams::feature_weights);
  for (std::size_t i = 0; i < m; ++i) {
    std::vector<double> row_s, row_g;
    for (std::size_t k = 0; k < d; ++k) row_s.push_back(sphere.W(i, k)), row_g.push_back(gauss.W(i, k));
    for (std::size_t l = 0; l < de; ++l) row_s.push_back(sphere.U(i, l)), row_g.push_back(gauss.U(i, l));
    row_s.push_back(sphere.b[i]);
    row_g.push_back(gauss.b[i]);
    double norm2_s = 0.0, norm2_g = 0.0;
    for (std::size_t k = 0; k < p; ++k) {
      // Gaussian init is the raw draw index row * p + col of the feature stream.
      EXPECT_EQ(row_g[k], rng.normal(i * p + k));
      norm2_s += row_s[k] * row_s[k];
      norm2_g += row_g[k] * row_g[k];
    }
    // p = 20 squares of entries <= 1 sum with error <= p eps.
    EXPECT_NEAR(norm2_s, 1.0, 32 * eps) << "row " << i;
    for (std::size_t k = 0; k < p; ++k) {
      // Sphere row = Gaussian row / its norm (one division and a sqrt: few ulp).
      EXPECT_NEAR(row_s[k], row_g[k] / std::sqrt(norm2_g), 8 * eps);
    }
  }
}

class RandomFeaturesByActivation : public testing::TestWithParam<Activation> {};

TEST_P(RandomFeaturesByActivation, FeaturesMatchNaiveLoop) {
  for (std::size_t d : {1u, 2u, 5u}) {
    const auto rf = make_features(203, d, GetParam());  // m not a multiple of any SIMD width
    const auto pts = make_points(300, d);                  // several tiles, ragged last tile
    const Matrix phi = features(rf, pts.X, pts.t);
    ASSERT_EQ(phi.rows(), 300u);
    ASSERT_EQ(phi.cols(), 203u);
    for (std::size_t i = 0; i < 300; i += 7) {
      const auto z = naive_pre_activation(rf, pts.X.row(i), pts.t[i]);
      for (std::size_t j = 0; j < 203; ++j) {
        const double ref = reference_act(GetParam(), z[j]);
        ASSERT_NEAR(phi(i, j), ref, kernel_tolerance(ref)) << "d=" << d << " i=" << i << " j=" << j;
      }
    }
  }
}

TEST_P(RandomFeaturesByActivation, FeatureTileRowScaleMultipliesRows) {
  const auto rf = make_features(67, 2, GetParam());
  const auto pts = make_points(9, 2);
  std::vector<double> plain(9 * 67), scaled(9 * 67);
  feature_tile(rf, pts.X, pts.t, {}, plain);
  feature_tile(rf, pts.X, pts.t, pts.c, scaled);
  for (std::size_t i = 0; i < 9; ++i) {
    for (std::size_t j = 0; j < 67; ++j) {
      // Same pre-activations, then one extra rounded product: exact equality.
      EXPECT_EQ(scaled[i * 67 + j], pts.c[i] * plain[i * 67 + j]);
    }
  }
}

TEST_P(RandomFeaturesByActivation, ScoreMatchesNaiveDefinition) {
  for (std::size_t d : {1u, 2u, 5u}) {
    const std::size_t m = 203, n = 300;
    const auto rf = make_features(m, d, GetParam());
    const auto pts = make_points(n, d);
    const Matrix A = make_weights(d, m);
    std::vector<double> score(n * d), div(n);
    detail::score_and_divergence_tiles(rf, A, pts.X, pts.t, pts.c, score, div);
    for (std::size_t i = 0; i < n; i += 5) {
      const auto ref = naive_score(rf, A, pts.X.row(i), pts.t[i], pts.c[i]);
      for (std::size_t k = 0; k < d; ++k) {
        // A's entries are N(0,1): |s| <= c/m sum_j |A_kj||phi_j| keeps the
        // absolute error on the scale of kernel_tolerance(1).
        ASSERT_NEAR(score[i * d + k], ref[k], kernel_tolerance(ref[k])) << "d=" << d << " i=" << i;
      }
    }
  }
}

// Smooth activations: div s = tr(ds/dx) by central differences. With h = 1e-5
// the truncation error is h^2/6 |s'''| ~ 1e-11 and the rounding error
// ~ eps |s| / h ~ 1e-11 per diagonal entry (|s|, |s'''| are O(1): unit-norm
// rows, N(0,1) A, averaged over m); 1e-6 relative (on 1 + |div|) leaves a
// margin of 10^4 yet fails for a wrong kappa or a missing c/m factor.
TEST_P(RandomFeaturesByActivation, DivergenceMatchesFiniteDifferenceTrace) {
  const Activation a = GetParam();
  for (std::size_t d : {1u, 2u, 5u}) {
    const std::size_t m = 129, n = 40;
    const auto rf = make_features(m, d, a);
    const auto pts = make_points(n, d);
    const Matrix A = make_weights(d, m);
    std::vector<double> score(n * d), div(n);
    detail::score_and_divergence_tiles(rf, A, pts.X, pts.t, pts.c, score, div);
    const double h = 1e-5;
    std::size_t checked = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<double> x(pts.X.row(i).begin(), pts.X.row(i).end());
      if (a == Activation::relu) {
        // Central differences are exact for a piecewise-linear score only when
        // no kink lies within the step: |z_j| > h |w_j|_1 for every j (<= h sqrt(d)).
        const auto z = naive_pre_activation(rf, x, pts.t[i]);
        bool near_kink = false;
        for (double zj : z) near_kink = near_kink || std::abs(zj) < 1e-3;
        if (near_kink) continue;
      }
      double trace = 0.0;
      for (std::size_t k = 0; k < d; ++k) {
        auto xp = x, xm = x;
        xp[k] += h;
        xm[k] -= h;
        const auto sp = naive_score(rf, A, xp, pts.t[i], pts.c[i]);
        const auto sm = naive_score(rf, A, xm, pts.t[i], pts.c[i]);
        trace += (sp[k] - sm[k]) / (2 * h);
      }
      EXPECT_NEAR(div[i], trace, 1e-6 * (1.0 + std::abs(trace))) << "d=" << d << " i=" << i;
      ++checked;
    }
    EXPECT_GE(checked, n / 2) << "too few points away from the kinks";
  }
}

TEST_P(RandomFeaturesByActivation, OneAndTwoThreadsAreBitwiseIdentical) {
  const std::size_t m = 700, d = 3, n = 1000;  // 8 tiles, 2 feature chunks
  const auto rf = make_features(m, d, GetParam());
  const auto pts = make_points(n, d);
  const Matrix A = make_weights(d, m);
  std::vector<double> score1(n * d), div1(n), score2(n * d), div2(n);
  Matrix phi1, phi2;
  tbb::task_arena one(1), two(2);
  one.execute([&] {
    detail::score_and_divergence_tiles(rf, A, pts.X, pts.t, pts.c, score1, div1);
    phi1 = features(rf, pts.X, pts.t);
  });
  two.execute([&] {
    detail::score_and_divergence_tiles(rf, A, pts.X, pts.t, pts.c, score2, div2);
    phi2 = features(rf, pts.X, pts.t);
  });
  EXPECT_EQ(score1, score2);
  EXPECT_EQ(div1, div2);
  EXPECT_TRUE(phi1 == phi2);
}

TEST_P(RandomFeaturesByActivation, EmptyDivergenceSkipsItAndLeavesScoreUnchanged) {
  const std::size_t m = 100, d = 2, n = 50;
  const auto rf = make_features(m, d, GetParam());
  const auto pts = make_points(n, d);
  const Matrix A = make_weights(d, m);
  std::vector<double> with(n * d), without(n * d), div(n);
  detail::score_and_divergence_tiles(rf, A, pts.X, pts.t, pts.c, with, div);
  detail::score_and_divergence_tiles(rf, A, pts.X, pts.t, pts.c, without, {});
  EXPECT_EQ(with, without);
}

INSTANTIATE_TEST_SUITE_P(Activations, RandomFeaturesByActivation,
                         testing::Values(Activation::relu, Activation::silu, Activation::softplus, Activation::tanh),
                         [](const testing::TestParamInfo<Activation>& info) {
                           return std::string(to_string(info.param));
                         });

TEST(RandomFeatures_Names, ParseAndPrintRoundTrip) {
  EXPECT_EQ(parse_feature_init("sphere"), FeatureInit::sphere);
  EXPECT_EQ(parse_feature_init("gaussian"), FeatureInit::gaussian);
  EXPECT_EQ(to_string(FeatureInit::sphere), "sphere");
  EXPECT_EQ(to_string(FeatureInit::gaussian), "gaussian");
  expect_invalid([] { parse_feature_init("uniform"); }, "init");
}

TEST(RandomFeatures_BadInput, ThrowsNamingTheField) {
  const std::size_t m = 20, d = 2, n = 4;
  const auto rf = make_features(m, d, Activation::silu);
  const auto pts = make_points(n, d);
  const Matrix A = make_weights(d, m);
  std::vector<double> score(n * d), div(n);
  const auto call = [&](MatrixView A_, MatrixView X_, std::span<const double> t_, std::span<const double> c_,
                        std::span<double> s_, std::span<double> div_) {
    return [=, &rf] { detail::score_and_divergence_tiles(rf, A_, X_, t_, c_, s_, div_); };
  };
  const Matrix A_wrong = make_weights(d + 1, m);
  const Matrix X_wrong(n, d + 1);
  std::vector<double> short_t(n - 1), wrong_score(n * d + 1), wrong_div(n + 1);
  expect_invalid(call(A_wrong, pts.X, pts.t, pts.c, score, div), "A");
  expect_invalid(call(A, X_wrong, pts.t, pts.c, score, div), "X");
  expect_invalid(call(A, pts.X, short_t, pts.c, score, div), "t");
  expect_invalid(call(A, pts.X, pts.t, short_t, score, div), "output_scale");
  expect_invalid(call(A, pts.X, pts.t, pts.c, wrong_score, div), "score");
  expect_invalid(call(A, pts.X, pts.t, pts.c, score, wrong_div), "divergence");

  Matrix X_nan = pts.X;
  X_nan(2, 1) = std::numeric_limits<double>::quiet_NaN();
  auto t_nan = pts.t;
  t_nan[3] = std::numeric_limits<double>::quiet_NaN();
  expect_invalid(call(A, X_nan, pts.t, pts.c, score, div), "X");
  expect_invalid(call(A, pts.X, t_nan, pts.c, score, div), "t");
  expect_invalid([&] { features(rf, X_nan, pts.t); }, "X");
  std::vector<double> phi(n * m);
  expect_invalid([&] { feature_tile(rf, X_nan, pts.t, {}, phi); }, "X");
  expect_invalid([&] { feature_tile(rf, pts.X, pts.t, {}, std::span<double>(phi).first(n * m - 1)); }, "phi");

  expect_invalid([] { draw_random_features(0, 2, fourier_embedding(16, 1.0, 1), Activation::relu,
                                           FeatureInit::sphere, 1); }, "m");
  expect_invalid([] { draw_random_features(4, 0, fourier_embedding(16, 1.0, 1), Activation::relu,
                                           FeatureInit::sphere, 1); }, "d");
  expect_invalid([] { parse_activation("gelu"); }, "activation");

  RandomFeatures broken = rf;
  broken.b.pop_back();
  expect_invalid([&] { broken.validate(); }, "b");
  broken = rf;
  broken.U(0, 0) = std::numeric_limits<double>::infinity();
  expect_invalid([&] { broken.validate(); }, "U");
  broken = rf;
  broken.W = Matrix(0, d);
  expect_invalid([&] { broken.validate(); }, "W");
}

}  // namespace
}  // namespace gengap
