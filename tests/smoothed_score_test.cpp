// The smoothed empirical score s_delta = E_{u ~ k_delta}[s_n(x + u)]
// (solvers/smoothed_score.hpp, docs/math.md §8): delta = 0 is s_n bitwise and
// s_delta -> s_n as delta -> 0 (at rate delta^2); the d = 1 box closed form
// against composite Gauss-Legendre quadrature; smoothing along a data line
// embedded in R^3 against the 1-D closed form of the projected problem; the
// Gaussian kernel's Gauss-Hermite rule against an independent fine trapezoid
// rule; under a schedule the smoothed field drives the reverse SDE away from
// copying training points; bad input names its field.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <vector>

#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"
#include "gengap/solvers/smoothed_score.hpp"

namespace gengap {
namespace {

std::shared_ptr<const EmpiricalScore> empirical_of(const Matrix& training) {
  return std::make_shared<const EmpiricalScore>(training.view());
}

Matrix line_points(std::initializer_list<double> values) {
  return Matrix(values.size(), 1, std::vector<double>(values));
}

struct Smoothed {
  Matrix score;
  std::vector<double> divergence;
};

Smoothed smoothed(const SmoothedScore& s, const Matrix& x, double mu, double sigma) {
  Smoothed out{Matrix(x.rows(), x.cols()), std::vector<double>(x.rows())};
  const double m[1] = {mu}, sg[1] = {sigma};
  s.evaluate(x.view(), m, sg, out.score.flat(), out.divergence);
  return out;
}

TEST(SmoothedScore, DeltaZero_IsTheEmpiricalScoreBitwise) {
  Matrix training(30, 2);
  CounterRng(1, streams::training_data).fill_normal(training.flat());
  const auto empirical = empirical_of(training);
  Matrix x(5, 2);
  CounterRng(2, streams::test_data).fill_normal(x.flat());
  for (const SmoothingKernel kernel : {SmoothingKernel::box, SmoothingKernel::gaussian}) {
    SmoothingOptions options;
    options.kernel = kernel;
    const SmoothedScore s(empirical, options);
    EXPECT_EQ(s.evaluations_per_query(), 1u);
    const Smoothed got = smoothed(s, x, 0.8, 0.4);
    const auto exact = empirical->evaluate(x.view(), 0.8, 0.4);
    EXPECT_EQ(got.score, exact.score);
    EXPECT_EQ(got.divergence, exact.divergence);
  }
}

TEST(SmoothedScore, ShrinkingDelta_RecoversTheEmpiricalScore) {
  // s_delta - s_n = (m_2 delta^2 / 2) Laplacian-like term + O(delta^4) for a
  // symmetric kernel (m_2 = 1/3 for the box, 1 for the Gaussian), so the error
  // falls 4x when delta halves, and at delta = 1e-4 it is ~1e-8 relative to
  // the score's scale 1/sigma. Every method: d = 1 closed form, d = 2 tensor
  // grid, d = 2 along a direction, Gaussian kernel.
  Matrix training1 = line_points({-1.0, 0.2, 0.9, 2.0});
  Matrix training2(12, 2);
  CounterRng(3, streams::training_data).fill_normal(training2.flat());
  Matrix x1 = line_points({-0.5, 0.4, 1.7});
  Matrix x2(3, 2);
  CounterRng(4, streams::test_data).fill_normal(x2.flat());
  const double mu = 0.9, sigma = 0.5;
  struct Setup {
    const Matrix* training;
    const Matrix* x;
    SmoothingKernel kernel;
    std::vector<double> direction;
  };
  const std::vector<Setup> setups{{&training1, &x1, SmoothingKernel::box, {}},
                                  {&training1, &x1, SmoothingKernel::gaussian, {}},
                                  {&training2, &x2, SmoothingKernel::box, {}},
                                  {&training2, &x2, SmoothingKernel::box, {0.6, 0.8}},
                                  {&training2, &x2, SmoothingKernel::gaussian, {1.0, -1.0}}};
  for (const Setup& setup : setups) {
    const auto empirical = empirical_of(*setup.training);
    const auto exact = empirical->evaluate(setup.x->view(), mu, sigma);
    const auto error_at = [&](double delta) {
      SmoothingOptions options;
      options.kernel = setup.kernel;
      options.delta = delta;
      options.direction = setup.direction;
      options.nodes = 4;
      options.hermite_nodes = 8;
      options.panels = 1;
      const Smoothed got = smoothed(SmoothedScore(empirical, options), *setup.x, mu, sigma);
      double err = 0.0;
      for (std::size_t i = 0; i < got.score.size(); ++i)
        err = std::max(err, std::abs(got.score.flat()[i] - exact.score.flat()[i]));
      return err * sigma;  // relative to the scale 1/sigma
    };
    const double e1 = error_at(2e-2), e2 = error_at(1e-2);
    EXPECT_GT(e1 / e2, 3.5) << to_string(setup.kernel) << " " << setup.direction.size();
    EXPECT_LT(e1 / e2, 4.5) << to_string(setup.kernel) << " " << setup.direction.size();
    EXPECT_LT(error_at(1e-4), 1e-7) << to_string(setup.kernel) << " " << setup.direction.size();
  }
}

TEST(SmoothedScore, ClosedForm1D_MatchesCompositeGaussLegendre) {
  // d = 1 box: (log p(x + delta) - log p(x - delta)) / (2 delta) against the
  // quadrature of s_n over [-delta, delta] (16 panels of 16 nodes). The softmax
  // switches over ~sigma^2 / (mu spacing) = 0.08 while a panel is 0.06 wide:
  // geometric convergence far below rounding. The closed form's rounding is
  // eps |log p| / delta ~ 1e-15: agreement to 1e-11 relative to 1/sigma^2 for
  // the divergence and 1/sigma for the score.
  const Matrix training = line_points({-1.3, -0.2, 0.7, 1.1, 2.4});
  const auto empirical = empirical_of(training);
  const Matrix x = line_points({-2.0, -0.7, 0.0, 0.45, 0.9, 1.8, 3.1});
  const double mu = 0.95, sigma = 0.3;
  SmoothingOptions closed;
  closed.delta = 0.5;
  SmoothingOptions quadrature = closed;
  quadrature.closed_form = false;
  quadrature.panels = 16;
  quadrature.nodes = 16;
  const SmoothedScore a(empirical, closed), b(empirical, quadrature);
  EXPECT_EQ(a.evaluations_per_query(), 2u);
  EXPECT_EQ(b.evaluations_per_query(), 256u);
  const Smoothed sa = smoothed(a, x, mu, sigma), sb = smoothed(b, x, mu, sigma);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    EXPECT_NEAR(sa.score(r, 0), sb.score(r, 0), 1e-11 / sigma) << r;
    EXPECT_NEAR(sa.divergence[r], sb.divergence[r], 1e-11 / (sigma * sigma)) << r;
  }
}

TEST(SmoothedScore, AlongADataLineInR3_MatchesTheProjectedClosedForm) {
  // Training points x_i = x0 + tau_i e on a line in R^3. For y = x + v e,
  // |y - mu x_i|^2 = |P(x - mu x0)|^2 + (xi + v - mu tau_i)^2 with
  // xi = e . (x - mu x0) and P the projection orthogonal to e, so
  //   e . s_delta(x) = s_delta^{1-D}(xi)    (the 1-D problem with points tau_i),
  //   P s_delta(x)   = -P (x - mu x0) / sigma^2,
  //   div s_delta(x) = div s_delta^{1-D}(xi) - 2 / sigma^2.
  // Quadrature along e (16 x 16 Gauss-Legendre) and the closed form along the
  // data line (two log-densities in R^3) vs the 1-D closed form: 1e-11 (the
  // closed forms' rounding is eps |log p| / delta ~ 1e-14). Points just off
  // the line (1e-6) do not qualify for the closed form.
  const std::vector<double> e{2.0 / 7.0, 3.0 / 7.0, 6.0 / 7.0};
  const std::vector<double> x0{0.5, -1.0, 0.25};
  const std::vector<double> tau{-1.1, 0.0, 0.8, 1.9};
  Matrix training(tau.size(), 3);
  for (std::size_t i = 0; i < tau.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) training(i, k) = x0[k] + tau[i] * e[k];
  Matrix x(4, 3);
  CounterRng(5, streams::test_data).fill_normal(x.flat());
  const double mu = 0.9, sigma = 0.35, s2 = sigma * sigma;
  SmoothingOptions options;
  options.delta = 0.4;
  options.direction = {2.0, 3.0, 6.0};  // normalised internally
  options.panels = 16;
  options.closed_form = false;
  const SmoothedScore quadrature(empirical_of(training), options);
  options.closed_form = true;
  const SmoothedScore along_line(empirical_of(training), options);
  EXPECT_FALSE(quadrature.closed_form());
  EXPECT_TRUE(along_line.closed_form());
  EXPECT_EQ(along_line.evaluations_per_query(), 2u);
  Matrix off_line = training;
  off_line(2, 1) += 1e-6;
  EXPECT_FALSE(SmoothedScore(empirical_of(off_line), options).closed_form());

  SmoothingOptions closed;
  closed.delta = 0.4;
  const SmoothedScore line(empirical_of(Matrix(tau.size(), 1, tau)), closed);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    double diff[3], xi = 0.0;
    for (std::size_t k = 0; k < 3; ++k) diff[k] = x(r, k) - mu * x0[k], xi += e[k] * diff[k];
    const Smoothed one = smoothed(line, Matrix(1, 1, std::vector<double>{xi}), mu, sigma);
    for (const SmoothedScore* method : {&quadrature, &along_line}) {
      const Smoothed got = smoothed(*method, x, mu, sigma);
      for (std::size_t k = 0; k < 3; ++k) {
        const double expected = one.score(0, 0) * e[k] - (diff[k] - xi * e[k]) / s2;
        EXPECT_NEAR(got.score(r, k), expected, 1e-11 / sigma) << r << " " << k;
      }
      EXPECT_NEAR(got.divergence[r], one.divergence[0] - 2.0 / s2, 1e-11 / s2) << r;
    }
  }
}

