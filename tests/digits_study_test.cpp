// Study "digits" on a small subset (digits_study.hpp): its config (defaults,
// JSON round trip, errors naming the key), the data it reads (shapes, the
// held-out split disjoint from every training set), a tiny run's structure
// and thread independence, the likelihood it reports against Hutchinson's
// estimator, and memorisation by the empirical score (the limit the flow
// would reach with enough features).
#include <gtest/gtest.h>

#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gengap/generalization/io/digits.hpp"
#include "gengap/generalization/memorization.hpp"
#include "gengap/generalization/studies/digits/digits_study.hpp"
#include "gengap/generalization/studies/model_setup.hpp"
#include "gengap/kernels/empirical_score.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/probability_flow.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"
#include "gengap/solvers/sde/tweedie.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

// Two small sizes, a small model, three taus: ~2 s.
DigitsStudyConfig tiny_config() {
  DigitsStudyConfig c;
  c.model_base.model.m = 128;
  c.model_base.train_loss.draws_per_sample = 32;
  c.data.sizes = {24, 48};
  c.data.held_out = 64;
  c.tau.points = 3;
  c.tau.curve_points = 21;
  c.heldout_loss.draws_per_sample = 8;
  c.sampler.samples = 24;
  c.likelihood.points = 6;
  return c;
}

TEST(DigitsStudyConfig, DefaultsAreTheStatedOnesAndValid) {
  const DigitsStudyConfig c;
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.model_base.model.m, 4096u);
  EXPECT_EQ(c.model_base.model.output_scale, OutputScale::denoiser);
  EXPECT_EQ(c.model_base.train_loss.draws_per_sample, 512u);
  EXPECT_EQ(c.data.sizes, (std::vector<std::size_t>{64, 128, 256, 512, 1024, 1536}));
  EXPECT_EQ(c.tau_grid().size(), c.tau.points);
  EXPECT_DOUBLE_EQ(c.tau_grid().front(), c.tau.first);
  EXPECT_NEAR(c.tau_grid().back(), c.tau.last, 1e-12 * c.tau.last);
}

TEST(DigitsStudyConfig, JsonRoundTripsEveryKey) {
  DigitsStudyConfig c = tiny_config();
  c.data.lower = 0.0;
  c.metrics.memorized_fraction = 0.25;
  c.sampler.method = "euler_maruyama";
  const nlohmann::ordered_json j = to_json(c);
  const DigitsStudyConfig back = digits_study_config_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(to_json(back).dump(), j.dump());
  EXPECT_EQ(back.model_base.model.m, 128u);
  EXPECT_EQ(back.data.sizes, c.data.sizes);
}

TEST(DigitsStudyConfig, BadInputNamesTheKey) {
  const auto with = [](const char* text) { return digits_study_config_from_json(nlohmann::json::parse(text)); };
  expect_invalid([&] { with(R"({"data": {"sizes": [64, 32]}})").validate(); }, "data.sizes[1]");
  expect_invalid([&] { with(R"({"data": {"sizes": [1]}})").validate(); }, "data.sizes[0]");
  expect_invalid([&] { with(R"({"data": {"lower": 1, "upper": 0}})").validate(); }, "data.upper");
  expect_invalid([&] { with(R"({"tau": {"first": 1e6, "last": 1e5}})").validate(); }, "tau.last");
  expect_invalid([&] { with(R"({"metrics": {"memorized_fraction": 0}})").validate(); }, "metrics.memorized_fraction");
  expect_invalid([&] { with(R"({"likelihood": {"points": 1}})").validate(); }, "likelihood.points");
  expect_invalid([&] { with(R"({"sampler": {"method": "leapfrog"}})").validate(); }, "sampler.method");
  expect_invalid([&] { with(R"({"model": {"m": 0}})").validate(); }, "model.m");
  expect_invalid([&] { with(R"({"data": {"shape": 3}})"); }, "data.shape");
  expect_invalid([&] { with(R"({"n": 3})"); }, "n");
}

