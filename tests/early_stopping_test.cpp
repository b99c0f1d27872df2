// Study S1 (generalization/studies/s1/early_stopping.hpp): the curves obey the
// invariants of exact gradient flow from A_0 = 0, agree with a point-by-point
// evaluation of the losses at the saved weights, do not depend on the thread
// count; the KL by the likelihood ODE over test points and by quadrature agree
// within their errors at every tau where both are computed, the summary points
// at the curves' minimum, the density snapshots integrate to the mass; the
// config's JSON form is strict and round-trips.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gengap/generalization/studies/s1/early_stopping.hpp"
#include "gengap/generalization/studies/model_setup.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "test_support.hpp"

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
  // KL at 7 taus (every 4th and the saved ones), by quadrature and ODE.
  c.kl.test_points = 500;
  c.kl.tau_stride = 4;
  c.kl.ode_tau_stride = 4;
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
  c.kl.enabled = false;
  c.kl.t_min = 0.01;
  c.kl.method = "tsit5";
  c.kl.quadrature = false;
  c.kl.quadrature_tolerance = 3e-4;
  c.target.mu = 0.1 + 0.2;  // not exactly representable: must still round-trip bit for bit
  const nlohmann::ordered_json j = to_json(c);
  const EarlyStoppingConfig back = early_stopping_config_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.target.mu, c.target.mu);
  EXPECT_EQ(back.schedule.sigma_max, 25.0);
  EXPECT_EQ(back.kl.t_min, 0.01);
  EXPECT_TRUE(to_json(defaults)["kl"]["t_min"].is_null());  // unset: the schedule's t_min
  EXPECT_FALSE(early_stopping_config_from_json({{"kl", {{"t_min", nullptr}}}}).kl.t_min.has_value());
}

TEST(EarlyStoppingConfig, DefaultsAreStudyS1) {
  const EarlyStoppingConfig c = early_stopping_config_from_json(nlohmann::json::object());
  EXPECT_EQ(c.target.mu, 3.0);
  EXPECT_EQ(c.n, 1000u);
  EXPECT_EQ(c.model.m, 1024u);
  EXPECT_EQ(c.model.activation, Activation::relu);
  EXPECT_EQ(c.model.embedding, EmbeddingKind::linear);  // the feature sweep's choice (README)
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
  EXPECT_TRUE(c.kl.enabled);
  EXPECT_EQ(c.kl.test_points, 2000u);  // docs/studies.md S1: >= 2000 test points
  EXPECT_TRUE(c.kl.quadrature);
  EXPECT_EQ(c.kl.tau_stride, 1u);
  EXPECT_FALSE(c.kl.t_min.has_value());
  EXPECT_EQ(c.kl_quadrature_indices().size(), 60u);
  // Monte Carlo at every 3rd tau plus the saved 35, 47 and the last.
  EXPECT_EQ(c.kl_ode_indices().size(), 23u);
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
  expect_error({{"model", {{"embedding", "fourier"}, {"embedding_dim", 15}}}}, "model.embedding_dim:");
  expect_error({{"model", {{"embedding", "sinusoidal"}, {"embedding_dim", 3}}}}, "model.embedding_dim:");
  expect_error({{"model", {{"embedding", "polynomial"}, {"embedding_dim", 0}}}}, "model.embedding_dim:");
  expect_error({{"model", {{"embedding", "fourier"}, {"embedding_scale", 0.0}}}}, "model.embedding_scale:");
  expect_error({{"model", {{"embedding", "spline"}}}}, "model.embedding:");
  expect_error({{"model", {{"w_scale", -1.0}}}}, "model.w_scale:");
  expect_error({{"model", {{"u_scale", "big"}}}}, "model.u_scale: expected a number");
  expect_error({{"model", {{"b_scale", "NaN"}}}}, "model.b_scale:");
  expect_error({{"tau", {{"saved", 2}}}}, "tau.saved:");
  expect_error({{"tau", {{"points", 4}, {"saved", 5}}}}, "tau.saved:");
  expect_error({{"tau", {{"eigen_floor", 1.5}}}}, "tau.eigen_floor:");
  expect_error({{"train_loss", {{"draws_per_sample", 0}}}}, "train_loss.draws_per_sample:");
  expect_error({{"kl", {{"bogus", 1}}}}, "kl.bogus: unknown key");
  expect_error({{"kl", {{"enabled", "yes"}}}}, "kl.enabled: expected true or false");
  expect_error({{"kl", {{"test_points", 1}}}}, "kl.test_points:");
  expect_error(nlohmann::json::parse(R"({"kl": {"test_points": 0, "quadrature": false}})"), "kl.test_points:");
  expect_error({{"kl", {{"tau_stride", 0}}}}, "kl.tau_stride:");
  expect_error({{"kl", {{"ode_tau_stride", 0}}}}, "kl.ode_tau_stride:");
  expect_error({{"kl", {{"method", "foo"}}}}, "kl.method:");
  expect_error({{"kl", {{"method", "rk4"}}}}, "kl.method: must be an adaptive pair");
  expect_error({{"kl", {{"rtol", 0.0}}}}, "kl.rtol:");
  expect_error({{"kl", {{"atol", -1.0}}}}, "kl.atol:");
  expect_error({{"kl", {{"quadrature_rtol", 0.0}}}}, "kl.quadrature_rtol:");
  expect_error({{"kl", {{"quadrature_atol", 0.0}}}}, "kl.quadrature_atol:");
  expect_error({{"kl", {{"t_min", 10.0}}}}, "kl.t_min:");
  expect_error({{"kl", {{"t_min", "x"}}}}, "kl.t_min: expected a number");
  expect_error({{"kl", {{"max_steps", 0}}}}, "kl.max_steps:");
  expect_error({{"kl", {{"quadrature_nodes", 8}}}}, "kl.quadrature_nodes:");
  expect_error({{"kl", {{"quadrature_max_nodes", 9}}}}, "kl.quadrature_max_nodes:");
  expect_error({{"kl", {{"quadrature_tolerance", 0.0}}}}, "kl.quadrature_tolerance:");
  expect_error({{"kl", {{"quadrature_relative_tolerance", -1e-3}}}}, "kl.quadrature_relative_tolerance:");
  // Disabled, the KL group is not checked (nothing of it runs).
  EXPECT_NO_THROW(early_stopping_config_from_json({{"kl", {{"enabled", false}, {"rtol", 0.0}}}}).validate());
  EXPECT_EQ(early_stopping_config_from_json({{"n", 1e3}}).n, 1000u);  // an integer written as a float
}