TEST(SmoothedScore, GaussianKernel_MatchesAnIndependentFineRule) {
  // Two points +-a in d = 1: s_n(y) = (mu a tanh(mu a y / sigma^2) - y) / sigma^2.
  // E_{v ~ N(0, delta^2)}[s_n(x + v)] by the trapezoid rule on +-12 delta with
  // 24001 points (truncation ~e^{-72}; spectral in the step for this analytic
  // integrand) against Gauss-Hermite. tanh has poles at imaginary distance
  // pi sigma^2 / (2 mu a) = 1.45 delta, where Gauss-Hermite converges only
  // subexponentially: measured worst error 1e-6 (32 nodes), 2e-9 (64),
  // 2e-13 (128, used here), 6e-15 (256). 1e-11 / sigma.
  const double a = 1.0, mu = 0.9, sigma = 0.5, delta = 0.3, s2 = sigma * sigma;
  const auto empirical = empirical_of(line_points({-a, a}));
  SmoothingOptions options;
  options.kernel = SmoothingKernel::gaussian;
  options.delta = delta;
  options.hermite_nodes = 128;
  const Matrix x = line_points({-1.5, -0.2, 0.0, 0.35, 1.2});
  const Matrix got = SmoothedScore(empirical, options).evaluate(x.view(), mu, sigma);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const std::size_t steps = 24000;
    const double h = 24.0 * delta / steps;
    double sum = 0.0;
    for (std::size_t j = 0; j <= steps; ++j) {
      const double v = -12.0 * delta + h * static_cast<double>(j);
      const double y = x(r, 0) + v;
      const double density = std::exp(-0.5 * v * v / (delta * delta)) / (delta * std::sqrt(2 * std::numbers::pi));
      const double weight = (j == 0 || j == steps) ? 0.5 : 1.0;
      sum += weight * h * density * (mu * a * std::tanh(mu * a * y / s2) - y) / s2;
    }
    EXPECT_NEAR(got(r, 0), sum, 1e-11 / sigma) << r;
  }
}

