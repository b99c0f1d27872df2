// Studies S2-S4 (generalization/studies/sweep/study.hpp) at small sizes: every kind runs
// each setting as S1 with the swept value, its summary rows agree with the
// per-setting results (tau* on the grid, KL non-negative within its error,
// the fixed-tau KL and the threshold crossing at the right rows), the numbers
// are the same bit for bit whether settings run one at a time or several at
// once, the callbacks see every phase and setting, and the flat JSON config is
// strict and names the bad key.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gengap/generalization/studies/sweep/study.hpp"
#include "gengap/generalization/plots/study_plots.hpp"
#include "gengap/kernels/error.hpp"
#include "small_study.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

std::string error_of(StudyKind kind, const nlohmann::json& json) {
  return message_of([&] { study_config_from_json(kind, json).validate(); });
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

TEST(StudyConfig, DefaultsAreStudiesS2ToS4) {
  const StudyConfig modes = default_study_config(StudyKind::modes_shift);
  EXPECT_EQ(modes.sweep.values, (std::vector<double>{1, 2, 3, 4, 5, 6, 8}));
  // S1 with the KL at every 2nd tau (Monte Carlo at every 6th) and no bound terms.
  EarlyStoppingConfig s1;
  s1.kl.tau_stride = 2;
  s1.kl.ode_tau_stride = 6;
  s1.bounds.enabled = false;
  EXPECT_EQ(to_json(modes.base), to_json(s1));
  EXPECT_FALSE(modes.sweep.fixed_tau.has_value());

  const StudyConfig capacity = default_study_config(StudyKind::capacity);
  EXPECT_EQ(capacity.sweep.values, (std::vector<double>{16, 32, 64, 128, 256, 512, 1024, 2048, 4096}));
  EXPECT_EQ(capacity.sweep.kl_threshold, 0.1);
  EXPECT_EQ(capacity.sweep.fixed_tau, 1e5);
  EXPECT_EQ(capacity.sweep.tau_unit, TauUnit::per_feature);
  EXPECT_EQ(capacity.base.n, 1000u);

  const StudyConfig sample = default_study_config(StudyKind::sample_size);
  EXPECT_EQ(sample.sweep.values.front(), 125.0);
  EXPECT_EQ(sample.sweep.values.back(), 64000.0);
  EXPECT_EQ(sample.sweep.values.size(), 10u);
  EXPECT_EQ(sample.base.model.m, 1024u);
  EXPECT_EQ(sample.base.train_loss.draws_per_sample, 64u);
  for (const StudyKind kind : {StudyKind::modes_shift, StudyKind::capacity, StudyKind::sample_size}) {
    EXPECT_NO_THROW(default_study_config(kind).validate()) << to_string(kind);
    EXPECT_EQ(parse_study_kind(to_string(kind)), kind);
  }
  EXPECT_TRUE(starts_with(message_of([] { parse_study_kind("capacitance"); }), "study: unknown study 'capacitance'"));
}

TEST(StudyConfig, FlatJsonRoundTripsWithoutTheSweptKey) {
  StudyConfig c = small_study(StudyKind::capacity, {16, 64, 256});
  c.sweep.kl_threshold = 0.25;
  c.sweep.fixed_tau = 0.1 + 0.2;  // not exactly representable: must still round-trip bit for bit
  c.sweep.tau_unit = TauUnit::absolute;
  c.sweep.max_parallel = 3;
  const nlohmann::ordered_json j = to_json(c);
  EXPECT_EQ(j["n"], 120);                     // S1's keys at the top level
  EXPECT_FALSE(j["model"].contains("m"));     // the swept key lives in sweep.values only
  EXPECT_EQ(j["sweep"]["study"], "capacity");
  StudyConfig back = study_config_from_json(StudyKind::capacity, nlohmann::json::parse(j.dump()));
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.sweep.fixed_tau, c.sweep.fixed_tau);
  EXPECT_EQ(back.base.model.m, 1024u);  // not in the JSON: S1's default, unused (each setting sets its own)
  back.base.model.m = c.base.model.m;
  EXPECT_EQ(to_json(back.base), to_json(c.base));

  // The study's own defaults apply under the user's keys, group by group.
  const StudyConfig sample = study_config_from_json(StudyKind::sample_size, {{"kl", {{"test_points", 50}}}});
  EXPECT_EQ(sample.base.kl.test_points, 50u);
  EXPECT_EQ(sample.base.kl.tau_stride, 2u);  // the study's default, kept
  EXPECT_EQ(sample.base.train_loss.draws_per_sample, 64u);
  EXPECT_FALSE(study_config_from_json(StudyKind::capacity, {{"sweep", {{"fixed_tau", nullptr}}}}).sweep.fixed_tau);
}

