// Predictor-corrector sampler (solvers/sde/predictor_corrector.hpp, Song et al.
// 2021) driven by the exact score of Gaussian mixture targets: the predictor
// alone against the exact moment recursion of its linear chain (Gaussian
// target), the full sampler against the analytic law of p_{t_min} (moments
// and KS, d = 1 and 2), the corrector's effect, determinism across threads
// and chunk sizes, failure flags and argument checks.
#include <gtest/gtest.h>

#include "sampler_checks.hpp"
#include "test_support.hpp"

#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/solvers/sde/predictor_corrector.hpp"

namespace gengap {
namespace {

using testing::column_moments;
using testing::DiagonalMixture;
using testing::Moments;

Schedule ou() { return default_schedule(ScheduleKind::ou); }  // T = 5, t_min = 1e-3

// Exact mean and variance of the predictor-only chain (C = 0) for a 1-d
// Gaussian target N(m, v), whose exact score s = -(x - mu_t m)/V_t is linear:
//   reverse_diffusion: x <- (2 - a - G^2/V) x + G^2 mu_t m / V + G z
//   euler_maruyama:    x <- (1 - f h - g^2 h / V) x + g^2 h mu_t m / V + g sqrt(h) z
// with a = mu_t/mu_{t-h}, G^2 = sigma_t^2 - a^2 sigma_{t-h}^2, no noise on the
// denoised last step. Written from the formulas, not from the sampler's code.
Moments predictor_chain(const Schedule& s, double m, double v, std::size_t steps, bool reverse_diffusion) {
  Moments x{0.0, s.prior_variance()};
  const double h = (s.T - s.t_min) / static_cast<double>(steps);
  for (std::size_t k = 0; k < steps; ++k) {
    const double t = s.T - static_cast<double>(k) * h;
    const double next = k + 1 == steps ? s.t_min : t - h;
    const double mu = s.mean_scale(t), V = mu * mu * v + s.variance(t);
    double slope, shift, noise;
    if (reverse_diffusion) {
      const double a = mu / s.mean_scale(next), G2 = s.variance(t) - a * a * s.variance(next);
      slope = 2.0 - a - G2 / V;
      shift = G2 * mu * m / V;
      noise = G2;
    } else {
      const double g2h = s.diffusion_squared(t) * (t - next);
      slope = 1.0 - s.drift(t) * (t - next) - g2h / V;
      shift = g2h * mu * m / V;
      noise = g2h;
    }
    x.mean = slope * x.mean + shift;
    x.variance = slope * slope * x.variance + (k + 1 == steps ? 0.0 : noise);
  }
  return x;
}

TEST(PredictorCorrector, PredictorOnly_MatchesExactChainMoments) {
  const Schedule s = ou();
  const DiagonalMixture gauss{{1.0}, Matrix(1, 2, std::vector<double>{1.0, -0.5}), Matrix(1, 2, std::vector<double>{0.5, 2.0})};
  const std::size_t n = 20000, steps = 100;
  for (const char* predictor : {"reverse_diffusion", "euler_maruyama"}) {
    PredictorCorrectorOptions o;
    o.predictor = parse_predictor(predictor);
    o.steps = steps;
    o.corrector_steps = 0;
    o.seed = 2;
    const SampleResult r = sample_predictor_corrector(s, gauss.score(s), n, 2, o);
    ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
    EXPECT_EQ(r.total_score_evaluations, n * steps);
    for (std::size_t j = 0; j < 2; ++j) {
      const Moments got = column_moments(r.samples, j);
      const Moments chain = predictor_chain(s, gauss.means(0, j), gauss.variances(0, j), steps,
                                            std::string(predictor) == "reverse_diffusion");
      // Pure Monte Carlo error: the chain is the exact law of the discrete sampler.
      EXPECT_NEAR(got.mean, chain.mean, 5.0 * std::sqrt(chain.variance / n)) << predictor << " " << j;
      EXPECT_NEAR(got.variance, chain.variance, 5.0 * std::sqrt(2.0 / n) * chain.variance) << predictor << " " << j;
    }
  }
}

TEST(PredictorCorrector, ReverseDiffusionAndLangevin_MatchMixtureMomentsAndKolmogorovSmirnov) {
  const Schedule s = ou();
  for (std::size_t d : {1, 2}) {
    const DiagonalMixture m = d == 1 ? testing::mixture_1d() : testing::mixture_2d();
    for (const char* predictor : {"reverse_diffusion", "euler_maruyama"}) {
      PredictorCorrectorOptions o;
      o.predictor = parse_predictor(predictor);
      o.steps = 250;
      o.corrector_steps = 1;
      o.seed = 8;
      const std::size_t n = 10000;
      const SampleResult r = sample_predictor_corrector(s, m.score(s), n, d, o);
      ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
      EXPECT_EQ(r.total_score_evaluations, n * 2 * o.steps);
      // h = 0.02: the predictor's O(h) weak error (the denoised last step
      // alone removes g^2 h = 0.04 of variance) plus the corrector's O(eps)
      // Langevin bias (eps ~ 2 snr^2 V = 0.05 V): allow 5% of the variance and
      // a CDF shift of 0.01 (measured max sqrt(n) D <= 1.6 at n = 10^4).
      const double ks = testing::expect_matches_mixture(r.samples, m, s, 0.02, 0.05, 0.01,
                                                        std::string(predictor) + " d=" + std::to_string(d));
      std::printf("  %s + langevin d=%zu: max sqrt(n) D = %.3f\n", predictor, d, ks);
    }
  }
}

TEST(PredictorCorrector, LangevinCorrector_ReachesItsStationaryLawWithTheBatchStepSize) {
  // ve (alpha = 1), Gaussian target N(c, v) in d = 1, one predictor step and
  // C = 300 corrector steps at t = T on p_T = N(c, V_T). With s = -(x - c)/V_T
  // the corrector is the AR(1) chain x <- (1 - r) x + r c + sqrt(2 eps) z,
  // r = eps/V_T, whose stationary variance is V_T/(1 - r/2); in d = 1,
  // E|z| = sqrt(2/pi) and E|s| = sqrt(2 Var/pi)/V_T, so the batch step
  // eps = 2 (snr E|z|/E|s|)^2 = 2 snr^2 V_T^2/Var has the fixed point
  // r = 2 snr^2/(1 + snr^2). The denoised predictor step to t_min is then the
  // linear map x -> A x + B, A = 1 - G^2/V_T, G^2 = sigma_T^2 - sigma_{t_min}^2,
  // so the output variance is A^2 V_T/(1 - r/2) (8% above the exact-Langevin
  // A^2 V_T for snr = 0.3; the test's SE is 1%).
  const Schedule s = default_schedule(ScheduleKind::ve);
  const double c = 1.0, v = 1.0, snr = 0.3;
  const DiagonalMixture gauss{{1.0}, Matrix(1, 1, std::vector<double>{c}), Matrix(1, 1, std::vector<double>{v})};
  PredictorCorrectorOptions o;
  o.steps = 1;
  o.corrector_steps = 300;  // mixing time ~1/r = 6 steps: the prior's transient is gone
  o.snr = snr;
  o.seed = 6;
  const std::size_t n = 20000;
  const SampleResult r = sample_predictor_corrector(s, gauss.score(s), n, 1, o);
  ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
  const double V_T = v + s.variance(s.T), G2 = s.variance(s.T) - s.variance(s.t_min), A = 1.0 - G2 / V_T;
  const double ratio = 2.0 * snr * snr / (1.0 + snr * snr);
  const double expected = A * A * V_T / (1.0 - ratio / 2.0);
  const Moments got = column_moments(r.samples, 0);
  EXPECT_NEAR(got.mean, c, 5.0 * std::sqrt(expected / n));  // A c + G^2 c/V_T = c
  EXPECT_NEAR(got.variance, expected, 5.0 * std::sqrt(2.0 / n) * expected);
  EXPECT_GT(std::abs(got.variance - A * A * V_T), 5.0 * std::sqrt(2.0 / n) * expected);  // the O(eps) bias is seen
}

TEST(PredictorCorrector, Determinism_AnyThreadCountAndChunkSizeGiveIdenticalSamples) {
  const Schedule s = ou();
  const DiagonalMixture m = testing::mixture_2d();
  PredictorCorrectorOptions o;
  o.steps = 40;
  o.corrector_steps = 2;
  o.seed = 11;
  auto run = [&](int threads, std::size_t chunk) {
    tbb::task_arena arena(threads);
    SampleResult r;
    o.chunk = chunk;
    arena.execute([&] { r = sample_predictor_corrector(s, m.score(s), 500, 2, o); });
    return r;
  };
  const SampleResult one = run(1, 64), two = run(2, 64), small = run(2, 7);
  EXPECT_EQ(one.samples, two.samples);  // bitwise
  EXPECT_EQ(one.samples, small.samples);  // the batch means are summed in row order
  EXPECT_EQ(one.total_score_evaluations, 500u * 40u * 3u);
  o.seed = 12;
  EXPECT_NE(run(2, 64).samples, one.samples);
  // Starts from the shared prior draw: with one step and no corrector, the
  // denoised reverse-diffusion step is a deterministic function of x_T.
  PredictorCorrectorOptions single;
  single.steps = 1;
  single.corrector_steps = 0;
  single.seed = 5;
  const ScoreField zero = [](std::span<const double>, MatrixView, std::span<double> out) {
    std::fill(out.begin(), out.end(), 0.0);
  };
  const SampleResult r = sample_predictor_corrector(s, zero, 3, 2, single);
  const Matrix x_T = prior_sample(s, 3, 2, 5);
  const double a = s.mean_scale(s.T) / s.mean_scale(s.t_min);
  for (std::size_t k = 0; k < 6; ++k) EXPECT_DOUBLE_EQ(r.samples.flat()[k], (2.0 - a) * x_T.flat()[k]);
}

TEST(PredictorCorrector, NonFiniteScore_FlagsThatTrajectoryWithItsTime) {
  const Schedule s = ou();
  const DiagonalMixture m = testing::mixture_1d();
  const ScoreField clean = m.score(s);
  PredictorCorrectorOptions o;
  o.steps = 50;
  const std::size_t n = 40, bad = 13;
  const double x_bad = prior_sample(s, n, 1, o.seed)(bad, 0);
  const ScoreField poisoned = [&](std::span<const double> t, MatrixView x, std::span<double> out) {
    clean(t, x, out);
    for (std::size_t r = 0; r < t.size(); ++r)
      if (t[r] == s.T && x(r, 0) == x_bad) out[r] = std::numeric_limits<double>::quiet_NaN();
  };
  const SampleResult r = sample_predictor_corrector(s, poisoned, n, 1, o);
  EXPECT_FALSE(r.all_succeeded());
  for (std::size_t i = 0; i < n; ++i) {
    if (i == bad) {
      EXPECT_EQ(r.stats[i].status, TrajectoryStatus::non_finite);
      EXPECT_EQ(r.stats[i].failure_time, s.T);
      EXPECT_EQ(r.samples(i, 0), x_bad);  // its last finite state
      EXPECT_EQ(r.stats[i].rhs_evaluations, 1u);
    } else {
      EXPECT_EQ(r.stats[i].status, TrajectoryStatus::success) << i;
      EXPECT_TRUE(std::isfinite(r.samples(i, 0))) << i;
    }
  }
  EXPECT_NE(r.failure_summary().find("trajectory 13 (non_finite at t = 5"), std::string::npos) << r.failure_summary();
}

TEST(PredictorCorrector, BadArguments_ThrowNamingTheField) {
  const Schedule s = ou();
  const ScoreField score = testing::mixture_1d().score(s);
  auto with = [&](auto edit, std::size_t n = 10, std::size_t d = 1) {
    return [=, &s, &score] {
      PredictorCorrectorOptions o;
      edit(o);
      sample_predictor_corrector(s, score, n, d, o);
    };
  };
  expect_invalid([] { parse_predictor("ancestral"); }, "predictor");
  expect_invalid(with([](PredictorCorrectorOptions& o) { o.steps = 0; }), "steps");
  expect_invalid(with([](PredictorCorrectorOptions& o) { o.snr = 0.0; }), "snr");
  expect_invalid(with([](PredictorCorrectorOptions& o) { o.snr = std::numeric_limits<double>::quiet_NaN(); }), "snr");
  expect_invalid(with([](PredictorCorrectorOptions& o) { o.chunk = 0; }), "chunk");
  expect_invalid(with([](PredictorCorrectorOptions&) {}, 0, 1), "n");
  expect_invalid(with([](PredictorCorrectorOptions&) {}, 10, 0), "d");
  expect_invalid([&] { sample_predictor_corrector(s, ScoreField{}, 10, 1, PredictorCorrectorOptions{}); }, "score");
  expect_invalid(with([](PredictorCorrectorOptions& o) { o.corrector_steps = std::size_t{1} << 40; }, 1 << 20, 1),
                 "corrector_steps");
  Schedule bad = s;
  bad.t_min = s.T;
  expect_invalid([&] { sample_predictor_corrector(bad, score, 10, 1, PredictorCorrectorOptions{}); }, "T");
}

}  // namespace
}  // namespace gengap
