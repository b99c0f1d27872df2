// Study S1's training dynamics (generalization/early_stopping.hpp): the
// curves obey the invariants of exact gradient flow from A_0 = 0, agree with a
// point-by-point evaluation of the losses at the saved weights, do not depend
// on the thread count; the config's JSON form is strict and round-trips.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <cmath>
#include <string>
#include <vector>

#include "gengap/generalization/early_stopping.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace gengap {
namespace {

EarlyStoppingConfig small_config() {
  EarlyStoppingConfig c;
  c.n = 120;
  c.model.m = 48;
  c.train_loss.draws_per_sample = 16;
  c.population_loss.time_nodes = 48;
  c.population_loss.space_nodes = 16;
  c.tau.points = 25;
  c.tau.saved = 5;
  c.seed = 3;
  return c;
}

void expect_error(const nlohmann::json& json, const std::string& prefix) {
  try {
    early_stopping_config_from_json(json).validate();
    FAIL() << "no error for " << json.dump();
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << "got: " << e.what();
  }
}

TEST(EarlyStoppingConfig, JsonRoundTrip) {
  const EarlyStoppingConfig defaults;
  EXPECT_EQ(to_json(early_stopping_config_from_json(to_json(defaults))), to_json(defaults));

  EarlyStoppingConfig c = small_config();
  c.model.activation = Activation::silu;
  c.model.embedding = EmbeddingKind::linear;
  c.model.output_scale = OutputScale::inv_sigma;
  c.schedule = default_schedule(ScheduleKind::ve);
  c.weighting = Weighting::likelihood;
  c.train_loss.method = TrainLossMethod::quadrature;
  c.population_loss.method = PopulationLossMethod::monte_carlo;
  c.tau.eigen_floor = 1e-8;
  c.target.mu = 0.1 + 0.2;  // not exactly representable: must still round-trip bit for bit
  const nlohmann::ordered_json j = to_json(c);
  const EarlyStoppingConfig back = early_stopping_config_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.target.mu, c.target.mu);
  EXPECT_EQ(back.schedule.sigma_max, 25.0);
}

TEST(EarlyStoppingConfig, DefaultsAreStudyS1) {
  const EarlyStoppingConfig c = early_stopping_config_from_json(nlohmann::json::object());
  EXPECT_EQ(c.target.mu, 3.0);
  EXPECT_EQ(c.n, 1000u);
  EXPECT_EQ(c.model.m, 1024u);
  EXPECT_EQ(c.model.activation, Activation::relu);
  EXPECT_EQ(c.model.embedding_dim, 16u);
  EXPECT_EQ(c.model.embedding_scale, 30.0);
  EXPECT_EQ(c.schedule.kind, ScheduleKind::ou);
  EXPECT_EQ(c.schedule.T, 5.0);
  EXPECT_EQ(c.schedule.t_min, 1e-3);
  EXPECT_EQ(c.weighting, Weighting::sigma2);
  EXPECT_EQ(c.train_loss.draws_per_sample, 256u);
  EXPECT_EQ(c.tau.points, 60u);
  EXPECT_EQ(c.tau.eigen_floor, 1e-10);
  EXPECT_EQ(c.seed, 0u);
  EXPECT_NO_THROW(c.validate());
}

TEST(EarlyStoppingConfig, ScheduleKindBringsItsDefaults) {
  const auto c = early_stopping_config_from_json({{"schedule", {{"kind", "ve"}}}});
  EXPECT_EQ(c.schedule.kind, ScheduleKind::ve);
  EXPECT_EQ(c.schedule.T, 1.0);
  EXPECT_EQ(c.schedule.t_min, 1e-5);
  const auto d = early_stopping_config_from_json({{"schedule", {{"kind", "ve"}, {"T", 2.0}}}});
  EXPECT_EQ(d.schedule.T, 2.0);
}

TEST(EarlyStoppingConfig, ErrorsNameTheKey) {
  expect_error({{"model", {{"mm", 3}}}}, "model.mm: unknown key");
  expect_error({{"bogus", 1}}, "bogus: unknown key");
  expect_error({{"n", "abc"}}, "n: expected a non-negative integer");
  expect_error({{"n", -5}}, "n: must be a non-negative integer");
  expect_error({{"n", 2.5}}, "n: must be a non-negative integer");
  expect_error({{"schedule", {{"T", "NaN"}}}}, "schedule.T: expected a number");
  expect_error({{"model", {{"activation", "foo"}}}}, "model.activation:");
  expect_error({{"schedule", {{"kind", "bar"}}}}, "schedule.kind:");
  expect_error({{"weighting", "heavy"}}, "weighting:");
  expect_error({{"model", 3}}, "model: expected a JSON object");
  expect_error({{"model", {{"m", 0}}}}, "model.m: must be positive");
  expect_error({{"n", 0}}, "n: must be positive");
  expect_error({{"schedule", {{"T", 1e-3}}}}, "schedule.T:");
  expect_error({{"schedule", {{"t_min", -1.0}}}}, "schedule.t_min:");
  expect_error({{"schedule", {{"kind", "ve"}, {"sigma_max", 0.5}}}}, "schedule.sigma_max:");
  expect_error({{"model", {{"embedding_dim", 15}}}}, "model.embedding_dim:");
  expect_error({{"tau", {{"saved", 2}}}}, "tau.saved:");
  expect_error({{"tau", {{"points", 4}, {"saved", 5}}}}, "tau.saved:");
  expect_error({{"tau", {{"eigen_floor", 1.5}}}}, "tau.eigen_floor:");
  expect_error({{"train_loss", {{"draws_per_sample", 0}}}}, "train_loss.draws_per_sample:");
  EXPECT_EQ(early_stopping_config_from_json({{"n", 1e3}}).n, 1000u);  // an integer written as a float
}