TEST(StudyConfig, ErrorsNameTheKey) {
  using nlohmann::json;
  const StudyKind capacity = StudyKind::capacity;
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"bogus", 1}}}}), "sweep.bogus: unknown key"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"modle", {{"m", 1}}}}), "modle: unknown key"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"model", {{"mm", 1}}}}), "model.mm: unknown key"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"values", json::array({16, "x"})}}}}),
                          "sweep.values[1]: expected a number"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"values", "16,32"}}}}), "sweep.values: expected an array"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"values", json::array({16, 32, -4})}}}}),
                          "sweep.values[2]: must be positive"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"values", json::array({16, 24.5})}}}}),
                          "sweep.values[1]: must be a positive integer"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"values", json::array({32, 16})}}}}),
                          "sweep.values[1]: must be greater than sweep.values[0]"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"values", json::array()}}}}), "sweep.values: must hold"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"kl_threshold", 0}}}}), "sweep.kl_threshold: must be positive"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"fixed_tau", -1}}}}), "sweep.fixed_tau: must be positive"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"tau_unit", "epochs"}}}}), "sweep.tau_unit: unknown unit"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"max_parallel", -2}}}}), "sweep.max_parallel: must be a non-negative integer"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", 5}}), "sweep: expected a JSON object"));
  EXPECT_TRUE(starts_with(error_of(capacity, {{"sweep", {{"study", "sample-size"}}}}),
                          "sweep.study: this config is for the sample-size study, not capacity"));
  // The swept key belongs to sweep.values.
  EXPECT_TRUE(starts_with(error_of(capacity, {{"model", {{"m", 64}}}}), "model.m: set by the capacity study's sweep.values"));
  EXPECT_TRUE(starts_with(error_of(StudyKind::sample_size, {{"n", 64}}), "n: set by the sample-size study"));
  EXPECT_TRUE(starts_with(error_of(StudyKind::modes_shift, {{"target", {{"mu", 2}}}}), "target.mu: set by"));
  // S1's keys keep S1's checks.
  EXPECT_TRUE(starts_with(error_of(StudyKind::modes_shift, {{"n", "many"}}), "n: expected a non-negative integer"));
  EXPECT_TRUE(starts_with(error_of(StudyKind::modes_shift, {{"n", 0}}), "n: must be positive"));
  EXPECT_TRUE(starts_with(error_of(StudyKind::modes_shift, {{"tau", {{"points", 1}}}}), "tau.points:"));
}

TEST(StudyConfig, SettingCarriesTheValueAndTheFixedTau) {
  StudyConfig c = small_study(StudyKind::capacity, {16, 64});
  c.base.tau.include = {7.0};
  c.sweep.fixed_tau = 20.0;
  EXPECT_EQ(c.setting(1).model.m, 64u);
  EXPECT_EQ(c.setting(1).tau.include, (std::vector<double>{7.0, 20.0 * 64}));  // per feature: tau = 20 m
  EXPECT_EQ(c.tau_scale(0), 16.0);
  EXPECT_EQ(c.setting_label(1), "model.m=64");
  c.sweep.tau_unit = TauUnit::absolute;
  EXPECT_EQ(c.setting(1).tau.include, (std::vector<double>{7.0, 20.0}));
  c.sweep.fixed_tau = 7.0;  // already included: not twice
  EXPECT_EQ(c.setting(0).tau.include, (std::vector<double>{7.0}));

  StudyConfig modes = small_study(StudyKind::modes_shift, {0.5, 2.5});
  EXPECT_EQ(modes.setting(1).target.mu, 2.5);
  EXPECT_EQ(modes.setting(1).model.m, 48u);
  EXPECT_EQ(modes.tau_scale(1), 48.0);  // per feature: the base's m
  StudyConfig sample = small_study(StudyKind::sample_size, {60, 240});
  EXPECT_EQ(sample.setting(1).n, 240u);
}

