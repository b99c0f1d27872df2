// Gauss quadrature (Golub-Welsch): exactness on the polynomial degrees the
// theory promises (2n - 1) against analytic integrals/moments, a smooth
// non-polynomial integrand, and argument checks.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <cmath>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/solvers/quadrature.hpp"

namespace gengap {
namespace {

constexpr double eps = 2.220446049250313e-16;

// int_a^b t^k dt.
double monomial_integral(int k, double a, double b) {
  return (std::pow(b, k + 1) - std::pow(a, k + 1)) / (k + 1);
}

// (2k-1)!! = E[eps^{2k}] for eps ~ N(0, 1).
double double_factorial_odd(int k) {
  double v = 1.0;
  for (int j = 2 * k - 1; j > 1; j -= 2) v *= j;
  return v;
}

TEST(GaussLegendre, IntegratesMonomialsOfDegree2nMinus1Exactly) {
  const double a = -0.3, b = 2.1;
  for (std::size_t n = 1; n <= 24; ++n) {
    const QuadratureRule rule = gauss_legendre(n, a, b);
    ASSERT_EQ(rule.nodes.size(), n);
    ASSERT_EQ(rule.weights.size(), n);
    for (int k = 0; k <= static_cast<int>(2 * n - 1); ++k) {
      double sum = 0.0, magnitude = 0.0;
      for (std::size_t j = 0; j < n; ++j) {
        const double term = rule.weights[j] * std::pow(rule.nodes[j], k);
        sum += term;
        magnitude += std::abs(term);
      }
      // Exact in exact arithmetic; in floating point the nodes and weights
      // carry O(n eps) relative error, amplified by the degree k through
      // d(t^k)/dt = k t^{k-1}: tolerance 4 (n + k) eps relative to sum |w f|.
      const double tol = 4.0 * static_cast<double>(n + k) * eps * magnitude;
      EXPECT_NEAR(sum, monomial_integral(k, a, b), tol) << "n = " << n << ", degree " << k;
    }
  }
}

TEST(GaussLegendre, IntegratesExponentialWithinRemainderBound) {
  const double a = -1.0, b = 3.0;
  const double exact = std::exp(b) - std::exp(a);
  // Error bound (b-a)^{2n+1} (n!)^4 / ((2n+1) ((2n)!)^3) max e^t: for n = 12 it is
  // ~1e-23 relative, so only rounding remains (a few eps times n).
  const QuadratureRule rule = gauss_legendre(12, a, b);
  double sum = 0.0;
  for (std::size_t j = 0; j < rule.nodes.size(); ++j) sum += rule.weights[j] * std::exp(rule.nodes[j]);
  EXPECT_NEAR(sum, exact, 50.0 * eps * exact);
  // With n = 3 the truncation error is visible and matches the remainder
  // formula's order: (b-a)^7 (3!)^4 / (7 (6!)^3) f^(6)(xi), xi in [a, b].
  const QuadratureRule coarse = gauss_legendre(3, a, b);
  double coarse_sum = 0.0;
  for (std::size_t j = 0; j < 3; ++j) coarse_sum += coarse.weights[j] * std::exp(coarse.nodes[j]);
  const double factor = std::pow(b - a, 7) * std::pow(6.0, 4) / (7.0 * std::pow(720.0, 3));
  EXPECT_GE(exact - coarse_sum, factor * std::exp(a));
  EXPECT_LE(exact - coarse_sum, factor * std::exp(b));
}

TEST(GaussLegendre, NodesInsideIntervalSymmetricAndClosedFormForSmallN) {
  const double a = 0.5, b = 4.0;
  for (std::size_t n : {1u, 2u, 7u, 16u}) {
    const QuadratureRule rule = gauss_legendre(n, a, b);
    for (std::size_t j = 0; j < n; ++j) {
      EXPECT_GT(rule.nodes[j], a);
      EXPECT_LT(rule.nodes[j], b);
      EXPECT_GT(rule.weights[j], 0.0);
      if (j > 0) {
        EXPECT_GT(rule.nodes[j], rule.nodes[j - 1]);
      }
      // Mirror image about the midpoint, to rounding of the affine map.
      EXPECT_NEAR(rule.nodes[j] + rule.nodes[n - 1 - j], a + b, 4.0 * eps * (a + b));
      EXPECT_NEAR(rule.weights[j], rule.weights[n - 1 - j], 4.0 * eps);
    }
  }
  // n = 1 is the midpoint rule; n = 2 has nodes mid -/+ half / sqrt(3).
  const QuadratureRule one = gauss_legendre(1, a, b);
  EXPECT_DOUBLE_EQ(one.nodes[0], 2.25);
  EXPECT_DOUBLE_EQ(one.weights[0], 3.5);
  const QuadratureRule two = gauss_legendre(2, a, b);
  EXPECT_NEAR(two.nodes[0], 2.25 - 1.75 / std::sqrt(3.0), 8 * eps);
  EXPECT_NEAR(two.weights[1], 1.75, 8 * eps);
}

TEST(GaussHermiteNormal, ReproducesNormalMomentsUpToDegree2nMinus1) {
  for (std::size_t n = 1; n <= 30; ++n) {
    const QuadratureRule rule = gauss_hermite_normal(n);
    ASSERT_EQ(rule.nodes.size(), n);
    for (int k = 0; k <= static_cast<int>(2 * n - 1); ++k) {
      double sum = 0.0, magnitude = 0.0;
      for (std::size_t j = 0; j < n; ++j) {
        const double term = rule.weights[j] * std::pow(rule.nodes[j], k);
        sum += term;
        magnitude += std::abs(term);
      }
      const double exact = (k % 2 == 1) ? 0.0 : double_factorial_odd(k / 2);
      // Same rounding model as Gauss-Legendre: O((n + k) eps) relative to
      // sum |w f|. Odd moments cancel exactly because the rule is symmetric.
      const double tol = 4.0 * static_cast<double>(n + k) * eps * magnitude;
      EXPECT_NEAR(sum, exact, tol) << "n = " << n << ", degree " << k;
    }
  }
}

TEST(GaussHermiteNormal, MatchesClosedFormsForSmallN) {
  // n = 1: node 0, weight 1. n = 2: nodes -/+1, weights 1/2.
  // n = 3: nodes 0, -/+sqrt(3), weights 2/3, 1/6 (roots of He_3 = x^3 - 3x).
  const QuadratureRule one = gauss_hermite_normal(1);
  EXPECT_EQ(one.nodes[0], 0.0);
  EXPECT_NEAR(one.weights[0], 1.0, 4 * eps);
  const QuadratureRule two = gauss_hermite_normal(2);
  EXPECT_NEAR(two.nodes[1], 1.0, 4 * eps);
  EXPECT_NEAR(two.weights[0], 0.5, 4 * eps);
  const QuadratureRule three = gauss_hermite_normal(3);
  EXPECT_EQ(three.nodes[1], 0.0);
  EXPECT_NEAR(three.nodes[2], std::sqrt(3.0), 8 * eps);
  EXPECT_NEAR(three.weights[1], 2.0 / 3.0, 8 * eps);
  EXPECT_NEAR(three.weights[0], 1.0 / 6.0, 8 * eps);
}

TEST(GaussHermiteNormal, IntegratesEntireFunctionWithLargeRule) {
  // E[cosh(eps)] = e^{1/2}; for n = 60 the truncation error is far below
  // rounding, so the tolerance is a summation-rounding bound (n eps).
  const QuadratureRule rule = gauss_hermite_normal(60);
  double sum = 0.0;
  for (std::size_t j = 0; j < rule.nodes.size(); ++j) sum += rule.weights[j] * std::cosh(rule.nodes[j]);
  EXPECT_NEAR(sum, std::exp(0.5), 64 * eps);
}

TEST(Quadrature, RejectsBadArgumentsNamingTheField) {
  EXPECT_EQ(message_of([] { gauss_legendre(0, 0.0, 1.0); }).rfind("n: ", 0), 0u);
  EXPECT_EQ(message_of([] { gauss_hermite_normal(0); }).rfind("n: ", 0), 0u);
  EXPECT_EQ(message_of([] { gauss_legendre(3, 1.0, 1.0); }).rfind("b: ", 0), 0u);
  EXPECT_EQ(message_of([] { gauss_legendre(3, 2.0, 1.0); }).rfind("b: ", 0), 0u);
  EXPECT_EQ(message_of([] { gauss_legendre(3, std::nan(""), 1.0); }).rfind("a: ", 0), 0u);
  EXPECT_EQ(message_of([] { gauss_legendre(3, 0.0, INFINITY); }).rfind("b: ", 0), 0u);
}

}  // namespace
}  // namespace gengap