// w_scale, u_scale, b_scale multiply the drawn rows part by part (exactly:
// one rounded product each), and leave the draw itself alone.
TEST(EarlyStoppingConfig, EmbeddingHorizonDefaultsToTheScheduleHorizon) {
  EarlyStoppingConfig c = small_config();
  c.schedule.T = 2.0;
  EXPECT_EQ(model_time_embedding(c).horizon, 2.0);  // null: schedule.T
  c.model.embedding_horizon = 5.0;
  EXPECT_EQ(model_time_embedding(c).horizon, 5.0);
  double e = 0.0;
  model_time_embedding(c).evaluate(1.0, {&e, 1});
  EXPECT_DOUBLE_EQ(e, 0.2);  // e(t) = t / 5 whatever T
  const EarlyStoppingConfig back = early_stopping_config_from_json(nlohmann::json::parse(to_json(c).dump()));
  EXPECT_EQ(back.model.embedding_horizon, 5.0);
  EXPECT_FALSE(early_stopping_config_from_json(nlohmann::json::parse(to_json(small_config()).dump()))
                   .model.embedding_horizon.has_value());
  c.model.embedding_horizon = -1.0;
  expect_invalid([&] { c.validate(); }, "model.embedding_horizon");
}

TEST(EarlyStoppingConfig, FeatureScalesMultiplyTheDrawnRows) {
  EarlyStoppingConfig c = small_config();
  const RandomFeatures plain = model_random_features(c, 1);
  c.model.w_scale = 3.0;
  c.model.u_scale = 0.5;
  c.model.b_scale = 0.0;
  const RandomFeatures scaled = model_random_features(c, 1);
  for (std::size_t j = 0; j < plain.num_features(); ++j) {
    EXPECT_EQ(scaled.W(j, 0), 3.0 * plain.W(j, 0));
    for (std::size_t q = 0; q < plain.U.cols(); ++q) EXPECT_EQ(scaled.U(j, q), 0.5 * plain.U(j, q));
    EXPECT_EQ(scaled.b[j], 0.0);
  }
  EXPECT_EQ(to_json(c)["model"]["w_scale"], 3.0);
  EXPECT_EQ(early_stopping_config_from_json(to_json(c)).model.u_scale, 0.5);
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

TEST_F(EarlyStoppingRun, KlRowsWhereConfiguredWithTheirDiagnostics) {
  const EarlyStoppingConfig c = small_config();
  ASSERT_EQ(r().kl.size(), r().tau.size());
  const std::vector<std::size_t> expected = {0, 4, 6, 8, 12, 16, 18, 20, 24};  // every 4th and the saved 0,6,12,18,24
  EXPECT_EQ(c.kl_quadrature_indices(), expected);
  for (std::size_t i = 0; i < r().kl.size(); ++i) {
    const KlRow& row = r().kl[i];
    const bool wanted = std::find(expected.begin(), expected.end(), i) != expected.end();
    EXPECT_EQ(row.evaluated, wanted) << i;
    if (!wanted) {
      EXPECT_TRUE(std::isnan(row.quad) && std::isnan(row.ode)) << i;
      continue;
    }
    EXPECT_TRUE(std::isfinite(row.quad) && std::isfinite(row.ode) && std::isfinite(row.ode_se)) << i;
    EXPECT_GT(row.quad, 0.0) << i;  // KL >= 0, and the model is far from exact
    EXPECT_EQ(row.ode_failed, 0u) << i;
    EXPECT_GT(row.ode_evaluations, 10.0) << i;
    EXPECT_GT(row.quad_nodes, c.kl.quadrature_nodes - 1) << i;
    // Flags say exactly whether the mass is off (the only flag expected here).
    EXPECT_EQ((row.flags & kl_flags::mass) != 0, std::abs(row.mass - 1.0) > 1e-3) << i;
  }
}

TEST_F(EarlyStoppingRun, KlByOdeAndQuadratureAgreeWithinTheirErrors) {
  // Two estimators of the same number sharing only log p_theta's ODE: the
  // Monte Carlo mean over 500 test points (SE ~0.05) and the quadrature
  // (error estimate ~1e-4, plus the ODE's own error, ~|mass - 1|). 4 SE keeps
  // the false-alarm rate ~6e-5 per tau; the test points are shared across
  // taus, so the differences are correlated, not independent chances.
  std::size_t compared = 0;
  for (std::size_t i = 0; i < r().kl.size(); ++i) {
    const KlRow& row = r().kl[i];
    if (!row.evaluated) continue;
    ++compared;
    EXPECT_NEAR(row.ode, row.quad, 4.0 * row.ode_se + row.quad_error + std::abs(row.mass - 1.0)) << "tau " << r().tau[i];
    EXPECT_LT(row.ode_se, 0.1) << "tau " << r().tau[i];
  }
  EXPECT_EQ(compared, 9u);
}

TEST_F(EarlyStoppingRun, KlSummaryPointsAtTheQuadratureMinimum) {
  const EarlyStoppingSummary& s = r().summary;
  ASSERT_TRUE(s.kl_available);
  EXPECT_EQ(s.kl_source, "quadrature");
  for (const KlRow& row : r().kl)
    if (row.evaluated) { EXPECT_GE(row.quad, s.kl_best); }
  EXPECT_EQ(r().kl[s.kl_best_index].quad, s.kl_best);
  EXPECT_EQ(s.tau_kl_best, r().tau[s.kl_best_index]);
  EXPECT_EQ(s.gap_kl_best, r().gap[s.kl_best_index]);
  EXPECT_EQ(s.kl_last, r().kl.back().quad);
  EXPECT_EQ(s.kl_evaluated, 9u);
  EXPECT_EQ(s.kl_interior_minimum, s.kl_best_index != 0 && s.kl_best_index != r().tau.size() - 1);
  // The first local minimum: below its evaluated neighbours, none before it.
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < r().kl.size(); ++i)
    if (r().kl[i].evaluated) rows.push_back(i);
  std::size_t first = s.kl_best_index;
  for (std::size_t k = 1; k + 1 < rows.size(); ++k) {
    const double here = r().kl[rows[k]].quad;
    if (here < r().kl[rows[k - 1]].quad && here < r().kl[rows[k + 1]].quad) {
      first = rows[k];
      break;
    }
  }
  EXPECT_EQ(s.kl_first_minimum_index, first);
  EXPECT_EQ(s.kl_first_minimum, r().kl[first].quad);
  // The floor KL(p_0 || p_{t_min}): the S1 target at t_min = 1e-3 moves its
  // modes by 3 (1 - e^{-t_min}) with unit variance kept (OU), so the floor is
  // ~ (3e-3)^2 / 2 = 4.5e-6, far below every model KL.
  EXPECT_NEAR(s.kl_floor, 0.5 * std::pow(3.0 * -std::expm1(-1e-3), 2), 2e-7);
  EXPECT_LT(s.kl_floor, s.kl_best);
  EXPECT_EQ(s.kl_t_min, 1e-3);
  const auto j = s.to_json();
  EXPECT_EQ(j["kl"]["tau_best"].get<double>(), s.tau_kl_best);
  EXPECT_EQ(j["kl"]["source"], "quadrature");
}