TEST(StudyConfig, SampleSizeCanTieTheFeaturesToN) {
  using nlohmann::json;
  StudyConfig c = small_study(StudyKind::sample_size, {60, 241});
  c.sweep.m_per_n = 0.5;
  c.sweep.fixed_tau = 10.0;
  EXPECT_EQ(c.setting(0).model.m, 30u);
  EXPECT_EQ(c.setting(1).model.m, 121u);  // round(120.5) = 121: llround rounds half away from zero
  EXPECT_EQ(c.tau_scale(1), 121.0);       // per feature: the setting's own m
  EXPECT_EQ(c.setting(1).tau.include, (std::vector<double>{10.0 * 121}));
  EXPECT_EQ(features_for(1e-3, 60), 1u);  // never zero features
  c.validate();

  // model.m is not in the JSON form (each setting has its own) and round-trips.
  const nlohmann::ordered_json j = to_json(c);
  EXPECT_FALSE(j["model"].contains("m"));
  EXPECT_EQ(j["sweep"]["m_per_n"], 0.5);
  const StudyConfig back = study_config_from_json(StudyKind::sample_size, json::parse(j.dump()));
  EXPECT_EQ(back.sweep.m_per_n, 0.5);
  EXPECT_EQ(to_json(back), j);
  EXPECT_FALSE(default_study_config(StudyKind::sample_size).sweep.m_per_n.has_value());

  EXPECT_TRUE(starts_with(error_of(StudyKind::sample_size, {{"model", {{"m", 64}}}, {"sweep", {{"m_per_n", 1}}}}),
                          "model.m: set by sweep.m_per_n"));
  const auto invalid = [](StudyKind kind, double m_per_n) {
    StudyConfig bad = default_study_config(kind);
    bad.sweep.m_per_n = m_per_n;
    try {
      bad.validate();
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_TRUE(starts_with(invalid(StudyKind::sample_size, -1.0), "sweep.m_per_n: must be positive"));
  EXPECT_TRUE(starts_with(invalid(StudyKind::sample_size, std::nan("")), "sweep.m_per_n: must be positive"));
  EXPECT_TRUE(starts_with(invalid(StudyKind::capacity, 1.0), "sweep.m_per_n: ties model.m to n: only for the sample-size"));
}

// Checks every setting of a finished study against its own S1 result.
void expect_consistent(const StudyResult& r) {
  const StudyConfig& c = r.config;
  ASSERT_EQ(r.settings.size(), c.settings());
  for (std::size_t k = 0; k < r.settings.size(); ++k) {
    const StudySetting& s = r.settings[k];
    const EarlyStoppingResult& e = s.result;
    SCOPED_TRACE(c.setting_label(k));
    EXPECT_EQ(s.summary.index, k);
    EXPECT_EQ(s.summary.value, c.sweep.values[k]);
    EXPECT_EQ(to_json(e.config), to_json(c.setting(k)));
    ASSERT_TRUE(s.summary.kl_available);
    // tau* is a row of the grid, the minimum over the evaluated taus.
    ASSERT_LT(s.summary.tau_best_index, e.tau.size());
    EXPECT_EQ(s.summary.tau_best, e.tau[s.summary.tau_best_index]);
    EXPECT_GE(s.summary.tau_best, e.tau.front());
    EXPECT_LE(s.summary.tau_best, e.tau.back());
    std::size_t evaluated = 0;
    for (std::size_t i = 0; i < e.kl.size(); ++i) {
      const KlRow& row = e.kl[i];
      if (!row.evaluated) continue;
      ++evaluated;
      if (std::isfinite(row.quad)) {
        EXPECT_GE(row.quad, s.summary.kl_best) << i;
        // KL >= 0: quadrature within its error estimate, Monte Carlo within 2 standard errors.
        EXPECT_GE(row.quad, -row.quad_error) << i;
      }
      if (std::isfinite(row.ode)) { EXPECT_GE(row.ode, -2.0 * row.ode_se) << i; }
    }
    EXPECT_EQ(s.summary.kl_evaluated, evaluated);
    EXPECT_EQ(s.summary.kl_best, e.kl[s.summary.tau_best_index].quad);
    EXPECT_EQ(s.summary.kl_last, e.kl.back().quad);
    EXPECT_GE(s.summary.mass_min, 0.99);  // loose ODE tolerances here: within 1e-2
    EXPECT_LE(s.summary.mass_max, 1.01);
    ASSERT_TRUE(e.best_density.has_value());
    EXPECT_EQ(e.best_density->tau, s.summary.tau_best);
    EXPECT_GT(s.summary.seconds, 0.0);
  }
  // One fit per claim, over every setting where its quantity is positive.
  const std::size_t expected_fits = c.kind == StudyKind::capacity ? 3 : c.kind == StudyKind::sample_size ? 4 : 1;
  ASSERT_EQ(r.summary.fits.size(), expected_fits);
  EXPECT_EQ(r.summary.finished.size(), c.settings());
  const StudyFit& first = r.summary.fits.front();
  ASSERT_TRUE(first.fit.has_value()) << first.skipped;
  EXPECT_EQ(first.fit->points, c.settings());
  for (std::size_t k = 0; k < first.x.size(); ++k) EXPECT_EQ(first.y[k], r.settings[k].summary.kl_best);
}

class StudyRun : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 2);
    StudyConfig capacity = small_study(StudyKind::capacity, {16, 32, 64});
    capacity.sweep.fixed_tau = 300.0;
    capacity_ = new StudyResult(run_study(capacity));
    modes_ = new StudyResult(run_study(small_study(StudyKind::modes_shift, {1, 2, 4})));
    sample_ = new StudyResult(run_study(small_study(StudyKind::sample_size, {60, 120, 240})));
  }
  static void TearDownTestSuite() {
    delete capacity_;
    delete modes_;
    delete sample_;
  }
  static const StudyResult* capacity_;
  static const StudyResult* modes_;
  static const StudyResult* sample_;
};
const StudyResult* StudyRun::capacity_ = nullptr;
const StudyResult* StudyRun::modes_ = nullptr;
const StudyResult* StudyRun::sample_ = nullptr;

