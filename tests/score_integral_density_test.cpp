// The paper's 1-D score-integral density (its (11), docs/math.md §9): with the
// exact score of the diffused two-mode target it must reproduce the analytic
// log p_t (the integral of grad log p_t is log p_t up to a constant, fixed by
// the normalisation), and exp of it must integrate to 1 by an independent rule.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/score_integral_density.hpp"

namespace gengap {
namespace {

struct Target {
  GaussianMixture g = GaussianMixture::two_modes(3.0);
  Schedule s = default_schedule(ScheduleKind::ou);
  ScoreField score = score_only(mixture_score(g, s));
};

TEST(ScoreIntegralDensity, MatchesAnalyticLogDensityOfExactScore) {
  const Target target;
  for (const double t : {target.s.t_min, 0.5}) {
    ScoreIntegralOptions o;
    o.lower = -14.0;  // 11 std beyond the modes: window mass 1 - O(e^-60)
    o.upper = 14.0;
    const ScoreIntegralDensity density(target.score, t, o);
    std::vector<double> x;
    for (double v = -9.0; v <= 9.0; v += 0.37) x.push_back(v);
    x.push_back(-14.0);
    x.push_back(14.0);
    const std::vector<double> got = density.log_density(x);
    const GaussianMixture pt = target.g.diffused(target.s.mean_scale(t), target.s.std_dev(t));
    const std::vector<double> ref = pt.log_density(Matrix(x.size(), 1, x));
    // Panels of width 0.014 with 8 Gauss-Legendre nodes: the rule's error on
    // this analytic score is at rounding level; the running sum over 2000
    // panels of O(1) terms carries ~1e-13. 1e-10 leaves room, and is far
    // below any modelling difference (a mismatched normaliser alone would
    // show as a constant offset, e.g. 1e-3 for a window losing 0.1% mass).
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-10) << "x = " << x[i];
    EXPECT_EQ(density.score_evaluations(), o.panels * o.order);
  }
}

TEST(ScoreIntegralDensity, ExpIntegratesToOneByAnIndependentRule) {
  const Target target;
  ScoreIntegralOptions o;
  o.lower = -12.0;
  o.upper = 12.0;
  o.panels = 300;  // coarser than the default: still exact to ~1e-12 here
  o.order = 10;
  const ScoreIntegralDensity density(target.score, target.s.t_min, o);
  // Composite Simpson on 4001 equally spaced points (shares no node with the
  // Gauss-Legendre panels): error h^4 f'''' ~ 1e-10.
  const std::size_t n = 4000;
  const double h = (o.upper - o.lower) / static_cast<double>(n);
  std::vector<double> x(n + 1);
  for (std::size_t i = 0; i <= n; ++i) x[i] = o.lower + h * static_cast<double>(i);
  const std::vector<double> lp = density.log_density(x);
  double sum = 0.0;
  for (std::size_t i = 0; i <= n; ++i) {
    const double w = (i == 0 || i == n) ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0);
    sum += w * std::exp(lp[i]);
  }
  EXPECT_NEAR(sum * h / 3.0, 1.0, 1e-9);
  // The tabulation's own weights also sum exp to 1 (by construction of log Z).
  double own = 0.0;
  for (std::size_t i = 0; i < density.nodes().size(); ++i)
    own += density.node_weights()[i] * std::exp(density.node_log_density()[i]);
  EXPECT_NEAR(own, 1.0, 1e-13);
}

TEST(ScoreIntegralDensity, QueriesOutsideTheWindowExtendTheIntegral) {
  const Target target;
  ScoreIntegralOptions o;
  o.lower = -14.0;
  o.upper = 14.0;
  const ScoreIntegralDensity density(target.score, target.s.t_min, o);
  const std::vector<double> x{-15.5, 16.0};
  const std::vector<double> got = density.log_density(x);
  const GaussianMixture pt = target.g.diffused(target.s.mean_scale(target.s.t_min), target.s.std_dev(target.s.t_min));
  const std::vector<double> ref = pt.log_density(Matrix(2, 1, x));
  for (std::size_t i = 0; i < 2; ++i) EXPECT_NEAR(got[i], ref[i], 1e-9);
}

TEST(ScoreIntegralDensity, RejectsMisuseAndNonFiniteScores) {
  const Target target;
  ScoreIntegralOptions o;
  o.lower = 1.0;
  o.upper = 1.0;
  expect_invalid([&] { ScoreIntegralDensity(target.score, 0.1, o); }, "upper");
  o = {};
  o.panels = 0;
  expect_invalid([&] { ScoreIntegralDensity(target.score, 0.1, o); }, "panels");
  o = {};
  o.order = 0;
  expect_invalid([&] { ScoreIntegralDensity(target.score, 0.1, o); }, "order");
  o = {};
  expect_invalid([&] { ScoreIntegralDensity(target.score, 0.0, o); }, "t");
  expect_invalid([&] { ScoreIntegralDensity(ScoreField{}, 0.1, o); }, "score");
  o.panels = 10;
  const ScoreIntegralDensity density(target.score, 0.1, o);
  expect_invalid([&] { density.log_density(std::vector<double>{std::numeric_limits<double>::quiet_NaN()}); }, "x");
  // The default window is [-10, 10]: one width beyond it is the limit (a far
  // query would cost distance / panel width evaluations).
  EXPECT_NO_THROW(density.log_density(std::vector<double>{29.9, -29.9}));
  expect_invalid([&] { density.log_density(std::vector<double>{30.5}); }, "x");
  expect_invalid([&] { density.log_density(std::vector<double>{-1e9}); }, "x");
  const ScoreField broken = [](std::span<const double>, MatrixView x, std::span<double> out) {
    for (std::size_t i = 0; i < x.rows; ++i) out[i] = x(i, 0) > 3.0 ? std::numeric_limits<double>::infinity() : 0.0;
  };
  EXPECT_THROW(ScoreIntegralDensity(broken, 0.1, o), NumericalError);
}

}  // namespace
}  // namespace gengap