TEST_F(EarlyStoppingRun, DensitySnapshotsAtTheSavedTaus) {
  ASSERT_EQ(r().densities.size(), r().saved_indices.size());
  for (std::size_t k = 0; k < r().densities.size(); ++k) {
    const DensitySnapshot& d = r().densities[k];
    EXPECT_EQ(d.index, r().saved_indices[k]);
    EXPECT_EQ(d.tau, r().tau[d.index]);
    ASSERT_GT(d.x.size(), 100u);
    ASSERT_EQ(d.p0.size(), d.x.size());
    ASSERT_EQ(d.p_theta.size(), d.x.size());
    EXPECT_TRUE(std::is_sorted(d.x.begin(), d.x.end()));
    // Trapezoid over the snapshot: p_0 integrates to 1 on its window, and
    // p_theta to at most the grid's mass (early in training p_theta is wider
    // than p_0's window: the quadrature grid extends beyond the snapshot).
    double p0_mass = 0.0, theta_mass = 0.0;
    for (std::size_t j = 1; j < d.x.size(); ++j) {
      p0_mass += 0.5 * (d.x[j] - d.x[j - 1]) * (d.p0[j] + d.p0[j - 1]);
      theta_mass += 0.5 * (d.x[j] - d.x[j - 1]) * (d.p_theta[j] + d.p_theta[j - 1]);
    }
    EXPECT_NEAR(p0_mass, 1.0, 1e-3);
    EXPECT_LT(theta_mass, r().kl[d.index].mass + 1e-2);
    EXPECT_GT(theta_mass, 0.05);
  }
}