TEST_F(StudyRun, CapacityRowsMatchTheirSettings) {
  expect_consistent(*capacity_);
  for (const StudySetting& s : capacity_->settings) {
    const EarlyStoppingResult& e = s.result;
    EXPECT_EQ(e.config.model.m, static_cast<std::size_t>(s.summary.value));
    EXPECT_EQ(s.summary.tau_scale, s.summary.value);
    // The fixed tau (300 per feature) is a row of the grid with its own KL.
    ASSERT_EQ(e.included_indices.size(), 1u);
    const std::size_t row = e.included_indices[0];
    EXPECT_EQ(e.tau[row], 300.0 * s.summary.value);
    EXPECT_EQ(s.summary.fixed_tau, e.tau[row]);
    EXPECT_TRUE(e.kl[row].evaluated);
    EXPECT_EQ(s.summary.kl_fixed_tau, e.kl[row].quad);
    EXPECT_EQ(s.summary.kl_fixed_tau_error, e.kl[row].quad_error);
  }
  EXPECT_EQ(capacity_->summary.fits[0].name, "kl_best_vs_m");
  EXPECT_EQ(capacity_->summary.fits[0].paper_slope, -0.8);
  EXPECT_EQ(capacity_->summary.fits[1].name, "kl_fixed_tau_vs_m");
  EXPECT_TRUE(capacity_->summary.fits[1].fit.has_value());
  EXPECT_EQ(capacity_->summary.fits[2].name, "tau_threshold_vs_m");
}

