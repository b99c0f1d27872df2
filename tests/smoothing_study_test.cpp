// Study S6 smoothing (generalization/studies/smoothing/smoothing_study.hpp) at a small size:
// s_n memorises, s_delta with delta = h/2 interpolates, the likelihood of s_n
// by the ODE matches the exact log p_{t_min}^n, the numbers do not depend on
// the thread count, and the config is strict and names the key.
#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <string>

#include "gengap/generalization/studies/smoothing/smoothing_study.hpp"
#include "gengap/kernels/error.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

// 5 points spaced h = 1 on [-2, 2], in d = 1 and 3; 300 samples, 40
// held-out points, one smoothing width (h/2) and one small model (m = 64).
SmoothingStudyConfig small_config() {
  SmoothingStudyConfig c;
  c.segment.points = 5;
  c.dims = {1, 3};
  c.sampler.samples = 300;
  c.smoothing.deltas = {0.5};
  c.tau_positions = {1.0};
  c.model_base.model.m = 64;
  c.model_base.train_loss.draws_per_sample = 256;
  c.likelihood.heldout_points = 40;
  c.likelihood.rtol = c.likelihood.atol = 1e-6;
  return c;
}

const SmoothingStudyResult& small_result() {
  static const SmoothingStudyResult result = run_smoothing_study(small_config());
  return result;
}

const SmoothingRow& find_row(std::size_t d, SmoothingScoreKind kind) {
  for (const SmoothingRow& r : small_result().rows) {
    if (r.dim == d && r.kind == kind) return r;
  }
  throw std::runtime_error("no such row");
}

TEST(SmoothingStudy, RowsComeInOrderWithTheirLabels) {
  const auto& rows = small_result().rows;
  ASSERT_EQ(rows.size(), smoothing_study_rows(small_config()));
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0].label(), "d=1 empirical");
  EXPECT_EQ(rows[1].label(), "d=1 smoothed delta=0.5h");
  EXPECT_EQ(rows[2].kind, SmoothingScoreKind::model);
  EXPECT_EQ(rows[3].label(), "d=3 empirical");
  EXPECT_EQ(rows[4].file_stem(), "d3_smoothed_0");
  EXPECT_DOUBLE_EQ(rows[1].delta, 0.5);  // h = 1
  EXPECT_GT(rows[2].tau, 0.0);
  for (const SmoothingRow& r : rows) {
    EXPECT_EQ(r.samples.rows(), 300u);
    EXPECT_EQ(r.samples.cols(), r.dim);
    EXPECT_EQ(r.sampler_failed, 0u) << r.label();
    EXPECT_EQ(r.likelihood_failed, 0u) << r.label();
    EXPECT_EQ(r.row().size(), SmoothingRow::columns().size());
  }
}

TEST(SmoothingStudy, EmpiricalScoreMemorisesAndSmoothingInterpolates) {
  // s_n: every (denoised) sample within a third of the spacing of its point
  // (expect >= 95%; observed 100%), all the mass in the one or two bins
  // beside each point (a bin edge): TV >= 1 - 2/8 = 0.75. s_delta
  // with delta = h/2 flattens log p between points: memorised near the 50% of
  // uniform positions (expect < 75%) and TV near its sampling noise (~0.2 for
  // 32 bins and 300 samples; expect < 0.4).
  for (const std::size_t d : {1u, 3u}) {
    const SmoothingRow& copied = find_row(d, SmoothingScoreKind::empirical);
    const SmoothingRow& spread = find_row(d, SmoothingScoreKind::smoothed);
    EXPECT_GE(copied.memorization.memorized_fraction, 0.95) << d;
    EXPECT_GT(copied.histogram.total_variation_to_uniform, 0.6) << d;
    EXPECT_LT(spread.memorization.memorized_fraction, 0.75) << d;
    EXPECT_LT(spread.histogram.total_variation_to_uniform, 0.4) << d;
    // Both stay on the line: across it the scores are -x_perp / sigma^2,
    // so samples sit ~sigma_{t_min} sqrt(d - 1) = 0.06 off it.
    EXPECT_LT(copied.histogram.mean_distance_off_line, 0.2) << d;
    EXPECT_LT(spread.histogram.mean_distance_off_line, 0.2) << d;
    // Held-out points between the training points are far less likely under
    // s_n than the training points: a large train - held-out gap, which
    // smoothing closes.
    EXPECT_GT(copied.likelihood_gap, 3.0) << d;
    EXPECT_LT(spread.likelihood_gap, 1.0) << d;
  }
}

TEST(SmoothingStudy, EmpiricalLikelihoodByTheOdeMatchesTheExactDensity) {
  // The probability-flow ODE of s_n transports p_T^n to p_{t_min}^n; it starts
  // from pi instead of p_T^n, which at T = 5 (ou) differ by e^-5 in the mean:
  // |log pi - log p_T^n| ~ 1e-4 on the held-out end points. With the ODE at
  // 1e-6 the means agree to 1e-3 (observed ~5e-6).
  for (const std::size_t d : {1u, 3u}) {
    const SmoothingRow& r = find_row(d, SmoothingScoreKind::empirical);
    ASSERT_TRUE(r.likelihood_available);
    EXPECT_NEAR(r.heldout_log_likelihood, r.exact_heldout_log_likelihood, 1e-3) << d;
    EXPECT_GT(r.heldout_log_likelihood_se, 0.0);
  }
  // d = 1: KL(U[-2, 2] || p_theta) = -log 4 - E log p_theta, exactly as defined.
  for (const SmoothingRow& r : small_result().rows) {
    if (r.dim == 1) {
      EXPECT_DOUBLE_EQ(r.kl, -std::log(4.0) - r.heldout_log_likelihood) << r.label();
    } else {
      EXPECT_TRUE(std::isnan(r.kl)) << r.label();
    }
  }
}