TEST_F(EarlyStoppingRun, BestDensityIsTheQuadratureGridAtTauStar) {
  ASSERT_TRUE(r().best_density.has_value());
  const DensitySnapshot& d = *r().best_density;
  EXPECT_EQ(d.index, r().summary.kl_best_index);
  EXPECT_EQ(d.tau, r().summary.tau_kl_best);
  ASSERT_GT(d.x.size(), 100u);
  EXPECT_EQ(d.p_theta.size(), d.x.size());
}

// tau.include adds training times to the log-spaced grid (e.g. one fixed tau
// compared across a study's settings): each lands at its sorted place, keeps
// the log-spaced rows around it unchanged and gets a KL.
TEST(EarlyStopping, IncludedTimesJoinTheGridWithAKl) {
  EarlyStoppingConfig c = small_config();
  c.kl.test_points = 0;
  const EarlyStoppingResult plain = run_early_stopping(c);
  const double inside = std::sqrt(plain.tau[10] * plain.tau[11]), beyond = 10.0 * plain.tau.back();
  c.tau.include = {beyond, inside};
  const EarlyStoppingResult r = run_early_stopping(c);
  ASSERT_EQ(r.tau.size(), c.tau.points + 2);
  EXPECT_EQ(r.included_indices, (std::vector<std::size_t>{c.tau.points + 1, 11}));
  EXPECT_EQ(r.tau[11], inside);
  EXPECT_EQ(r.tau.back(), beyond);
  EXPECT_TRUE(std::is_sorted(r.tau.begin(), r.tau.end()));
  for (std::size_t i = 0; i < 11; ++i) EXPECT_EQ(r.tau[i], plain.tau[i]);
  for (std::size_t i = 11; i < plain.tau.size(); ++i) EXPECT_EQ(r.tau[i + 1], plain.tau[i]);
  for (const std::size_t i : r.included_indices) EXPECT_TRUE(r.kl[i].evaluated && std::isfinite(r.kl[i].quad)) << i;
  // The loss at an included time is the flow's at that time: between its neighbours.
  EXPECT_LE(r.loss_train[11], r.loss_train[10]);
  EXPECT_GE(r.loss_train[11], r.loss_train[12]);

  nlohmann::json json = {{"tau", {{"include", {1.0, -2.0}}}}};
  expect_error(json, "tau.include[1]");
  json = {{"tau", {{"include", {1.0, 1.0}}}}};
  expect_error(json, "tau.include[1]");
  json = {{"tau", {{"include", "1"}}}};
  expect_error(json, "tau.include");
}