TEST_F(StudyRun, ModesShiftAndSampleSizeRowsMatchTheirSettings) {
  expect_consistent(*modes_);
  for (const StudySetting& s : modes_->settings) EXPECT_EQ(s.result.config.target.mu, s.summary.value);
  expect_consistent(*sample_);
  for (const StudySetting& s : sample_->settings) {
    EXPECT_EQ(s.result.config.n, static_cast<std::size_t>(s.summary.value));
    EXPECT_EQ(s.result.training_set.rows(), s.result.config.n);
  }
  ASSERT_EQ(sample_->summary.fits.size(), 4u);
  const StudyFit& tau = sample_->summary.fits[1];
  EXPECT_EQ(tau.name, "tau_best_vs_n");
  EXPECT_EQ(tau.paper_slope, 0.4);
  for (std::size_t k = 0; k < tau.y.size(); ++k) {
    const StudySettingSummary& row = sample_->settings[tau.settings[k]].summary;
    EXPECT_EQ(tau.y[k], row.tau_best / row.tau_scale);  // tau*/m
  }
}

// The crossing of a threshold between the largest and smallest KL lies
// between the last evaluated tau above it and the first at or below it.
TEST(DiffusionTimeStudy, DefaultsConfigAndBadGrids) {
  const StudyConfig c = default_study_config(StudyKind::diffusion_time);
  EXPECT_EQ(swept_key(StudyKind::diffusion_time), "schedule.T");
  EXPECT_EQ(parse_study_kind("diffusion-time"), StudyKind::diffusion_time);
  EXPECT_EQ(c.sweep.values.front(), 0.25);
  EXPECT_EQ(c.sweep.values.back(), 10.0);
  EXPECT_TRUE(std::is_sorted(c.sweep.values.begin(), c.sweep.values.end()));
  EXPECT_EQ(c.sweep.bound_R, 5.0);
  EXPECT_EQ(c.sweep.fixed_tau, 1e6);
  EXPECT_EQ(c.setting(3).schedule.T, c.sweep.values[3]);
  c.validate();
  // The config round-trips without schedule.T (the swept key) and with bound_R.
  const nlohmann::ordered_json j = to_json(c);
  EXPECT_FALSE(j["schedule"].contains("T"));
  EXPECT_EQ(to_json(study_config_from_json(StudyKind::diffusion_time, nlohmann::json::parse(j.dump()))), j);
  using nlohmann::json;
  const StudyKind dt = StudyKind::diffusion_time;
  EXPECT_TRUE(starts_with(error_of(dt, {{"schedule", {{"T", 2}}}}), "schedule.T: set by the diffusion-time study"));
  EXPECT_TRUE(starts_with(error_of(dt, {{"sweep", {{"values", json::array()}}}}), "sweep.values: must hold"));
  EXPECT_TRUE(starts_with(error_of(dt, {{"sweep", {{"values", json::array({2, 1})}}}}),
                          "sweep.values[1]: must be greater than sweep.values[0]"));
  // T <= t_min (1e-3): the setting itself is invalid, by name.
  const std::string short_T = error_of(dt, {{"sweep", {{"values", json::array({0.001, 1})}}}});
  EXPECT_TRUE(starts_with(short_T, "sweep.values[0]: setting schedule.T=0.001 is invalid: schedule.T")) << short_T;
  EXPECT_TRUE(starts_with(error_of(dt, {{"sweep", {{"bound_R", -1}}}}), "sweep.bound_R: must be positive"));
  EXPECT_TRUE(starts_with(error_of(dt, {{"sweep", {{"bound_R", nullptr}}}}), "sweep.bound_R: must be set"));
  EXPECT_TRUE(starts_with(error_of(StudyKind::capacity, {{"sweep", {{"bound_R", 5}}}}),
                          "sweep.bound_R: is the diffusion-time bound's sub-Gaussian constant"));
}

