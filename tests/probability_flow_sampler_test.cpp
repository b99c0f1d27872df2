// Probability-flow ODE sampling (solvers/sde/probability_flow_sampler.hpp): for a
// Gaussian target the ODE is linear and its flow has a closed form; with the
// exact mixture score the pushforward of the prior matches p_{t_min} (moments,
// KS); same prior draw as the SDE samplers; determinism; failure flags and
// argument checks.
#include <gtest/gtest.h>

#include "sampler_checks.hpp"
#include "test_support.hpp"

#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "gengap/solvers/sde/probability_flow_sampler.hpp"

namespace gengap {
namespace {

using testing::DiagonalMixture;

// For p_0 = N(m, diag(v)), p_t = N(m_t, diag(V_t)), m_t = mu_t m,
// V_t = mu_t^2 v + sigma_t^2, and the flow of dx/dt = f x + 1/2 g^2 (x - m_t)/V_t
// keeps xi = (x - m_t)/sqrt(V_t) constant (V_t' = 2 f V_t + g^2, m_t' = f m_t), so
//   x(t_min) = m_{t_min} + sqrt(V_{t_min}/V_T) (x_T - m_T),
// exactly, coordinate by coordinate.
TEST(ProbabilityFlowSampler, GaussianTarget_MatchesClosedFormFlowMap) {
  const DiagonalMixture gauss{{1.0}, Matrix(1, 2, std::vector<double>{1.0, -0.5}), Matrix(1, 2, std::vector<double>{0.5, 2.0})};
  for (ScheduleKind kind : {ScheduleKind::ou, ScheduleKind::vp, ScheduleKind::ve}) {
    const Schedule s = default_schedule(kind);
    ProbabilityFlowSamplingOptions o;
    o.ode.controller.rtol = o.ode.controller.atol = 1e-9;
    o.seed = 3;
    const std::size_t n = 200;
    const SampleResult r = sample_probability_flow(s, gauss.score(s), n, 2, o);
    ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
    const Matrix x_T = prior_sample(s, n, 2, o.seed);  // the SDE samplers' draw
    double worst = 0.0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < 2; ++j) {
        auto m_t = [&](double t) { return s.mean_scale(t) * gauss.means(0, j); };
        auto V_t = [&](double t) { return s.mean_scale(t) * s.mean_scale(t) * gauss.variances(0, j) + s.variance(t); };
        const double expected = m_t(s.t_min) + std::sqrt(V_t(s.t_min) / V_t(s.T)) * (x_T(i, j) - m_t(s.T));
        worst = std::max(worst, std::abs(r.samples(i, j) - expected));
      }
    // Global error of dopri5 at rtol = atol = 1e-9 over the stiffening flow
    // near t_min: ~1e-8 measured; 1e-6 leaves two decades.
    EXPECT_LT(worst, 1e-6) << to_string(kind);
    std::size_t sum = 0;
    for (const auto& st : r.stats) sum += st.rhs_evaluations;
    EXPECT_EQ(r.total_score_evaluations, sum);
    EXPECT_GE(r.stats[0].rhs_evaluations, 6 * r.stats[0].accepted);  // dopri5: >= 6 new stages per step (FSAL)
  }
}

TEST(ProbabilityFlowSampler, Mixture_MatchesMomentsAndKolmogorovSmirnov) {
  const Schedule s = default_schedule(ScheduleKind::ou);
  for (std::size_t d : {1, 2}) {
    const DiagonalMixture m = d == 1 ? testing::mixture_1d() : testing::mixture_2d();
    for (const char* method : {"dopri5", "tsit5"}) {
      ProbabilityFlowSamplingOptions o;
      o.ode.method = parse_rk_method(method);
      o.ode.controller.rtol = o.ode.controller.atol = 1e-6;
      o.seed = 9;
      const std::size_t n = 10000;
      const SampleResult r = sample_probability_flow(s, m.score(s), n, d, o);
      ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
      // The ODE is solved to ~1e-6: the only error left is Monte Carlo (no
      // bias allowance), i.e. the plain 5-SE moment and 0.001-level KS tests.
      const double ks = testing::expect_matches_mixture(r.samples, m, s, 0.0, 0.0, 0.0,
                                                        std::string(method) + " d=" + std::to_string(d));
      std::printf("  %s d=%zu: max sqrt(n) D = %.3f, evaluations/sample = %.1f\n", method, d, ks,
                  static_cast<double>(r.total_score_evaluations) / n);
    }
  }
}

TEST(ProbabilityFlowSampler, FixedStepRk4_ConvergesToTheAdaptiveSolution) {
  // Same latents, rk4 with fixed steps against dopri5 at 1e-10: the error
  // falls like h^4 (two halvings: ~16x each; require >= 8x).
  const Schedule s = default_schedule(ScheduleKind::vp);
  const DiagonalMixture m = testing::mixture_2d();
  const Matrix x_T = prior_sample(s, 64, 2, 1);
  ProbabilityFlowSamplingOptions ref;
  ref.ode.controller.rtol = ref.ode.controller.atol = 1e-10;
  const Matrix exact = sample_probability_flow(s, m.score(s), x_T, ref).samples;
  std::vector<double> errors;
  for (double h : {0.01, 0.005, 0.0025}) {
    ProbabilityFlowSamplingOptions o;
    o.ode.method = RkMethod::rk4;
    o.ode.fixed_step = h;
    const SampleResult r = sample_probability_flow(s, m.score(s), x_T, o);
    ASSERT_TRUE(r.all_succeeded());
    double worst = 0.0;
    for (std::size_t k = 0; k < exact.size(); ++k) worst = std::max(worst, std::abs(r.samples.flat()[k] - exact.flat()[k]));
    errors.push_back(worst);
  }
  std::printf("  rk4 errors: %.3g %.3g %.3g\n", errors[0], errors[1], errors[2]);
  EXPECT_GT(errors[0] / errors[1], 8.0);
  EXPECT_GT(errors[1] / errors[2], 8.0);
}

TEST(ProbabilityFlowSampler, Determinism_AnyThreadCountGivesIdenticalSamples) {
  const Schedule s = default_schedule(ScheduleKind::ou);
  const DiagonalMixture m = testing::mixture_2d();
  ProbabilityFlowSamplingOptions o;
  o.seed = 4;
  o.ode.chunk = 16;
  auto run = [&](int threads) {
    tbb::task_arena arena(threads);
    SampleResult r;
    arena.execute([&] { r = sample_probability_flow(s, m.score(s), 300, 2, o); });
    return r;
  };
  const SampleResult one = run(1), two = run(2);
  EXPECT_EQ(one.samples, two.samples);
  EXPECT_EQ(one.total_score_evaluations, two.total_score_evaluations);
  o.seed = 5;
  EXPECT_NE(run(2).samples, one.samples);
}

TEST(ProbabilityFlowSampler, NonFiniteScoreAndMaxSteps_AreFlaggedPerTrajectory) {
  const Schedule s = default_schedule(ScheduleKind::ou);
  const DiagonalMixture m = testing::mixture_1d();
  const ScoreField clean = m.score(s);
  const std::size_t n = 30, bad = 7;
  ProbabilityFlowSamplingOptions o;
  const double x_bad = prior_sample(s, n, 1, o.seed)(bad, 0);
  // NaN whenever the score sees row 7's trajectory: its first evaluation is at (x_bad, T).
  const ScoreField poisoned = [&](std::span<const double> t, MatrixView x, std::span<double> out) {
    clean(t, x, out);
    for (std::size_t r = 0; r < t.size(); ++r)
      if (t[r] == s.T && x(r, 0) == x_bad) out[r] = std::numeric_limits<double>::quiet_NaN();
  };
  const SampleResult r = sample_probability_flow(s, poisoned, n, 1, o);
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(r.stats[i].status, i == bad ? TrajectoryStatus::non_finite : TrajectoryStatus::success) << i;
  EXPECT_EQ(r.stats[bad].failure_time, s.T);
  EXPECT_EQ(r.samples(bad, 0), x_bad);
  o.ode.max_steps = 3;
  const SampleResult capped = sample_probability_flow(s, clean, n, 1, o);
  EXPECT_EQ(capped.stats[0].status, TrajectoryStatus::max_steps);
  EXPECT_GT(capped.stats[0].failure_time, s.t_min);
  EXPECT_FALSE(capped.all_succeeded());
}

TEST(ProbabilityFlowSampler, BadArguments_ThrowNamingTheField) {
  const Schedule s = default_schedule(ScheduleKind::ou);
  const ScoreField score = testing::mixture_1d().score(s);
  auto with = [&](auto edit) {
    return [=, &s, &score] {
      ProbabilityFlowSamplingOptions o;
      edit(o);
      sample_probability_flow(s, score, 10, 1, o);
    };
  };
  expect_invalid(with([](ProbabilityFlowSamplingOptions& o) { o.ode.controller.rtol = 0.0; }), "rtol");
  expect_invalid(with([](ProbabilityFlowSamplingOptions& o) { o.ode.controller.atol = -1.0; }), "atol");
  expect_invalid([] { parse_rk_method("leapfrog"); }, "method");
  expect_invalid(with([](ProbabilityFlowSamplingOptions& o) { o.ode.method = RkMethod::rk4; }), "fixed_step");
  expect_invalid(with([](ProbabilityFlowSamplingOptions& o) { o.ode.max_steps = 0; }), "max_steps");
  expect_invalid(with([](ProbabilityFlowSamplingOptions& o) { o.ode.save_at = {1.0}; }), "save_at");
  expect_invalid(with([](ProbabilityFlowSamplingOptions& o) { o.ode.on_step = [](const AcceptedStep&) {}; }), "on_step");
  expect_invalid(with([](ProbabilityFlowSamplingOptions& o) { o.ode.chunk = 0; }), "chunk");
  expect_invalid([&] { sample_probability_flow(s, score, 0, 1, {}); }, "n");
  expect_invalid([&] { sample_probability_flow(s, score, 10, 0, {}); }, "d");
  expect_invalid([&] { sample_probability_flow(s, ScoreField{}, 10, 1, {}); }, "score");
  Matrix latents(2, 1, std::vector<double>{0.0, std::numeric_limits<double>::quiet_NaN()});
  expect_invalid([&] { sample_probability_flow(s, score, latents, {}); }, "latents");
  Schedule bad = s;
  bad.t_min = 2.0 * s.T;
  expect_invalid([&] { sample_probability_flow(bad, score, 10, 1, {}); }, "T");
}

}  // namespace
}  // namespace gengap
