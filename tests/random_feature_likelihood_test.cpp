// log_likelihood_random_features (solvers/random_feature_likelihood.hpp): the
// relu model's kinks integrated exactly along each step, against the second
// method, the divergence as an ODE component (log_likelihood with
// random_feature_score) at tight tolerances; the fallback for smooth
// activations; thread independence; and the work it saves.
#include <gtest/gtest.h>

#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <string>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

// Unit-sphere rows, A with N(0, scale^2) entries: scale 20 at m = 48 gives a
// score of O(1) whose divergence jumps by ~0.2 at each kink.
struct Model {
  RandomFeatures rf;
  Matrix A;
};

Model relu_model(std::size_t m, std::size_t d, TimeEmbedding embedding, double scale, Activation a = Activation::relu) {
  Model model{draw_random_features(m, d, std::move(embedding), a, FeatureInit::sphere, 4), Matrix(d, m)};
  CounterRng(9, streams::initial_weights).fill_normal(model.A.flat());
  for (double& v : model.A.flat()) v *= scale;
  return model;
}

Matrix points(std::size_t n, std::size_t d) {
  Matrix X(n, d);
  CounterRng(3, streams::test_data).fill_normal(X.flat());
  for (double& v : X.flat()) v *= 2.5;
  return X;
}

LikelihoodOptions tolerance(double tol) {
  LikelihoodOptions o;
  o.ode.controller.rtol = o.ode.controller.atol = tol;
  o.ode.max_steps = 2000000;
  return o;
}

// Both methods converge to the same log p: the divergence in the ODE state at
// rtol 1e-10 (its error ~1e-8: it steps through every jump) against the kinks
// exact at 1e-10. The latter's error is that of x, whose embedded error
// estimate sees a kink's O(h^2) jump in dv/dx only in part: measured up to
// 4e-6 in log p and 1e-6 in x here (1e-4 on study S1's memorising model, where
// the old setting, the state at 3e-6, is off by 6.5e-3). 2e-5 and 1e-5 leave
// a margin of 5-10 and still fail for a kink integrated on the wrong side (an
// error of kappa_j / m times the step, ~1e-3) or a missed crossing.
TEST(RandomFeatureLikelihood, ReluKinksExactMatchTheDivergenceInTheOdeState) {
  for (const OutputScale scale : {OutputScale::one, OutputScale::denoiser}) {
    const DsmSetup setup = ou_setup(Weighting::sigma2, scale);
    for (const std::size_t d : {1u, 2u}) {
      for (const bool linear : {true, false}) {
        // The denoiser's output is a point (D ~ x_0, then scaled by mu / sigma^2):
        // weights of scale 1 keep it O(1) where 20 would throw points to |x| ~ 1e3.
        const double weight_scale = scale == OutputScale::denoiser ? 1.0 : 20.0;
        const Model model =
            relu_model(48, d, linear ? linear_embedding(5.0) : fourier_embedding(4, 0.5, 2), weight_scale);
        const Matrix X = points(12, d);
        const LikelihoodResult state =
            log_likelihood(setup.schedule, random_feature_score(model.rf, model.A, setup), X, tolerance(1e-10));
        const LikelihoodResult kinks =
            log_likelihood_random_features(setup.schedule, model.rf, model.A, setup, X, tolerance(1e-10));
        ASSERT_TRUE(state.all_succeeded()) << state.failure_summary();
        ASSERT_TRUE(kinks.all_succeeded()) << kinks.failure_summary();
        const std::string where = std::string(to_string(scale)) + " d " + std::to_string(d) + (linear ? " linear" : " fourier");
        for (std::size_t i = 0; i < X.rows(); ++i) {
          // The state method controls ell relative to |ell| (rtol 1e-10): on the
          // denoiser's |log p| ~ 1e3-1e4 (points far from D contract at 1/sigma^2)
          // that adds ~1e-8 |log p| to its error (measured up to 1e-8 |log p|).
          EXPECT_NEAR(kinks.log_p[i], state.log_p[i], 2e-5 + 2e-8 * std::abs(state.log_p[i])) << where << " point " << i;
          EXPECT_NEAR(kinks.latent(i, 0), state.latent(i, 0), 1e-5) << where << " point " << i;
          EXPECT_EQ(kinks.log_p_se[i], 0.0);
          EXPECT_DOUBLE_EQ(kinks.log_p[i], kinks.log_prior[i] + kinks.delta_log_p[i]);
        }
      }
    }
  }
}