TEST(DiffusionTimeStudy, RowsCarryTheBoundOfTheirOwnModel) {
  const tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 2);
  StudyConfig c = small_study(StudyKind::diffusion_time, {0.5, 1.5, 4.0});
  c.base.model.embedding = EmbeddingKind::linear;
  c.sweep.fixed_tau = 1e5;
  const StudyResult r = run_study(c);
  ASSERT_EQ(r.settings.size(), 3u);
  for (const StudySetting& s : r.settings) {
    const EarlyStoppingResult& e = s.result;
    const StudySettingSummary& row = s.summary;
    EXPECT_EQ(e.config.schedule.T, row.value);
    // The fixed-tau bound is the library's, for that setting's own model, data and loss.
    ASSERT_EQ(e.included_weights.size(), 1u);
    DiffusionTimeBoundOptions options;
    options.R = 5.0;
    options.seed = e.config.seed;
    const DiffusionTimeBound direct =
        diffusion_time_bound(e.config.schedule, e.training_set, e.features, e.included_weights[0], e.config.dsm_setup(),
                             e.loss_train[e.included_indices[0]], e.config.target_distribution(), options);
    EXPECT_EQ(row.bound_fixed, direct.bound);
    EXPECT_EQ(row.information, direct.information);
    EXPECT_EQ(row.prior_kl, direct.prior_kl);
    EXPECT_TRUE(std::isfinite(row.bound_best));
    EXPECT_EQ(row.train_loss_best, e.loss_train[e.summary.kl_best_index]);
  }
  // The prior term falls with T; the minimisers point at settings.
  EXPECT_GT(r.settings[0].summary.prior_kl, r.settings[2].summary.prior_kl);
  ASSERT_EQ(r.summary.minimizers.size(), 4u);
  for (const StudyMinimizer& m : r.summary.minimizers) {
    ASSERT_TRUE(m.minimum.has_value()) << m.name << ": " << m.skipped;
    EXPECT_LT(m.setting, 3u);
  }
  EXPECT_TRUE(r.summary.argmin_agrees_fixed.has_value());
  EXPECT_TRUE(r.summary.fits.empty());  // no rates: minimisers instead
  EXPECT_EQ(study_bound_figure(c, r.settings).panels.size(), 2u);
  EXPECT_TRUE(study_bound_figure(small_study(StudyKind::capacity, {16}), r.settings).panels.empty());
}

TEST_F(StudyRun, ThresholdCrossingBracketsTheFirstRowBelow) {
  const StudySetting& s = capacity_->settings.back();
  const EarlyStoppingResult& e = s.result;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < e.kl.size(); ++i)
    if (e.kl[i].evaluated) rows.push_back(i);
  const double threshold = 0.5 * (e.kl[rows.front()].quad + s.summary.kl_best);
  StudyConfig c = capacity_->config;
  c.sweep.kl_threshold = threshold;
  const StudySettingSummary summary = summarize_setting(c, s.summary.index, e);
  std::size_t below = rows.size();
  for (std::size_t j = 0; j < rows.size() && below == rows.size(); ++j)
    if (e.kl[rows[j]].quad <= threshold) below = j;
  ASSERT_GT(below, 0u);
  ASSERT_LT(below, rows.size());
  EXPECT_GT(summary.tau_threshold, e.tau[rows[below - 1]]);
  EXPECT_LE(summary.tau_threshold, e.tau[rows[below]]);
  c.sweep.kl_threshold = 0.5 * s.summary.kl_best;  // never reached
  EXPECT_TRUE(std::isnan(summarize_setting(c, s.summary.index, e).tau_threshold));
}