// Fraction of samples (d = 1) within 1/3 of the distance to the second
// nearest training point of their nearest.
double memorised_fraction(const Matrix& samples, const Matrix& training) {
  std::size_t memorised = 0;
  for (std::size_t r = 0; r < samples.rows(); ++r) {
    double best = INFINITY, second = INFINITY;
    for (std::size_t i = 0; i < training.rows(); ++i) {
      const double dist = std::abs(samples(r, 0) - training(i, 0));
      if (dist < best)
        second = best, best = dist;
      else if (dist < second)
        second = dist;
    }
    if (best < second / 3.0) ++memorised;
  }
  return static_cast<double>(memorised) / static_cast<double>(samples.rows());
}

TEST(SmoothedScoreField, ReverseSde_InterpolatesInsteadOfCopying) {
  // Score smoothing (seed 003): with points spaced 1 and a box of half-width
  // 0.5, log p(x + 1/2) and log p(x - 1/2) are nearly equal between two points
  // at small t, so s_delta is nearly flat there and samples spread over the
  // gaps instead of piling onto the points. s_n memorises (>= 95% of samples
  // within a third of the gap); s_delta leaves most samples in between
  // (uniform over a gap would give 50%; expect < 75%). Observed: 99% vs 59%.
  const Schedule schedule = default_schedule(ScheduleKind::ou);
  const Matrix training = line_points({-1.5, -0.5, 0.5, 1.5});
  const auto empirical = empirical_of(training);
  ReverseSdeOptions options;
  options.steps = 500;
  options.seed = 11;
  const std::size_t samples = 400;
  const SampleResult copied =
      sample_reverse_sde(schedule, score_only(empirical_score_field(empirical, schedule)), samples, 1, options);
  SmoothingOptions smoothing;
  smoothing.delta = 0.5;
  const auto smoothed_score = std::make_shared<const SmoothedScore>(empirical, smoothing);
  const SampleResult spread =
      sample_reverse_sde(schedule, score_only(smoothed_score_field(smoothed_score, schedule)), samples, 1, options);
  ASSERT_TRUE(copied.all_succeeded() && spread.all_succeeded());
  EXPECT_GE(memorised_fraction(copied.samples, training), 0.95);
  EXPECT_LT(memorised_fraction(spread.samples, training), 0.75);
}

