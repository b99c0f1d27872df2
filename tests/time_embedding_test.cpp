// Time embeddings e(t) (docs/math.md §3): values against the defining formulas,
// the frequency distribution, and argument checks.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/time_embedding.hpp"

namespace gengap {
namespace {

constexpr double eps = std::numeric_limits<double>::epsilon();

TEST(TimeEmbedding_Fourier, ValuesMatchSinCosOfFrequencies) {
  const auto e = fourier_embedding(16, 30.0, 42);
  ASSERT_EQ(e.dim(), 16u);
  ASSERT_EQ(e.frequencies.size(), 8u);
  std::vector<double> out(16);
  for (double t : {0.0, 1e-3, 0.25, 0.5, 0.999, 1.0}) {
    e.evaluate(t, out);
    for (std::size_t k = 0; k < 8; ++k) {
      // Reference in long double; the double angle 2 pi omega t carries a
      // relative rounding of <= 2 eps, i.e. an absolute error <= 2 eps |angle|
      // in sin/cos (|angle| <= 2 pi * 5 * 30 ~ 1e3 here), plus 1 ulp of the result.
      const long double angle = 2 * std::numbers::pi_v<long double> * e.frequencies[k] * t;
      const double tol = 4 * eps * std::abs(static_cast<double>(angle)) + 2 * eps;
      EXPECT_NEAR(out[k], static_cast<double>(std::sin(angle)), tol) << "t=" << t << " k=" << k;
      EXPECT_NEAR(out[8 + k], static_cast<double>(std::cos(angle)), tol) << "t=" << t << " k=" << k;
    }
  }
}

TEST(TimeEmbedding_Fourier, FrequenciesAreScaledDrawsOfTheEmbeddingStream) {
  const auto e = fourier_embedding(6, 2.5, 9);
  const CounterRng rng(9, streams::embedding);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_EQ(e.frequencies[k], 2.5 * rng.normal(k));
  EXPECT_EQ(fourier_embedding(6, 2.5, 9).frequencies, e.frequencies);  // reproducible
  EXPECT_NE(fourier_embedding(6, 2.5, 10).frequencies, e.frequencies);  // seed matters
}

// omega_k ~ N(0, scale^2): with n draws the sample mean has standard error
// scale / sqrt(n) and the sample variance scale^2 sqrt(2 / (n - 1)); 5 standard
// errors fail with probability < 1e-6 for correct draws, but catch a wrong
// scale (e.g. 2 pi or a missing factor) or a biased generator.
TEST(TimeEmbedding_Fourier, FrequenciesAreNormalWithTheGivenScale) {
  const double scale = 30.0;
  const std::size_t n = 20000;
  const auto e = fourier_embedding(2 * n, scale, 123);
  double mean = 0.0;
  for (double w : e.frequencies) mean += w;
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (double w : e.frequencies) var += (w - mean) * (w - mean);
  var /= static_cast<double>(n - 1);
  EXPECT_LT(std::abs(mean), 5 * scale / std::sqrt(static_cast<double>(n)));
  EXPECT_LT(std::abs(var - scale * scale), 5 * scale * scale * std::sqrt(2.0 / static_cast<double>(n - 1)));
}

TEST(TimeEmbedding_Linear, IsTimeOverHorizon) {
  const auto e = linear_embedding(2.0);
  ASSERT_EQ(e.dim(), 1u);
  double out = 0.0;
  for (double t : {0.0, 0.3, 1.0, 2.0}) {
    e.evaluate(t, {&out, 1});
    EXPECT_EQ(out, t / 2.0);  // one correctly rounded division
  }
}

// k half periods over [0, T]: sin(pi k t / T), cos(pi k t / T), k = 1..dim/2.
TEST(TimeEmbedding_Sinusoidal, HasFixedFrequenciesOfHalfPeriodsOverTheHorizon) {
  const auto e = sinusoidal_embedding(6, 5.0);
  ASSERT_EQ(e.dim(), 6u);
  ASSERT_TRUE(e.is_trigonometric());
  EXPECT_EQ(e.frequencies, (std::vector<double>{1.0 / 10.0, 2.0 / 10.0, 3.0 / 10.0}));  // k / (2 T), one division
  std::vector<double> out(6);
  for (double t : {0.0, 1e-3, 1.7, 5.0}) {
    e.evaluate(t, out);
    for (std::size_t k = 0; k < 3; ++k) {
      const double angle = std::numbers::pi * static_cast<double>(k + 1) * t / 5.0;
      // The two angle roundings differ by a few ulps of |angle| <= 3 pi.
      EXPECT_NEAR(out[k], std::sin(angle), 1e-14) << "t=" << t << " k=" << k;
      EXPECT_NEAR(out[3 + k], std::cos(angle), 1e-14) << "t=" << t << " k=" << k;
    }
  }
  EXPECT_EQ(sinusoidal_embedding(6, 5.0).frequencies, e.frequencies);  // no random stream
}

TEST(TimeEmbedding_Polynomial, IsPowersOfTimeOverHorizon) {
  const auto e = polynomial_embedding(3, 2.0);
  ASSERT_EQ(e.dim(), 3u);
  std::vector<double> out(3);
  for (double t : {0.0, 0.3, 1.0, 2.0}) {
    e.evaluate(t, out);
    const double s = t / 2.0;
    EXPECT_EQ(out[0], s);
    EXPECT_DOUBLE_EQ(out[1], s * s);
    EXPECT_DOUBLE_EQ(out[2], s * s * s);
  }
  EXPECT_EQ(polynomial_embedding(1, 4.0).dim(), 1u);
}

TEST(TimeEmbedding_Names, ParseAndPrintRoundTrip) {
  for (const EmbeddingKind kind :
       {EmbeddingKind::fourier, EmbeddingKind::sinusoidal, EmbeddingKind::linear, EmbeddingKind::polynomial}) {
    EXPECT_EQ(parse_embedding(to_string(kind)), kind);
  }
  EXPECT_EQ(to_string(EmbeddingKind::fourier), "fourier");
  EXPECT_EQ(to_string(EmbeddingKind::linear), "linear");
  expect_invalid([] { parse_embedding("gaussian"); }, "embedding");
}

TEST(TimeEmbedding_BadInput, ThrowsNamingTheField) {
  expect_invalid([] { fourier_embedding(7, 1.0, 1); }, "embedding.dim");
  expect_invalid([] { fourier_embedding(0, 1.0, 1); }, "embedding.dim");
  expect_invalid([] { fourier_embedding(8, 0.0, 1); }, "embedding.scale");
  expect_invalid([] { fourier_embedding(8, std::numeric_limits<double>::quiet_NaN(), 1); }, "embedding.scale");
  expect_invalid([] { linear_embedding(0.0); }, "embedding.horizon");
  expect_invalid([] { linear_embedding(-1.0); }, "embedding.horizon");
  expect_invalid([] { sinusoidal_embedding(3, 1.0); }, "embedding.dim");
  expect_invalid([] { sinusoidal_embedding(4, 0.0); }, "embedding.horizon");
  expect_invalid([] { polynomial_embedding(0, 1.0); }, "embedding.degree");
  expect_invalid([] { polynomial_embedding(2, -1.0); }, "embedding.horizon");

  TimeEmbedding empty;  // fourier without frequencies
  expect_invalid([&] { empty.validate(); }, "embedding.frequencies");
  auto nan_frequency = fourier_embedding(4, 1.0, 1);
  nan_frequency.frequencies[1] = std::numeric_limits<double>::infinity();
  expect_invalid([&] { nan_frequency.validate(); }, "embedding.frequencies");

  const auto e = fourier_embedding(4, 1.0, 1);
  std::vector<double> wrong(3);
  expect_invalid([&] { e.evaluate(0.5, wrong); }, "out");
}

}  // namespace
}  // namespace gengap