TEST_F(StudyRun, FiguresHaveOnePanelOrSeriesPerSetting) {
  const std::vector<StudySetting>& settings = capacity_->settings;
  const Figure kl = study_kl_figure(capacity_->config, settings);
  ASSERT_EQ(kl.panels.size(), 1u);
  EXPECT_EQ(kl.panels[0].series.size(), settings.size());
  EXPECT_EQ(kl.panels[0].series[0].label, "model.m=16");
  EXPECT_NO_THROW(kl.validate());
  const Figure densities = study_density_figure(capacity_->config, settings);
  EXPECT_EQ(densities.panels.size(), settings.size());
  EXPECT_NO_THROW(densities.validate());
  const Figure fits = study_fits_figure(capacity_->config, capacity_->summary);
  EXPECT_GE(fits.panels.size(), 2u);  // min KL and KL(fixed tau); the threshold only where reached
  EXPECT_NO_THROW(fits.validate());
  // Measured points, the fit, the paper's slope.
  EXPECT_EQ(fits.panels[0].series.size(), 3u);
}

TEST(Study, SerialAndParallelSettingsGiveTheSameBits) {
  StudyConfig c = small_study(StudyKind::modes_shift, {1.5, 3});
  c.base.tau.points = 15;
  c.base.kl.test_points = 100;
  c.sweep.max_parallel = 1;
  StudyResult serial;
  {
    const tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    serial = run_study(c);
  }
  c.sweep.max_parallel = 0;
  StudyResult parallel;
  {
    const tbb::global_control two(tbb::global_control::max_allowed_parallelism, 2);
    parallel = run_study(c);
  }
  ASSERT_EQ(serial.settings.size(), parallel.settings.size());
  for (std::size_t k = 0; k < serial.settings.size(); ++k) {
    const EarlyStoppingResult& a = serial.settings[k].result;
    const EarlyStoppingResult& b = parallel.settings[k].result;
    ASSERT_EQ(a.tau.size(), b.tau.size());
    for (std::size_t i = 0; i < a.tau.size(); ++i) {
      EXPECT_TRUE(same(a.tau[i], b.tau[i]) && same(a.loss_pop[i], b.loss_pop[i]) &&
                  same(a.loss_train[i], b.loss_train[i]))
          << k << " " << i;
      EXPECT_TRUE(same(a.kl[i].quad, b.kl[i].quad) && same(a.kl[i].ode, b.kl[i].ode) &&
                  same(a.kl[i].ode_se, b.kl[i].ode_se) && same(a.kl[i].mass, b.kl[i].mass))
          << k << " " << i;
    }
    const std::vector<double> x = serial.settings[k].summary.row(), y = parallel.settings[k].summary.row();
    for (std::size_t j = 0; j < x.size(); ++j) {
      if (StudySettingSummary::columns()[j] == "seconds") continue;
      EXPECT_TRUE(same(x[j], y[j])) << StudySettingSummary::columns()[j];
    }
  }
}

TEST(Study, CallbacksSeeEveryPhaseAndSettingOneAtATime) {
  StudyConfig c = small_study(StudyKind::sample_size, {40, 80, 160});
  c.base.tau.points = 10;
  c.base.kl.test_points = 0;  // quadrature only: fast
  CallbackRecorder recorder;
  const tbb::global_control two(tbb::global_control::max_allowed_parallelism, 2);
  run_study(c, recorder.callbacks());
  recorder.expect_every_setting_and_phase(c);
}