// The data as the study reads it: 1797 x 64 scaled to the range, the test
// digits disjoint from every training set, the training sets nested.
TEST(DigitsStudyData, ShapesRangeAndASplitDisjointFromTraining) {
  DigitsStudyConfig c = tiny_config();
  c.data.sizes = {100, 1541};  // 1797 - 256 = 1541: every digit not held out
  c.data.held_out = 256;
  const DigitsData data = load_study_digits(c);
  ASSERT_EQ(data.images.rows(), 1797u);
  ASSERT_EQ(data.images.cols(), 64u);
  ASSERT_EQ(data.test.rows(), 256u);
  const auto [lo, hi] = std::minmax_element(data.images.flat().begin(), data.images.flat().end());
  EXPECT_EQ(*lo, -1.0);
  EXPECT_EQ(*hi, 1.0);
  const std::set<std::size_t> test(data.order.end() - 256, data.order.end());
  const std::set<std::size_t> training(data.order.begin(), data.order.begin() + 1541);
  for (const std::size_t i : test) EXPECT_EQ(training.count(i), 0u) << "digit " << i;
  EXPECT_EQ(test.size() + training.size(), 1797u);
  const Matrix small = data.training(100), large = data.training(1541);
  EXPECT_EQ(std::memcmp(small.data(), large.data(), 100 * 64 * sizeof(double)), 0);  // nested
}

TEST(DigitsStudyData, MissingFileAndTooLargeASizeAreClearErrors) {
  DigitsStudyConfig c = tiny_config();
  c.data.file = "/nonexistent/digits.csv.gz";
  try {
    load_study_digits(c);
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/digits.csv.gz"), std::string::npos) << e.what();
  }
  c = tiny_config();
  c.data.sizes = {24, 1742};  // 1797 - 64 = 1733 are left for training
  expect_invalid([&] { load_study_digits(c); }, "data.sizes[1]");
}

TEST(DigitsStudy, TinyRunHasEveryRowCurveAndTimescaleInRange) {
  const DigitsStudyConfig c = tiny_config();
  std::vector<std::string> phases;
  std::size_t rows = 0, settings = 0;
  DigitsStudyCallbacks callbacks;
  callbacks.on_phase = [&](const std::string& p) { phases.push_back(p); };
  callbacks.on_row = [&](const DigitsRow&) { ++rows; };
  callbacks.on_setting = [&](const DigitsSetting&) { ++settings; };
  const DigitsStudyResult r = run_digits_study(c, callbacks);
  ASSERT_EQ(r.settings.size(), 2u);
  EXPECT_EQ(rows, digits_study_rows(c));
  EXPECT_EQ(settings, 2u);
  EXPECT_EQ(phases.front(), "n=24: Gram matrices");
  const std::vector<double> taus = c.tau_grid();
  for (const DigitsSetting& s : r.settings) {
    ASSERT_EQ(s.rows.size(), c.tau.points);
    ASSERT_EQ(s.curve_tau.size(), c.tau.curve_points);
    EXPECT_GT(s.slowest, s.fastest);
    // The flow lowers L_n monotonically (every direction decays).
    for (std::size_t k = 1; k < s.curve_train.size(); ++k) EXPECT_LE(s.curve_train[k], s.curve_train[k - 1] + 1e-12);
    EXPECT_TRUE(std::count(taus.begin(), taus.end(), s.tau_gen) == 1) << s.tau_gen;
    EXPECT_GE(s.tau_best, c.tau.curve_first);
    EXPECT_LE(s.tau_best, c.tau.curve_last * (1 + 1e-12));
    for (const DigitsRow& row : s.rows) {
      EXPECT_EQ(row.samples.rows(), c.sampler.samples);
      EXPECT_EQ(row.sampler_failed + row.likelihood_failed, 0u) << row.label();
      EXPECT_TRUE(std::isfinite(row.test_bits) && std::isfinite(row.train_bits)) << row.label();
      EXPECT_GT(row.test_bits_se, 0.0);
      EXPECT_EQ(row.row().size(), DigitsRow::columns().size());
      for (const std::size_t i : row.nearest_index) EXPECT_LT(i, s.n);
    }
  }
  EXPECT_EQ(r.fits.tau_gen.points, 0u);  // two sizes: no fit
}