TEST(SmoothedScore, BadInput_NamesTheField) {
  const Matrix training2(4, 2, std::vector<double>{0, 0, 1, 0, 0, 1, 1, 1});
  const auto empirical = empirical_of(training2);
  const auto make = [&](SmoothingOptions o) { return SmoothedScore(empirical, o); };
  SmoothingOptions o;
  o.delta = -0.1;
  expect_invalid([&] { make(o); }, "delta");
  o.delta = std::numeric_limits<double>::quiet_NaN();
  expect_invalid([&] { make(o); }, "delta");
  o = {};
  o.delta = 0.1;
  o.direction = {1.0};
  expect_invalid([&] { make(o); }, "direction");
  o.direction = {0.0, 0.0};
  expect_invalid([&] { make(o); }, "direction");
  o.direction = {1.0, std::numeric_limits<double>::infinity()};
  expect_invalid([&] { make(o); }, "direction");
  o = {};
  o.nodes = 0;
  expect_invalid([&] { make(o); }, "nodes");
  o = {};
  o.panels = 0;
  expect_invalid([&] { make(o); }, "panels");
  o = {};
  o.hermite_nodes = 0;
  expect_invalid([&] { make(o); }, "hermite_nodes");
  o = {};
  o.delta = 0.1;
  o.max_grid = 100;  // (8 panels x 16 nodes)^2 points per query
  expect_invalid([&] { make(o); }, "max_grid");
  expect_invalid([&] { SmoothedScore(nullptr, SmoothingOptions{}); }, "empirical");
  expect_invalid([] { parse_smoothing_kernel("triangle"); }, "kernel");
  expect_invalid([] { EmpiricalScore s(MatrixView{nullptr, 0, 1}); }, "training");
  const SmoothedScore s(empirical, SmoothingOptions{});
  const Matrix x3(1, 3, 0.0);
  expect_invalid([&] { s.evaluate(x3.view(), 0.9, 0.5); }, "x");
  const Matrix x2(1, 2, 0.0);
  expect_invalid([&] { s.evaluate(x2.view(), 0.9, -0.5); }, "sigma_t");
  expect_invalid([] { smoothed_score_field(nullptr, default_schedule(ScheduleKind::ou)); }, "smoothed");
}

}  // namespace
}  // namespace gengap