TEST_F(EarlyStoppingRun, SameNumbersWhateverTheThreadCount) {
  // The KL at fewer taus and test points here (3 reruns): the ODE solves run
  // in parallel over taus and over points, and must not depend on either.
  EarlyStoppingConfig c = small_config();
  c.kl.test_points = 200;
  c.kl.tau_stride = 12;
  c.kl.ode_tau_stride = 12;
  std::vector<KlRow> first;
  for (const std::size_t threads : {1u, 2u, 3u}) {
    const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    const EarlyStoppingResult again = run_early_stopping(c);
    EXPECT_EQ(again.loss_train, r().loss_train) << threads << " threads";
    EXPECT_EQ(again.loss_pop, r().loss_pop) << threads << " threads";
    EXPECT_EQ(again.norm_growth, r().norm_growth) << threads << " threads";
    EXPECT_EQ(again.saved_weights, r().saved_weights) << threads << " threads";
    if (first.empty()) first = again.kl;
    for (std::size_t i = 0; i < first.size(); ++i) {
      EXPECT_EQ(again.kl[i].evaluated, first[i].evaluated) << i;
      if (!first[i].evaluated) continue;
      EXPECT_EQ(again.kl[i].quad, first[i].quad) << threads << " threads, tau " << i;
      EXPECT_EQ(again.kl[i].ode, first[i].ode) << threads << " threads, tau " << i;
      EXPECT_EQ(again.kl[i].mass, first[i].mass) << threads << " threads, tau " << i;
      EXPECT_EQ(again.kl[i].quad_nodes, first[i].quad_nodes) << threads << " threads, tau " << i;
    }
  }
  // ... and the KL rows computed in both runs agree with the full run's.
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (first[i].evaluated) { EXPECT_EQ(first[i].quad, r().kl[i].quad) << i; }
  }
}

TEST(EarlyStopping, SeedChangesTheData) {
  EarlyStoppingConfig c = small_config();
  c.tau.points = 5;
  c.tau.saved = 3;
  c.kl.enabled = false;
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
  c.kl.test_points = 50;
  std::vector<std::string> started;
  const EarlyStoppingResult r = run_early_stopping(c, [&](std::string_view phase) { started.emplace_back(phase); });
  ASSERT_EQ(started.size(), early_stopping_phase_count);
  ASSERT_EQ(r.timings.phases().size(), early_stopping_phase_count);
  for (std::size_t i = 0; i < started.size(); ++i) EXPECT_EQ(r.timings.phases()[i].first, started[i]);
  EXPECT_EQ(started.back(), "kl_ode");
  // Without the KL the phases are still announced (a fixed count for progress), and empty.
  c.kl.enabled = false;
  std::vector<std::string> again;
  const EarlyStoppingResult off = run_early_stopping(c, [&](std::string_view phase) { again.emplace_back(phase); });
  EXPECT_EQ(again, started);
  EXPECT_FALSE(off.summary.kl_available);
  EXPECT_TRUE(off.densities.empty());
  for (const KlRow& row : off.kl) EXPECT_FALSE(row.evaluated);
}

TEST(EarlyStopping, ReportsProgressWithinTheGramAndKlPhases) {
  EarlyStoppingConfig c = small_config();
  c.tau.points = 5;
  c.tau.saved = 3;
  c.kl.test_points = 50;
  std::mutex mutex;
  std::string phase;
  std::map<std::string, std::vector<double>> fractions;  // per phase, in arrival order
  run_early_stopping(
      c,
      [&](std::string_view p) {
        const std::lock_guard lock(mutex);
        phase = p;
      },
      [&](double f) {
        const std::lock_guard lock(mutex);
        fractions[phase].push_back(f);
      });
  // The Gram rounds come in order from one thread and end at exactly 1; each
  // KL tau reports once (from worker threads, any order), the last one 1.
  for (const char* gram : {"gram_train", "gram_population"}) {
    const std::vector<double>& f = fractions[gram];
    ASSERT_FALSE(f.empty()) << gram;
    EXPECT_TRUE(std::is_sorted(f.begin(), f.end())) << gram;
    EXPECT_GT(f.front(), 0.0) << gram;
    EXPECT_EQ(f.back(), 1.0) << gram;
  }
  for (const char* kl : {"kl_quadrature", "kl_ode"}) {
    std::vector<double> f = fractions[kl];
    ASSERT_FALSE(f.empty()) << kl;
    std::sort(f.begin(), f.end());
    EXPECT_EQ(f.back(), 1.0) << kl;
    EXPECT_EQ(std::adjacent_find(f.begin(), f.end()), f.end()) << kl << ": a tau counted twice";
  }
  EXPECT_FALSE(fractions.contains("eigendecomposition"));  // dsyevd cannot tell
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
  c.kl.enabled = false;
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