TEST(SmoothingStudy, NumbersDoNotDependOnTheThreadCount) {
  SmoothingStudyConfig c = small_config();
  c.dims = {3};
  c.sampler.samples = 120;
  c.likelihood.heldout_points = 10;
  SmoothingStudyResult one;
  tbb::task_arena(1).execute([&] { one = run_smoothing_study(c); });
  const SmoothingStudyResult two = run_smoothing_study(c);
  ASSERT_EQ(one.rows.size(), two.rows.size());
  for (std::size_t i = 0; i < one.rows.size(); ++i) {
    std::vector<double> a = one.rows[i].row(), b = two.rows[i].row();
    a.pop_back(), b.pop_back();  // seconds
    for (std::size_t k = 0; k < a.size(); ++k) {
      if (std::isnan(a[k])) {
        EXPECT_TRUE(std::isnan(b[k]));
      } else {
        EXPECT_EQ(a[k], b[k]) << one.rows[i].label() << " " << SmoothingRow::columns()[k];
      }
    }
    EXPECT_EQ(one.rows[i].samples.flat().size(), two.rows[i].samples.flat().size());
    EXPECT_TRUE(std::equal(one.rows[i].samples.flat().begin(), one.rows[i].samples.flat().end(),
                           two.rows[i].samples.flat().begin()));
  }
}

TEST(SmoothingStudy, StopsBetweenRowsWhenAsked) {
  SmoothingStudyConfig c = small_config();
  c.dims = {1};
  c.likelihood.enabled = false;
  c.sampler.samples = 50;
  std::size_t started = 0;
  SmoothingStudyCallbacks callbacks;
  callbacks.on_row_start = [&](std::size_t, std::size_t total, const std::string&) {
    ++started;
    EXPECT_EQ(total, 3u);
  };
  callbacks.stop_requested = [&] { return started == 2; };
  const SmoothingStudyResult r = run_smoothing_study(c, callbacks);
  EXPECT_EQ(r.rows.size(), 2u);
  EXPECT_FALSE(r.rows.back().likelihood_available);
}

TEST(SmoothingStudy, TrainingSetIsTheEvenlySpacedSegmentAlongTheDiagonal) {
  SmoothingStudyConfig c;
  const Matrix x = segment_training_set(c, 4);
  ASSERT_EQ(x.rows(), 9u);
  EXPECT_DOUBLE_EQ(c.spacing(), 0.5);
  for (std::size_t i = 0; i < 9; ++i) {
    for (std::size_t k = 0; k < 4; ++k) EXPECT_NEAR(x(i, k), (-2.0 + 0.5 * double(i)) / 2.0, 1e-15);
  }
}

TEST(SmoothingStudyConfig, JsonRoundTripsAndIsStrict) {
  const SmoothingStudyConfig defaults;
  EXPECT_NO_THROW(defaults.validate());
  const auto json = to_json(defaults);
  EXPECT_EQ(to_json(smoothing_study_config_from_json(nlohmann::json::parse(json.dump()))).dump(), json.dump());
  EXPECT_EQ(json["train_loss"]["draws_per_sample"], 4096);
  EXPECT_FALSE(json.contains("target"));

  const auto parsed = smoothing_study_config_from_json(nlohmann::json::parse(
      R"({"dims": [2], "model": {"m": 32, "tau_positions": [0.5]}, "schedule": {"kind": "ve"},
          "smoothing": {"kernel": "gaussian", "deltas": [0.25]}, "seed": 7})"));
  EXPECT_EQ(parsed.dims, std::vector<std::size_t>{2});
  EXPECT_EQ(parsed.model_base.model.m, 32u);
  EXPECT_EQ(parsed.tau_positions, std::vector<double>{0.5});
  EXPECT_EQ(parsed.schedule().kind, ScheduleKind::ve);
  EXPECT_EQ(parsed.smoothing.kernel, SmoothingKernel::gaussian);
  EXPECT_EQ(parsed.model_base.seed, 7u);

  const auto error_of = [](const std::string& text) {
    try {
      smoothing_study_config_from_json(nlohmann::json::parse(text)).validate();
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of(R"({"segment": {"length": 2}})").rfind("segment.length: unknown key", 0), 0u);
  EXPECT_EQ(error_of(R"({"target": {"mu": 2}})").rfind("target: unknown key", 0), 0u);
  EXPECT_EQ(error_of(R"({"model": {"m": 0}})").rfind("model.m:", 0), 0u);
  EXPECT_EQ(error_of(R"({"model": {"tau_positions": [0.5, 1.5]}})").rfind("model.tau_positions[1]:", 0), 0u);
  EXPECT_EQ(error_of(R"({"dims": [1, 0]})").rfind("dims[1]:", 0), 0u);
  EXPECT_EQ(error_of(R"({"smoothing": {"deltas": [0.5, -1]}})").rfind("smoothing.deltas[1]:", 0), 0u);
  EXPECT_EQ(error_of(R"({"smoothing": {"kernel": "triangle"}})").rfind("smoothing.kernel:", 0), 0u);
  EXPECT_EQ(error_of(R"({"sampler": {"method": "leapfrog"}})").rfind("sampler.method:", 0), 0u);
  EXPECT_EQ(error_of(R"({"likelihood": {"rtol": 0}})").rfind("likelihood.rtol:", 0), 0u);
  EXPECT_EQ(error_of(R"({"segment": {"points": 1}})").rfind("segment.points:", 0), 0u);
  EXPECT_EQ(error_of(R"({"metrics": {"ratio_threshold": 2}})").rfind("metrics.ratio_threshold:", 0), 0u);
}

}  // namespace
}  // namespace gengap
