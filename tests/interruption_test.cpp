// Cooperative interruption (kernels/interruption.hpp): with a request pending,
// every long loop stops by throwing Interrupted; a request made during a call
// (here by the score field itself, as Python's Ctrl-C does from another
// thread) stops it at the next poll; after clear_interrupt() the same call
// runs to the same bits as one that was never interrupted.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/sde/predictor_corrector.hpp"
#include "gengap/solvers/sde/probability_flow_sampler.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"
#include "gengap/solvers/stochastic_training.hpp"

namespace gengap {
namespace {

// Clears the request whatever a test does, so no test leaks it to the next.
struct InterruptionTest : ::testing::Test {
  void TearDown() override { clear_interrupt(); }
};

const Schedule schedule = default_schedule(ScheduleKind::ou);
const GaussianMixture target = GaussianMixture::two_modes(2.0);
ScoreField exact() { return score_only(mixture_score(target, schedule)); }

TEST_F(InterruptionTest, RequestIsProcessWideUntilCleared) {
  EXPECT_FALSE(interrupt_requested());
  EXPECT_NO_THROW(check_interrupt());
  request_interrupt();
  EXPECT_TRUE(interrupt_requested());
  EXPECT_THROW(check_interrupt(), Interrupted);
  EXPECT_THROW(check_interrupt(), Interrupted);  // stays set
  clear_interrupt();
  EXPECT_NO_THROW(check_interrupt());
}

TEST_F(InterruptionTest, EveryLongLoopStopsOnAPendingRequest) {
  const Matrix data = target.sample(256, 1, 7);
  const RandomFeatures rf =
      draw_random_features(32, 1, linear_embedding(schedule.T), Activation::relu, FeatureInit::sphere, 3);
  const DsmSetup setup{schedule};
  const auto design = empirical_monte_carlo(data, 4, setup, 5);
  const EmpiricalScore empirical(data);
  StochasticTrainingOptions sgd;
  sgd.steps = 10;
  request_interrupt();
  EXPECT_THROW(sample_reverse_sde(schedule, exact(), 64, 1, {}), Interrupted);
  ReverseSdeOptions adaptive;
  adaptive.method = ReverseSdeMethod::adaptive;
  EXPECT_THROW(sample_reverse_sde(schedule, exact(), 64, 1, adaptive), Interrupted);
  EXPECT_THROW(sample_predictor_corrector(schedule, exact(), 64, 1, {}), Interrupted);
  EXPECT_THROW(sample_probability_flow(schedule, exact(), 64, 1, {}), Interrupted);
  EXPECT_THROW(gram_matrices(rf, *design), Interrupted);
  EXPECT_THROW(train_stochastic(rf, setup, data, {}, sgd), Interrupted);
  EXPECT_THROW(empirical.evaluate(data, 0.5, 0.5), Interrupted);
}

TEST_F(InterruptionTest, RequestDuringACallStopsItAndAClearedRerunIsUnchanged) {
  ReverseSdeOptions options;
  options.steps = 200;
  options.seed = 11;
  const SampleResult reference = sample_reverse_sde(schedule, exact(), 300, 1, options);

  // The field requests an interruption on its 50th call: the sampler stops at
  // its next step instead of running its 200 x 5 chunk-steps.
  std::atomic<int> calls{0};
  const ScoreField inner = exact();
  const ScoreField requesting = [&](std::span<const double> t, MatrixView x, std::span<double> out) {
    if (++calls == 50) request_interrupt();
    inner(t, x, out);
  };
  EXPECT_THROW(sample_reverse_sde(schedule, requesting, 300, 1, options), Interrupted);
  EXPECT_LT(calls.load(), 200 * 5);

  clear_interrupt();
  const SampleResult rerun = sample_reverse_sde(schedule, exact(), 300, 1, options);
  EXPECT_EQ(rerun.samples, reference.samples);
}

}  // namespace
}  // namespace gengap