// The point of the method: at the same rtol the ODE no longer resolves the
// divergence's jumps. Evaluation counts are deterministic (not a timing).
TEST(RandomFeatureLikelihood, TakesFarFewerStepsThanTheDivergenceInTheState) {
  const DsmSetup setup = ou_setup();
  const Model model = relu_model(256, 1, linear_embedding(5.0), 400.0);
  const Matrix X = points(64, 1);
  const LikelihoodResult state =
      log_likelihood(setup.schedule, random_feature_score(model.rf, model.A, setup), X, tolerance(1e-6));
  const LikelihoodResult kinks = log_likelihood_random_features(setup.schedule, model.rf, model.A, setup, X, tolerance(1e-6));
  ASSERT_TRUE(state.all_succeeded() && kinks.all_succeeded());
  EXPECT_LT(5 * kinks.total_rhs_evaluations, state.total_rhs_evaluations)
      << kinks.total_rhs_evaluations << " vs " << state.total_rhs_evaluations;
}

TEST(RandomFeatureLikelihood, SmoothActivationsUseTheOdeStateBitwise) {
  const DsmSetup setup = ou_setup();
  const Model model = relu_model(40, 2, fourier_embedding(4, 1.0, 2), 50.0, Activation::silu);
  const Matrix X = points(10, 2);
  const LikelihoodResult a =
      log_likelihood(setup.schedule, random_feature_score(model.rf, model.A, setup), X, tolerance(1e-7));
  const LikelihoodResult b = log_likelihood_random_features(setup.schedule, model.rf, model.A, setup, X, tolerance(1e-7));
  EXPECT_EQ(a.log_p, b.log_p);
  EXPECT_EQ(a.total_rhs_evaluations, b.total_rhs_evaluations);
}

TEST(RandomFeatureLikelihood, OneAndTwoThreadsAreBitwiseIdentical) {
  const DsmSetup setup = ou_setup();
  const Model model = relu_model(200, 1, linear_embedding(5.0), 300.0);
  const Matrix X = points(300, 1);  // several chunks
  LikelihoodResult one, two;
  tbb::task_arena(1).execute(
      [&] { one = log_likelihood_random_features(setup.schedule, model.rf, model.A, setup, X, tolerance(1e-6)); });
  tbb::task_arena(2).execute(
      [&] { two = log_likelihood_random_features(setup.schedule, model.rf, model.A, setup, X, tolerance(1e-6)); });
  EXPECT_EQ(one.log_p, two.log_p);
  EXPECT_EQ(one.total_rhs_evaluations, two.total_rhs_evaluations);
}

TEST(RandomFeatureLikelihood, BadInputNamesTheField) {
  const DsmSetup setup = ou_setup();
  const Model model = relu_model(8, 2, linear_embedding(5.0), 1.0);
  expect_invalid([&] { log_likelihood_random_features(setup.schedule, model.rf, model.A, setup, points(3, 1), {}); },
                 "data");
  expect_invalid([&] { log_likelihood_random_features(setup.schedule, model.rf, Matrix(2, 7), setup, points(3, 2), {}); },
                 "A");
  LikelihoodOptions bad;
  bad.ode.controller.rtol = 0.0;
  expect_invalid([&] { log_likelihood_random_features(setup.schedule, model.rf, model.A, setup, points(3, 2), bad); },
                 "rtol");
}

}  // namespace
}  // namespace gengap
