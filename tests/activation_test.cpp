// Activations and derivatives (docs/math.md §3): SIMD kernels against the scalar
// references, the scalar formulas against independent long-double ones,
// derivatives against finite differences, extremes, and name parsing.
// First: silences GCC 12's false warnings in xsimd's exp and log1p (at -O1).
#include "gengap/kernels/simd/gcc_warnings.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gengap/kernels/simd/activation.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

constexpr double eps = std::numeric_limits<double>::epsilon();
constexpr std::size_t width = xsimd::batch<double>::size;

// Independent definitions in long double (different algebraic forms from the
// kernels': silu as z / (1 + e^{-z}), softplus as log(1 + e^z), tanh' as sech^2).
struct Reference {
  static long double silu(long double z) { return z / (1 + std::exp(-z)); }
  static long double sigmoid(long double z) { return 1 / (1 + std::exp(-z)); }
};
template <class Act> long double reference_value(long double z);
template <class Act> long double reference_derivative(long double z);
template <> long double reference_value<act::Relu>(long double z) { return z > 0 ? z : 0; }
template <> long double reference_derivative<act::Relu>(long double z) { return z > 0 ? 1 : 0; }
template <> long double reference_value<act::Silu>(long double z) { return Reference::silu(z); }
template <> long double reference_derivative<act::Silu>(long double z) {
  const long double s = Reference::sigmoid(z);
  return s + z * s * (1 - s);
}
template <> long double reference_value<act::Softplus>(long double z) { return std::log(1 + std::exp(z)); }
template <> long double reference_derivative<act::Softplus>(long double z) { return Reference::sigmoid(z); }
template <> long double reference_value<act::Tanh>(long double z) { return std::tanh(z); }
template <> long double reference_derivative<act::Tanh>(long double z) {
  const long double c = std::cosh(z);
  return 1 / (c * c);
}

// Inputs spread over [-12, 12] plus exact zero, by a fixed irrational stride.
std::vector<double> sample_inputs(std::size_t n) {
  std::vector<double> z(n);
  for (std::size_t i = 0; i < n; ++i) z[i] = -12.0 + std::fmod(0.6180339887498949 * 37.0 * static_cast<double>(i), 24.0);
  if (n > 2) z[n / 2] = 0.0;
  return z;
}

// SIMD vs scalar: xsimd's exp/log1p/tanh and glibc's agree to within ~2 ulp
// each; composed in sigmoid, silu (z * s) and softplus (max + log1p) the
// difference stays below 8 ulp of max(|ref|, 1). The floor at 1 covers silu'
// and tanh-type cancellations (1 + z(1 - s), 1 - h^2) whose terms are O(1)
// while the result can be near 0: ulps of the terms, not of the result.
double simd_tolerance(double reference) { return 8 * eps * std::max(std::abs(reference), 1.0); }

template <class Act>
class ActivationTest : public testing::Test {};
using Activations = testing::Types<act::Relu, act::Silu, act::Softplus, act::Tanh>;
TYPED_TEST_SUITE(ActivationTest, Activations);

TYPED_TEST(ActivationTest, SimdMatchesScalarReferenceForEveryLength) {
  using Act = TypeParam;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, width - 1, width, width + 1, std::size_t{1000} + 3}) {
    const auto z = sample_inputs(n);
    // Guard entries after the end: the kernels must never write past n.
    std::vector<double> v(n + 1, -7.0), dv(n + 1, -7.0), v2(n + 1, -7.0), rv(n), rv2(n), rdv(n);
    activate<Act>(z, std::span<double>(v).first(n));
    activate_with_derivative<Act>(z, std::span<double>(v2).first(n), std::span<double>(dv).first(n));
    activate_scalar<Act>(z, rv);
    activate_with_derivative_scalar<Act>(z, rv2, rdv);
    EXPECT_EQ(v[n], -7.0);
    EXPECT_EQ(v2[n], -7.0);
    EXPECT_EQ(dv[n], -7.0);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_NEAR(v[i], rv[i], simd_tolerance(rv[i])) << "n=" << n << " z=" << z[i];
      EXPECT_NEAR(v2[i], rv[i], simd_tolerance(rv[i])) << "n=" << n << " z=" << z[i];
      EXPECT_NEAR(rv2[i], rv[i], simd_tolerance(rv[i])) << "n=" << n << " z=" << z[i];
      EXPECT_NEAR(dv[i], rdv[i], simd_tolerance(rdv[i])) << "n=" << n << " z=" << z[i];
    }
  }
}

TYPED_TEST(ActivationTest, KernelsWorkInPlace) {
  using Act = TypeParam;
  const auto z = sample_inputs(2 * width + 3);
  std::vector<double> expected(z.size()), in_place = z;
  activate<Act>(z, expected);
  activate<Act>(in_place, in_place);
  EXPECT_EQ(in_place, expected);
}