TEST(DigitsStudy, NumbersDoNotDependOnTheThreadCount) {
  const DigitsStudyConfig c = tiny_config();
  const auto run = [&](std::size_t threads) {
    const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    return run_digits_study(c);
  };
  const DigitsStudyResult one = run(1), two = run(2);
  for (std::size_t k = 0; k < one.settings.size(); ++k) {
    const std::vector<DigitsRow>& a = one.settings[k].rows;
    const std::vector<DigitsRow>& b = two.settings[k].rows;
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::vector<double> ra = a[i].row(), rb = b[i].row();
      ra.pop_back(), rb.pop_back();  // seconds
      ra.erase(ra.end() - 1), rb.erase(rb.end() - 1);  // likelihood seconds per point
      for (std::size_t j = 0; j < ra.size(); ++j)
        EXPECT_TRUE(ra[j] == rb[j] || (std::isnan(ra[j]) && std::isnan(rb[j])))
            << a[i].label() << " " << DigitsRow::columns()[j] << ": " << ra[j] << " vs " << rb[j];
      EXPECT_EQ(std::memcmp(a[i].samples.data(), b[i].samples.data(), a[i].samples.flat().size() * sizeof(double)), 0);
    }
    EXPECT_EQ(one.settings[k].curve_heldout, two.settings[k].curve_heldout);
  }
}

// The study's NLL (exact divergence, kink-exact relu path, d = 64) against
// Hutchinson's estimator on the same trained model: per digit within 4 of
// Hutchinson's standard errors (16 Rademacher probes; both integrate the same
// ODE at rtol 1e-5, whose error ~1e-3 nats is far below the SE).
// 8 digits at 4 SE fail together by chance with probability ~5e-4.
TEST(DigitsStudy, LikelihoodMatchesHutchinsonsEstimator) {
  const DigitsStudyConfig c = tiny_config();
  const DigitsData data = load_study_digits(c);
  const RandomFeatureModelConfig& m = c.model_base;
  const DsmSetup setup = m.dsm_setup();
  const RandomFeatures features = model_random_features(m, 64);
  const Matrix training = data.training(48);
  const GradientFlow flow(gram_matrices(features, *model_training_design(m, training.view(), setup)));
  const Matrix A = flow.weights(1e7);
  Matrix points(8, 64);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 64; ++j) points(i, j) = training(i, j), points(4 + i, j) = data.test(i, j);
  const LikelihoodOptions options = c.likelihood_options();
  const LikelihoodResult exact =
      log_likelihood_random_features(c.schedule(), features, A, setup, points, options);
  HutchinsonOptions hutchinson;
  hutchinson.probes = 16;
  hutchinson.seed = 5;
  const LikelihoodResult estimate = log_likelihood_hutchinson(
      c.schedule(), score_only(random_feature_score(features, A, setup)), points, options, hutchinson);
  ASSERT_TRUE(exact.all_succeeded()) << exact.failure_summary();
  ASSERT_TRUE(estimate.all_succeeded()) << estimate.failure_summary();
  for (std::size_t i = 0; i < points.rows(); ++i) {
    EXPECT_GT(estimate.log_p_se[i], 0.0);
    EXPECT_NEAR(exact.log_p[i], estimate.log_p[i], 4.0 * estimate.log_p_se[i]) << "digit " << i;
  }
}

// The empirical score of 32 training digits memorises: Tweedie-denoised
// reverse-SDE samples land on training digits (nearest / second-nearest
// distance < 1/3). Measured 100%; 95% leaves room for a sample between two
// near-identical digits.
TEST(DigitsStudy, EmpiricalScoreMemorisesTheTrainingDigits) {
  const DigitsStudyConfig c = tiny_config();
  const DigitsData data = load_study_digits(c);
  const Matrix training = data.training(32);
  const ScoreDivergenceField field =
      empirical_score_field(std::make_shared<const EmpiricalScore>(training.view()), c.schedule());
  ReverseSdeOptions options = c.sampler_options();
  SampleResult sampled = sample_reverse_sde(c.schedule(), score_only(field), 64, 64, options);
  tweedie_denoise(c.schedule(), field, c.schedule().t_min, sampled.samples);
  const MemorizationReport report = memorization(nearest_training_points(sampled.samples.view(), training.view()));
  EXPECT_GE(report.memorized_fraction, 0.95);
  EXPECT_LT(report.median_nearest, 0.05);  // on the digit itself, not at noise distance sigma sqrt(d) = 0.36
}

}  // namespace
}  // namespace gengap