TEST(Study, StopRequestKeepsTheFinishedSettings) {
  StudyConfig c = small_study(StudyKind::capacity, {8, 16, 32, 64});
  c.base.tau.points = 10;
  c.base.kl.test_points = 0;
  c.sweep.max_parallel = 1;  // one at a time, in index order
  std::atomic<std::size_t> done{0};
  StudyCallbacks callbacks;
  callbacks.on_setting = [&](const StudySetting&) { ++done; };
  callbacks.stop_requested = [&] { return done.load() >= 2; };
  const StudyResult r = run_study(c, callbacks);
  ASSERT_EQ(r.settings.size(), 2u);
  EXPECT_EQ(r.settings[0].summary.index, 0u);
  EXPECT_EQ(r.settings[1].summary.index, 1u);
  EXPECT_EQ(r.summary.finished, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(r.summary.settings_total, 4u);
  EXPECT_FALSE(r.summary.fits[0].fit.has_value());  // 2 points: no fit, and it says why
  EXPECT_NE(r.summary.fits[0].skipped.find("2 of 2 finished settings; a fit needs 3"), std::string::npos)
      << r.summary.fits[0].skipped;
}

// The fits take the right column against the swept value: exact power laws
// come back with their slopes (the fit itself is rate_fit.hpp's, tested there).
TEST(Study, FitsRecoverKnownRatesFromSyntheticRows) {
  StudyConfig c = default_study_config(StudyKind::sample_size);
  std::vector<StudySettingSummary> rows;
  for (std::size_t k = 0; k < c.settings(); ++k) {
    StudySettingSummary s;
    s.index = k;
    s.value = c.sweep.values[k];
    s.tau_scale = 1024.0;
    s.kl_available = true;
    s.kl_best = 3.0 * std::pow(s.value, -0.4);
    s.tau_best = 1024.0 * 50.0 * std::pow(s.value, 0.4);
    s.kl_first_minimum = 5.0 * std::pow(s.value, -0.3);
    s.tau_first_minimum = 1024.0 * 7.0 * std::pow(s.value, 0.2);
    rows.push_back(s);
  }
  std::reverse(rows.begin(), rows.end());  // any order
  const StudySummary summary = summarize_study(c, rows);
  ASSERT_EQ(summary.fits.size(), 4u);
  for (const StudyFit& f : summary.fits) ASSERT_TRUE(f.fit.has_value()) << f.name << ": " << f.skipped;
  // Exact power laws: the OLS fit is exact up to rounding in the logs.
  EXPECT_NEAR(summary.fits[0].fit->slope, -0.4, 1e-12);
  EXPECT_NEAR(summary.fits[0].fit->log_prefactor, std::log(3.0), 1e-10);
  EXPECT_NEAR(summary.fits[1].fit->slope, 0.4, 1e-12);
  EXPECT_NEAR(summary.fits[1].fit->log_prefactor, std::log(50.0), 1e-10);  // tau*/m
  EXPECT_EQ(summary.fits[2].name, "kl_first_minimum_vs_n");
  EXPECT_NEAR(summary.fits[2].fit->slope, -0.3, 1e-12);
  EXPECT_EQ(summary.fits[3].name, "tau_first_minimum_vs_n");
  EXPECT_NEAR(summary.fits[3].fit->slope, 0.2, 1e-12);
  EXPECT_NEAR(summary.fits[3].fit->log_prefactor, std::log(7.0), 1e-10);
  EXPECT_EQ(summary.fits[0].settings.front(), 0u);  // sorted by setting

  // Capacity: the threshold fit uses only the settings that reached it.
  StudyConfig capacity = default_study_config(StudyKind::capacity);
  std::vector<StudySettingSummary> crows;
  for (std::size_t k = 0; k < 5; ++k) {
    StudySettingSummary s;
    s.index = k;
    s.value = capacity.sweep.values[k];
    s.tau_scale = s.value;
    s.kl_best = std::pow(s.value, -0.8);
    s.kl_fixed_tau = 2.0 * std::pow(s.value, -0.5);
    s.tau_threshold = k < 2 ? StudySettingSummary::nan : s.value * 100.0 * std::pow(s.value, -1.0);
    crows.push_back(s);
  }
  const StudySummary cs = summarize_study(capacity, crows);
  ASSERT_EQ(cs.fits.size(), 3u);
  EXPECT_NEAR(cs.fits[0].fit->slope, -0.8, 1e-12);
  EXPECT_NEAR(cs.fits[1].fit->slope, -0.5, 1e-12);
  ASSERT_TRUE(cs.fits[2].fit.has_value()) << cs.fits[2].skipped;
  EXPECT_EQ(cs.fits[2].settings, (std::vector<std::size_t>{2, 3, 4}));
  EXPECT_NEAR(cs.fits[2].fit->slope, -1.0, 1e-12);
}

}  // namespace
}  // namespace gengap