// The double formulas against long-double definitions: a few ulp of
// max(|ref|, 1), for the same cancellation reason as simd_tolerance.
TYPED_TEST(ActivationTest, ScalarFormulasMatchIndependentDefinitions) {
  using Act = TypeParam;
  for (double z : sample_inputs(997)) {
    const double ref_v = static_cast<double>(reference_value<Act>(z));
    const double ref_d = static_cast<double>(reference_derivative<Act>(z));
    EXPECT_NEAR(Act::value(z), ref_v, simd_tolerance(ref_v)) << "z=" << z;
    EXPECT_NEAR(Act::derivative(z), ref_d, simd_tolerance(ref_d)) << "z=" << z;
  }
}

// Central differences with h = 1e-5: truncation h^2/6 |act'''| <= 2e-11 (|act'''|
// <= 1 for these), rounding eps |act| / h <= 3e-10 for |z| <= 12; tolerance
// 1e-8 (1 + |act'|). Relu is tested only away from its kink (|z| > 10 h).
TYPED_TEST(ActivationTest, DerivativeMatchesCentralDifference) {
  using Act = TypeParam;
  const double h = 1e-5;
  const auto z = sample_inputs(1000);
  std::vector<double> v(z.size()), dv(z.size());
  activate_with_derivative<Act>(z, v, dv);
  for (std::size_t i = 0; i < z.size(); ++i) {
    if (std::abs(z[i]) < 10 * h) continue;
    const double fd = (Act::value(z[i] + h) - Act::value(z[i] - h)) / (2 * h);
    EXPECT_NEAR(dv[i], fd, 1e-8 * (1.0 + std::abs(fd))) << "z=" << z[i];
  }
}

TYPED_TEST(ActivationTest, ExtremeInputsGiveFiniteLimits) {
  using Act = TypeParam;
  // Lengths width + 1 put the extremes through both the SIMD and the scalar path.
  std::vector<double> z;
  for (std::size_t i = 0; i <= width; ++i) z.push_back(i % 2 == 0 ? -800.0 : 800.0);
  z.back() = 1e300;
  z[width - 1] = -1e300;
  std::vector<double> v(z.size()), dv(z.size());
  activate_with_derivative<Act>(z, v, dv);
  for (std::size_t i = 0; i < z.size(); ++i) {
    ASSERT_TRUE(std::isfinite(v[i]) && std::isfinite(dv[i])) << "z=" << z[i];
    const bool positive = z[i] > 0;
    // Limits: act'(+inf) = 1 and act(z) ~ z (relu, silu, softplus) or 1 (tanh);
    // at -inf everything is 0 except tanh -> -1. Exact in double at |z| >= 800.
    const bool is_tanh = std::is_same_v<Act, act::Tanh>;
    const double expected_v = is_tanh ? (positive ? 1.0 : -1.0) : (positive ? z[i] : 0.0);
    const double expected_dv = is_tanh ? 0.0 : (positive ? 1.0 : 0.0);
    EXPECT_EQ(v[i], expected_v) << "z=" << z[i];
    EXPECT_EQ(dv[i], expected_dv) << "z=" << z[i];
  }
}

TEST(Activation_WithActivation, DispatchesToTheNamedStruct) {
  for (const auto& [a, name] : {std::pair{Activation::relu, "relu"}, std::pair{Activation::silu, "silu"},
                                 std::pair{Activation::softplus, "softplus"}, std::pair{Activation::tanh, "tanh"}}) {
    // value at z = 1 identifies the activation: 1, 0.7311, 1.3133, 0.7616.
    const double got = with_activation(a, [](auto act) { return decltype(act)::value(1.0); });
    const double expected = std::string(name) == "relu"       ? 1.0
                            : std::string(name) == "silu"     ? 1.0 / (1.0 + std::exp(-1.0))
                            : std::string(name) == "softplus" ? std::log(1.0 + std::exp(1.0))
                                                              : std::tanh(1.0);
    EXPECT_NEAR(got, expected, 4 * eps) << name;
    EXPECT_EQ(to_string(a), name);
    EXPECT_EQ(parse_activation(name), a);
  }
}

TEST(Activation_Parse, UnknownNameThrowsNamingFieldAndChoices) {
  try {
    parse_activation("gelu");
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "activation: unknown activation 'gelu' (expected relu|silu|softplus|tanh)");
  }
  EXPECT_THROW(parse_activation("ReLU"), InvalidArgument);  // names are case-sensitive
  EXPECT_THROW(parse_activation(""), InvalidArgument);
}

}  // namespace
}  // namespace gengap