TEST(EarlyStopping, SavedIndicesSpreadEvenlyWithEnds) {
  EXPECT_EQ(saved_tau_indices(60, 6), (std::vector<std::size_t>{0, 12, 24, 35, 47, 59}));
  EXPECT_EQ(saved_tau_indices(5, 5), (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(saved_tau_indices(10, 3), (std::vector<std::size_t>{0, 5, 9}));
  EXPECT_THROW(saved_tau_indices(4, 5), InvalidArgument);
}

class EarlyStoppingRun : public testing::Test {
 protected:
  static void SetUpTestSuite() { result_ = new EarlyStoppingResult(run_early_stopping(small_config())); }
  static void TearDownTestSuite() { delete result_; }
  static const EarlyStoppingResult& r() { return *result_; }
  static EarlyStoppingResult* result_;
};
EarlyStoppingResult* EarlyStoppingRun::result_ = nullptr;

TEST_F(EarlyStoppingRun, ShapesAndSavedTimes) {
  const EarlyStoppingConfig c = small_config();
  EXPECT_EQ(r().training_set.rows(), c.n);
  EXPECT_EQ(r().training_set.cols(), 1u);
  ASSERT_EQ(r().tau.size(), c.tau.points);
  EXPECT_EQ(r().eigenvalues.size(), c.model.m);
  ASSERT_EQ(r().saved_indices.size(), c.tau.saved);
  EXPECT_EQ(r().saved_indices.front(), 0u);
  EXPECT_EQ(r().saved_indices.back(), c.tau.points - 1);
  ASSERT_EQ(r().saved_weights.size(), c.tau.saved);
  for (const Matrix& A : r().saved_weights) {
    EXPECT_EQ(A.rows(), 1u);
    EXPECT_EQ(A.cols(), c.model.m);
  }
  // The grid spans the flow's eigen-timescales m^2 / lambda, log-spaced.
  const double m2 = static_cast<double>(c.model.m * c.model.m);
  EXPECT_NEAR(r().tau.front(), m2 / r().eigenvalues.back(), 1e-10 * r().tau.front());
  const double ratio = r().tau[1] / r().tau[0];
  for (std::size_t i = 1; i < r().tau.size(); ++i) EXPECT_NEAR(r().tau[i] / r().tau[i - 1], ratio, 1e-9 * ratio);
}

TEST_F(EarlyStoppingRun, TrainingLossNeverIncreases) {
  // Gradient flow decreases the loss it follows: dL_n/dtau = -|grad|^2 <= 0.
  // Slack: the closed form's rounding, a few ulps of the terms' magnitude.
  for (std::size_t i = 1; i < r().tau.size(); ++i) {
    EXPECT_LE(r().loss_train[i], r().loss_train[i - 1] + 1e-12 * std::abs(r().loss_train[i - 1]))
        << "at tau " << r().tau[i];
  }
}

TEST_F(EarlyStoppingRun, NormGrowsFromZero) {
  // From A_0 = 0 each eigen-coordinate is (1 - e^{-kappa tau}) / kappa r_j:
  // increasing in tau, so the norm increases strictly, starting from 0.
  EXPECT_GT(r().norm_growth.front(), 0.0);
  for (std::size_t i = 1; i < r().tau.size(); ++i) EXPECT_GT(r().norm_growth[i], r().norm_growth[i - 1]);
  // ... and it is the Frobenius norm of the saved weights.
  for (std::size_t k = 0; k < r().saved_indices.size(); ++k) {
    double sum = 0.0;
    for (const double a : r().saved_weights[k].flat()) sum += a * a;
    const double norm = r().norm_growth[r().saved_indices[k]];
    EXPECT_NEAR(std::sqrt(sum), norm, 1e-12 * norm);
  }
}

TEST_F(EarlyStoppingRun, CurvesMatchPointwiseLossesAtSavedWeights) {
  // Independent path: evaluate both losses point by point at the saved A
  // (direct_loss: no Gram matrix, no eigenbasis) on the same designs. Both
  // are sums of the same ~10^4-10^5 terms in a different order: 1e-9 relative.
  const EarlyStoppingConfig c = small_config();
  const DsmSetup setup = c.dsm_setup();
  const auto train = empirical_monte_carlo(r().training_set, c.train_loss.draws_per_sample, setup, c.seed);
  const auto population =
      population_quadrature(c.target_distribution(), c.population_loss.time_nodes, c.population_loss.space_nodes, setup);
  for (std::size_t k = 0; k < r().saved_indices.size(); ++k) {
    const std::size_t i = r().saved_indices[k];
    const double train_direct = direct_loss(r().features, *train, r().saved_weights[k]);
    const double population_direct = direct_loss(r().features, *population, r().saved_weights[k]);
    EXPECT_NEAR(r().loss_train[i], train_direct, 1e-9 * std::abs(train_direct)) << "tau " << r().tau[i];
    EXPECT_NEAR(r().loss_pop[i], population_direct, 1e-9 * std::abs(population_direct)) << "tau " << r().tau[i];
    EXPECT_EQ(r().gap[i], r().loss_pop[i] - r().loss_train[i]);
  }
}

TEST_F(EarlyStoppingRun, SummaryPointsAtTheCurves) {
  const EarlyStoppingSummary& s = r().summary;
  for (const double L : r().loss_pop) EXPECT_GE(L, s.loss_pop_best);
  EXPECT_EQ(r().loss_pop[s.best_index], s.loss_pop_best);
  EXPECT_EQ(s.tau_best, r().tau[s.best_index]);
  EXPECT_EQ(s.loss_train_last, r().loss_train.back());
  EXPECT_EQ(s.gap_last, r().gap.back());
  EXPECT_EQ(s.lambda_max, r().eigenvalues.back());
  EXPECT_GT(r().timings.total(), 0.0);
}

TEST_F(EarlyStoppingRun, SameNumbersWhateverTheThreadCount) {
  for (const std::size_t threads : {1u, 2u, 3u}) {
    const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    const EarlyStoppingResult again = run_early_stopping(small_config());
    EXPECT_EQ(again.loss_train, r().loss_train) << threads << " threads";
    EXPECT_EQ(again.loss_pop, r().loss_pop) << threads << " threads";
    EXPECT_EQ(again.norm_growth, r().norm_growth) << threads << " threads";
    EXPECT_EQ(again.saved_weights, r().saved_weights) << threads << " threads";
  }
}

TEST(EarlyStopping, SeedChangesTheData) {
  EarlyStoppingConfig c = small_config();
  c.tau.points = 5;
  c.tau.saved = 3;
  const EarlyStoppingResult a = run_early_stopping(c);
  c.seed += 1;
  const EarlyStoppingResult b = run_early_stopping(c);
  EXPECT_NE(a.training_set, b.training_set);
  EXPECT_NE(a.loss_train, b.loss_train);
}

TEST(EarlyStopping, ReportsEveryPhaseOnceAndTimesIt) {
  EarlyStoppingConfig c = small_config();
  c.tau.points = 5;
  c.tau.saved = 3;
  std::vector<std::string> started;
  const EarlyStoppingResult r = run_early_stopping(c, [&](std::string_view phase) { started.emplace_back(phase); });
  ASSERT_EQ(started.size(), early_stopping_phase_count);
  ASSERT_EQ(r.timings.phases().size(), early_stopping_phase_count);
  for (std::size_t i = 0; i < started.size(); ++i) EXPECT_EQ(r.timings.phases()[i].first, started[i]);
}

TEST(EarlyStopping, RejectsBadConfigBeforeComputing) {
  EarlyStoppingConfig c = small_config();
  c.model.m = 0;
  EXPECT_THROW(run_early_stopping(c), InvalidArgument);
}

}  // namespace
}  // namespace gengap

namespace gengap {
namespace {

// One feature: G_n is 1 x 1, a single eigen-timescale 1/kappa = m^2/lambda.
// The grid spans a decade either side of it, and the flow there is the scalar
// exponential a(tau) = (1 - e^{-kappa tau}) a*, so ||A(tau)|| / ||A*|| at the
// grid's ends is 1 - e^{-1/10} and 1 - e^{-10}.
TEST(EarlyStopping, SingleTimescaleGetsADecadeEitherSide) {
  EarlyStoppingConfig c = small_config();
  c.model.m = 1;
  const EarlyStoppingResult r = run_early_stopping(c);
  const double timescale = 1.0 / (r.eigenvalues.back() / 1.0);  // m^2 / lambda with m = 1
  ASSERT_EQ(r.tau.size(), c.tau.points);
  EXPECT_NEAR(r.tau.front(), timescale / 10.0, 1e-12 * timescale);
  EXPECT_NEAR(r.tau.back(), timescale * 10.0, 1e-12 * timescale);
  const double limit = r.norm_growth.back() / -std::expm1(-10.0);
  EXPECT_NEAR(r.norm_growth.front(), -std::expm1(-0.1) * limit, 1e-12 * limit);
}

}  // namespace
}  // namespace gengap
