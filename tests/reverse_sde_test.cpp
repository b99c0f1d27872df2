// Reverse-SDE samplers (docs/math.md §2) driven by the exact score of Gaussian
// mixture targets (docs/math.md §7) under the ou schedule: sample moments against
// the target and against the exact moment recursion of the discrete
// Euler-Maruyama chain, mode weights and a two-sample KS test against exact
// samples, determinism across seeds
// and thread counts, per-trajectory failure reporting and argument checks.
#include <gtest/gtest.h>

#include "sampler_checks.hpp"
#include "test_support.hpp"

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"

namespace gengap {
namespace {

Schedule ou() { return default_schedule(ScheduleKind::ou); }  // T = 5, t_min = 1e-3

// The exact score of the diffused target, row by row at each row's time
// (tests/sampler_checks.hpp; checked against GaussianMixture below).
ScoreField exact_score(const testing::DiagonalMixture& target, const Schedule& schedule) {
  return target.score(schedule);
}

testing::DiagonalMixture two_modes(double mu) {
  return {{0.5, 0.5}, Matrix(2, 1, std::vector<double>{-mu, mu}), Matrix(2, 1, std::vector<double>{1.0, 1.0})};
}

using testing::column_moments;
using testing::Moments;

// Exact mean and variance of the discrete EM chain for a 1-d Gaussian target
// N(m, v) with the exact score s = -(x - mu_t m) / V_t, V_t = mu_t^2 v + sigma_t^2:
// x <- a x + b + c z with a = 1 - f h - g^2 h / V_t, b = g^2 h mu_t m / V_t,
// c^2 = g^2 h (0 on a denoised last step). Independent of the sampler's code.
Moments euler_maruyama_chain(const Schedule& s, double m, double v, std::size_t steps, bool denoise) {
  Moments x{0.0, s.prior_variance()};
  const double h = (s.T - s.t_min) / static_cast<double>(steps);
  for (std::size_t k = 0; k < steps; ++k) {
    const double t = s.T - static_cast<double>(k) * h;
    const double step = k + 1 == steps ? t - s.t_min : h;
    const double mu = s.mean_scale(t), V = mu * mu * v + s.variance(t);
    const double g2 = s.diffusion_squared(t), f = s.drift(t);
    const double a = 1.0 - f * step - g2 * step / V;
    x.mean = a * x.mean + g2 * step * mu * m / V;
    x.variance = a * a * x.variance + ((k + 1 == steps && denoise) ? 0.0 : g2 * step);
  }
  return x;
}

const std::vector<double> gauss_mean{1.0, -0.5};
const std::vector<double> gauss_var{0.5, 2.0};
testing::DiagonalMixture gaussian_target() { return {{1.0}, Matrix(1, 2, gauss_mean), Matrix(1, 2, gauss_var)}; }

TEST(ReverseSde, MixtureScoreHelper_MatchesLibraryDiffusedScore) {
  // The tests' row-wise exact score against GaussianMixture::diffused().score
  // (Cholesky-based, separate code): both are sums of a few doubles, 1e-12.
  const Schedule s = ou();
  const testing::DiagonalMixture m = testing::mixture_2d();
  const Matrix X(3, 2, std::vector<double>{-2.5, 0.3, 0.1, 1.9, 4.0, -3.0});
  for (double t : {s.t_min, 0.1, 1.0, s.T}) {
    const Matrix expected = m.library().diffused(s.mean_scale(t), s.std_dev(t)).score(MatrixView(X));
    std::vector<double> got(6), times(3, t);
    m.score(s)(times, MatrixView(X), got);
    for (std::size_t k = 0; k < 6; ++k) EXPECT_NEAR(got[k], expected.flat()[k], 1e-12 * (1.0 + std::abs(expected.flat()[k])));
  }
}

// Every reverse-SDE method against the analytic law of p_{t_min} of an
// asymmetric mixture in d = 1 and d = 2 (tests/sampler_checks.hpp). The bias
// allowances are the measured discretisation errors at these step counts with
// ~2x margin (see each line); the KS part is the 0.001-level test.
TEST(ReverseSde, AllMethods_MatchMixtureMomentsAndKolmogorovSmirnov) {
  const Schedule s = ou();
  struct Case {
    const char* method;
    std::size_t steps;
    double tol, mean_bias, var_bias, ks_bias;
  };
  // EM, h = 0.01: weak error O(h): measured variance error ~1-2% (denoised last step: -g^2 h = -0.02).
  // Heun, h = 0.025: measured variance error ~2%. Adaptive at rtol = atol =
  // 0.02 (~190 evaluations per sample): measured variance error <= 1% (ou
  // two-mode table in the report), allowed like Heun.
  const Case cases[] = {{"euler_maruyama", 500, 0.0, 0.02, 0.04, 0.004},
                        {"stochastic_heun", 200, 0.0, 0.02, 0.05, 0.005},
                        {"adaptive", 0, 2e-2, 0.02, 0.05, 0.005}};
  for (std::size_t d : {1, 2}) {
    const testing::DiagonalMixture m = d == 1 ? testing::mixture_1d() : testing::mixture_2d();
    for (const Case& c : cases) {
      ReverseSdeOptions o;
      o.method = parse_reverse_sde_method(c.method);
      o.steps = c.steps ? c.steps : 1;
      o.rtol = o.atol = c.tol ? c.tol : 1e-2;
      o.seed = 21;
      const std::size_t n = 10000;
      const SampleResult r = sample_reverse_sde(s, m.score(s), n, d, o);
      ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
      const double ks = testing::expect_matches_mixture(r.samples, m, s, c.mean_bias, c.var_bias, c.ks_bias,
                                                        std::string(c.method) + " d=" + std::to_string(d));
      std::printf("  %s d=%zu: max sqrt(n) D = %.3f, evaluations/sample = %.1f\n", c.method, d, ks,
                  static_cast<double>(r.total_score_evaluations) / n);
    }
  }
}

TEST(ReverseSde, EulerMaruyama_MatchesGaussianTargetAndExactChainMoments) {
  const Schedule s = ou();
  const std::size_t n = 20000, steps = 500;
  ReverseSdeOptions o;
  o.steps = steps;
  o.seed = 3;
  const SampleResult r = sample_reverse_sde(s, exact_score(gaussian_target(), s), n, 2, o);
  ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
  EXPECT_EQ(r.total_score_evaluations, n * steps);
  EXPECT_EQ(r.stats[0].accepted, steps);
  const double mu = s.mean_scale(s.t_min), var_t = s.variance(s.t_min);
  for (std::size_t j = 0; j < 2; ++j) {
    const Moments got = column_moments(r.samples, j);
    const Moments chain = euler_maruyama_chain(s, gauss_mean[j], gauss_var[j], steps, true);
    const double se_mean = std::sqrt(chain.variance / n), se_var = std::sqrt(2.0 / n) * chain.variance;
    // Pure Monte Carlo error against the exact law of the discrete chain.
    EXPECT_NEAR(got.mean, chain.mean, 5.0 * se_mean) << "coordinate " << j;
    EXPECT_NEAR(got.variance, chain.variance, 5.0 * se_var) << "coordinate " << j;
    // Discretisation bias of the chain vs the target p_{t_min}: EM's weak
    // error is O(h), h = 0.01; the denoised last step alone removes g^2 h =
    // 0.02 of variance, so allow 0.05 (v + 0.02) for the variance and 0.01
    // |m| for the mean.
    const double target_mean = mu * gauss_mean[j], target_var = mu * mu * gauss_var[j] + var_t;
    EXPECT_NEAR(chain.mean, target_mean, 0.01 * std::abs(gauss_mean[j])) << "coordinate " << j;
    EXPECT_NEAR(chain.variance, target_var, 0.05 * (gauss_var[j] + 0.02)) << "coordinate " << j;
    EXPECT_NEAR(got.mean, target_mean, 5.0 * se_mean + 0.01 * std::abs(gauss_mean[j]));
    EXPECT_NEAR(got.variance, target_var, 5.0 * se_var + 0.05 * (gauss_var[j] + 0.02));
  }
}

TEST(ReverseSde, StochasticHeunAndAdaptive_MatchGaussianTarget) {
  const Schedule s = ou();
  const std::size_t n = 20000;
  for (const char* method : {"stochastic_heun", "adaptive"}) {
    ReverseSdeOptions o;
    o.method = parse_reverse_sde_method(method);
    o.steps = 200;
    o.rtol = o.atol = 2e-2;  // adaptive only
    o.seed = 4;
    const SampleResult r = sample_reverse_sde(s, exact_score(gaussian_target(), s), n, 2, o);
    ASSERT_TRUE(r.all_succeeded()) << method << ": " << r.failure_summary();
    const double mu = s.mean_scale(s.t_min), var_t = s.variance(s.t_min);
    for (std::size_t j = 0; j < 2; ++j) {
      const Moments got = column_moments(r.samples, j);
      const double target_mean = mu * gauss_mean[j], target_var = mu * mu * gauss_var[j] + var_t;
      const double se_mean = std::sqrt(target_var / n), se_var = std::sqrt(2.0 / n) * target_var;
      // Allowances for the O(h) weak error. Heun (h = 0.025): measured
      // variance error <= 2.5% of v at 25 steps and shrinking; the denoised
      // last step removes g^2 h = 0.05. Adaptive at rtol = atol = 0.02:
      // measured variance error ~1% and mean error ~0.005.
      const bool adaptive = std::string(method) == "adaptive";
      EXPECT_NEAR(got.mean, target_mean, 5.0 * se_mean + 0.01 * std::abs(gauss_mean[j])) << method << " " << j;
      EXPECT_NEAR(got.variance, target_var, 5.0 * se_var + (adaptive ? 0.03 : 0.05) * gauss_var[j] + (adaptive ? 0.0 : 0.05))
          << method << " " << j;
    }
  }
}

double ks_statistic(std::vector<double> a, std::vector<double> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::size_t i = 0, k = 0;
  double worst = 0.0;
  while (i < a.size() && k < b.size()) {
    const double x = std::min(a[i], b[k]);
    while (i < a.size() && a[i] == x) ++i;
    while (k < b.size() && b[k] == x) ++k;
    worst = std::max(worst, std::abs(static_cast<double>(i) / a.size() - static_cast<double>(k) / b.size()));
  }
  return worst;
}

TEST(ReverseSde, TwoModes_WeightsAndKolmogorovSmirnovAgainstExactSamples) {
  const Schedule s = ou();
  const testing::DiagonalMixture target = two_modes(3.0);
  const std::size_t n = 10000;
  const GaussianMixture at_t_min = target.library().diffused(s.mean_scale(s.t_min), s.std_dev(s.t_min));
  const Matrix exact = at_t_min.sample(n, 7, streams::test_data);
  for (const char* method : {"euler_maruyama", "adaptive"}) {
    ReverseSdeOptions o;
    o.method = parse_reverse_sde_method(method);
    o.steps = 500;
    o.rtol = o.atol = 2e-2;
    o.seed = 5;
    const SampleResult r = sample_reverse_sde(s, exact_score(target, s), n, 1, o);
    ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
    const auto positive = std::count_if(r.samples.values().begin(), r.samples.values().end(),
                                        [](double x) { return x > 0.0; });
    // Binomial(n, 1/2): SE = sqrt(1/(4 n)).
    EXPECT_NEAR(static_cast<double>(positive) / n, 0.5, 5.0 * std::sqrt(0.25 / n)) << method;
    // Two-sample KS at the 0.001 level, c(0.001) = 1.95: EM's O(h) bias at
    // h = 0.01 and adaptive's at rtol = atol = 0.02 (~1-2% of a mode's
    // variance, see the Gaussian test) move the CDF by well under this.
    const double ks = ks_statistic(r.samples.values(), exact.values());
    EXPECT_LT(ks, 1.95 * std::sqrt(2.0 / n)) << method;
  }
}

TEST(ReverseSde, Adaptive_BeatsEulerMaruyamaOnVpInDimension16) {
  // The claim in the setting of Gotta Go Fast: vp (beta 0.1..20,
  // T = 1), d = 16, a sharp Gaussian target N(m, 0.01 I), m_j = +-1. The
  // noise scale spans sigma_t = 0.03..1, so uniform steps waste work early
  // and starve near t_min. EM's error is exact (no Monte Carlo): its chain's
  // variance recursion (euler_maruyama_chain, per coordinate; the variance
  // does not depend on m). Measured (report table): EM 200 steps -6.6%,
  // 400 steps -1.5%; adaptive at rtol = atol = 0.1: ~110 evaluations, +1.2%;
  // at 0.05: ~174 evaluations, +0.1% (n = 4000). Claim asserted at 0.05: at
  // most 90% of EM's 200 evaluations AND a variance error (plus 4 standard
  // errors) below half of EM's.
  const Schedule s = default_schedule(ScheduleKind::vp);
  const std::size_t d = 16, n = 10000, em_steps = 200;
  Matrix means(1, d), variances(1, d);
  for (std::size_t j = 0; j < d; ++j) {
    means(0, j) = j % 3 == 0 ? -1.0 : 1.0;
    variances(0, j) = 0.01;
  }
  const testing::DiagonalMixture target{{1.0}, means, variances};
  const double v_target = target.variance(s, s.t_min, 0);
  const double em_error = std::abs(euler_maruyama_chain(s, 1.0, 0.01, em_steps, true).variance / v_target - 1.0);

  ReverseSdeOptions o;
  o.method = ReverseSdeMethod::adaptive;
  o.rtol = o.atol = 0.05;
  o.seed = 17;
  const SampleResult r = sample_reverse_sde(s, target.score(s), n, d, o);
  ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
  double relative = 0.0;
  for (std::size_t j = 0; j < d; ++j) relative += column_moments(r.samples, j).variance / v_target - 1.0;
  relative /= static_cast<double>(d);
  // SE of the coordinate-averaged relative sample variance: sqrt(2/n)/sqrt(d)
  // (independent coordinates).
  const double se = std::sqrt(2.0 / n) / std::sqrt(static_cast<double>(d));
  const double evaluations = static_cast<double>(r.total_score_evaluations) / n;
  std::printf("  vp d=16: EM %zu evaluations: variance error %.4f; adaptive %.1f evaluations: %.4f +- %.4f\n",
              em_steps, em_error, evaluations, relative, se);
  EXPECT_LT(evaluations, 0.9 * static_cast<double>(em_steps));
  EXPECT_LT(2.0 * (std::abs(relative) + 4.0 * se), em_error);
}

TEST(ReverseSde, Adaptive_RejectionsKeepTheBrownianLaw) {
  // ve with a zero score: x(t_min) = x_T + sum_k 1/2 [g(t_k) + g(t_k - h_k)] dW_k,
  // so Var = v_T + sum_k (1/2 [g + g'])^2 h_k = v_T + int g^2 dt - O(h^2)
  // = 2 sigma_T^2 - sigma_{t_min}^2 (relative O(h^2) below ~1e-3 at this
  // tolerance). The error x' - x'' = 1/2 [g(t) - g(t - h)] dW is driven by
  // |dW| alone, so every rejection looks at the noise: redrawing rejected
  // noise (instead of the Brownian bridge) would select small increments
  // and shrink the variance.
  const Schedule s = default_schedule(ScheduleKind::ve);
  const ScoreField zero = [](std::span<const double>, MatrixView, std::span<double> out) {
    std::fill(out.begin(), out.end(), 0.0);
  };
  ReverseSdeOptions o;
  o.method = ReverseSdeMethod::adaptive;
  o.rtol = 1e-3;
  o.atol = 1e-3;
  o.seed = 8;
  const std::size_t n = 20000;
  const SampleResult r = sample_reverse_sde(s, zero, n, 1, o);
  ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
  std::size_t rejected = 0;
  for (const auto& st : r.stats) rejected += st.rejected;
  EXPECT_GT(rejected, n);  // more than one rejection per trajectory on average
  const double expected = 2.0 * s.variance(s.T) - s.variance(s.t_min);
  const Moments got = column_moments(r.samples, 0);
  EXPECT_NEAR(got.mean, 0.0, 5.0 * std::sqrt(expected / n));
  EXPECT_NEAR(got.variance, expected, 5.0 * std::sqrt(2.0 / n) * expected + 1e-3 * expected);
}

TEST(ReverseSde, Determinism_SameSeedAndAnyThreadCountGiveIdenticalSamples) {
  const Schedule s = ou();
  const testing::DiagonalMixture target = two_modes(3.0);
  for (const char* method : {"euler_maruyama", "stochastic_heun", "adaptive"}) {
    ReverseSdeOptions o;
    o.method = parse_reverse_sde_method(method);
    o.steps = 50;
    o.chunk = 16;
    o.seed = 11;
    auto run = [&](int threads) {
      tbb::task_arena arena(threads);
      SampleResult r;
      arena.execute([&] { r = sample_reverse_sde(s, exact_score(target, s), 300, 1, o); });
      return r;
    };
    const SampleResult one = run(1), two = run(2), again = run(2);
    EXPECT_EQ(one.samples, two.samples) << method;  // bitwise: Matrix == compares every double
    EXPECT_EQ(two.samples, again.samples) << method;
    EXPECT_EQ(one.total_score_evaluations, two.total_score_evaluations) << method;
    o.seed = 12;
    EXPECT_NE(run(2).samples, one.samples) << method;
  }
}

TEST(ReverseSde, NonFiniteScore_FlagsOnlyThatTrajectoryWithItsTime) {
  const Schedule s = ou();
  const testing::DiagonalMixture target = two_modes(3.0);
  const ScoreField clean = exact_score(target, s);
  for (const char* method : {"euler_maruyama", "adaptive"}) {
    ReverseSdeOptions o;
    o.method = parse_reverse_sde_method(method);
    o.steps = 100;
    o.chunk = 8;
    const std::size_t n = 50, bad = 37;
    // Trajectory 37 is recognisable at t = T by its prior draw (streams::reverse_sde_prior).
    const double x_bad = std::sqrt(s.prior_variance()) * CounterRng(o.seed, streams::reverse_sde_prior).normal(bad);
    const ScoreField poisoned = [&](std::span<const double> t, MatrixView x, std::span<double> out) {
      clean(t, x, out);
      for (std::size_t r = 0; r < t.size(); ++r)
        if (t[r] == s.T && x(r, 0) == x_bad) out[r] = std::numeric_limits<double>::quiet_NaN();
    };
    const SampleResult ok = sample_reverse_sde(s, clean, n, 1, o);
    const SampleResult r = sample_reverse_sde(s, poisoned, n, 1, o);
    ASSERT_TRUE(ok.all_succeeded());
    for (std::size_t i = 0; i < n; ++i) {
      if (i == bad) {
        EXPECT_EQ(r.stats[i].status, TrajectoryStatus::non_finite) << method;
        EXPECT_EQ(r.stats[i].failure_time, s.T) << method;
        EXPECT_EQ(r.samples(i, 0), x_bad) << method;  // its last finite state
      } else {
        EXPECT_EQ(r.stats[i].status, TrajectoryStatus::success) << method << " row " << i;
        EXPECT_EQ(r.samples(i, 0), ok.samples(i, 0)) << method << " row " << i;
      }
    }
    EXPECT_FALSE(r.all_succeeded());
    EXPECT_NE(r.failure_summary().find("trajectory 37 (non_finite at t = 5"), std::string::npos)
        << r.failure_summary();
  }
  // A mid-run failure: NaN below t = 2.5 wherever x > 2 flags exactly the
  // rows that reach it, at a grid time below 2.5, and leaves the rest untouched.
  ReverseSdeOptions o;
  o.steps = 100;
  const std::size_t n = 400;
  const ScoreField late = [&](std::span<const double> t, MatrixView x, std::span<double> out) {
    clean(t, x, out);
    for (std::size_t r = 0; r < t.size(); ++r)
      if (t[r] < 2.5 && x(r, 0) > 2.0) out[r] = std::numeric_limits<double>::quiet_NaN();
  };
  const SampleResult ok = sample_reverse_sde(s, clean, n, 1, o);
  const SampleResult r = sample_reverse_sde(s, late, n, 1, o);
  std::size_t flagged = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (r.stats[i].status == TrajectoryStatus::success) {
      EXPECT_EQ(r.samples(i, 0), ok.samples(i, 0)) << i;
      continue;
    }
    ++flagged;
    EXPECT_EQ(r.stats[i].status, TrajectoryStatus::non_finite);
    EXPECT_LT(r.stats[i].failure_time, 2.5);
    EXPECT_GT(r.samples(i, 0), 2.0);  // the state that triggered it, kept
  }
  EXPECT_GT(flagged, 0u);
  EXPECT_LT(flagged, n);
}

TEST(ReverseSde, BadArguments_ThrowNamingTheField) {
  const Schedule s = ou();
  const ScoreField score = exact_score(two_modes(3.0), s);
  auto with = [&](auto edit, std::size_t n = 10, std::size_t d = 1) {
    return [=, &s, &score] {
      ReverseSdeOptions o;
      edit(o);
      sample_reverse_sde(s, score, n, d, o);
    };
  };
  expect_invalid(with([](ReverseSdeOptions& o) { o.steps = 0; }), "steps");
  expect_invalid(with([](ReverseSdeOptions& o) { o.rtol = 0.0; }), "rtol");
  expect_invalid(with([](ReverseSdeOptions& o) { o.rtol = -1.0; }), "rtol");
  expect_invalid(with([](ReverseSdeOptions& o) { o.atol = 0.0; }), "atol");
  expect_invalid(with([](ReverseSdeOptions& o) { o.safety = 1.5; }), "safety");
  expect_invalid(with([](ReverseSdeOptions& o) { o.max_steps = 0; }), "max_steps");
  expect_invalid(with([](ReverseSdeOptions& o) { o.chunk = 0; }), "chunk");
  expect_invalid([] { parse_reverse_sde_method("leapfrog"); }, "method");
  expect_invalid(with([](ReverseSdeOptions&) {}, 0, 1), "n");
  expect_invalid(with([](ReverseSdeOptions&) {}, 10, 0), "d");
  expect_invalid([&] { sample_reverse_sde(s, ScoreField{}, 10, 1, ReverseSdeOptions{}); }, "score");
  Schedule bad = s;
  bad.t_min = 0.0;
  expect_invalid([&] { sample_reverse_sde(bad, score, 10, 1, ReverseSdeOptions{}); }, "t_min");
  expect_invalid(with([](ReverseSdeOptions& o) { o.method = ReverseSdeMethod::adaptive; o.max_steps = std::size_t{1} << 62; }, 1000, 1000),
                 "max_steps");
}

}  // namespace
}  // namespace gengap
