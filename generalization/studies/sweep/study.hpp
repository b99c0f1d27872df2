#pragma once
// Studies S2 modes-shift, S3 capacity and S4 sample-size (docs/studies.md): study
// S1 (early_stopping.hpp, run_early_stopping) once per value of one swept
// parameter, with a summary row per setting and log-log rate fits
// (rate_fit.hpp) across the settings.
//
//   study         swept key   default values                 paper
//   modes-shift   target.mu   1, 2, 3, 4, 5, 6, 8            min KL grows with the modes distance 2 mu
//   capacity      model.m     16, 32, ..., 4096              KL falls with m, rate m^{-4/5} (Theorem 1)
//   sample-size   n           125, 250, ..., 64000           KL ~ n^{-2/5} at tau* ~ n^{2/5} (Theorem 1)
//   diffusion-time schedule.T 0.25, 0.4, ..., 10 (log-spaced) seed 000: an interior optimum T, chosen by
//                                                            a bound from the training data alone
//
// Diffusion-time (S5) has no rate fit: each row also carries the bound's
// terms (diffusion_time_bound.hpp) for its model at the fixed tau (default
// 1e6 per feature) and at tau*, and the summary the argmin over T of the
// bound and of the measured KL (grid_minimum), and whether they agree.
//
// Fits (y ~ C x^slope, OLS on ln y vs ln x with a 95% Student-t interval):
//   modes-shift   min_tau KL vs mu
//   capacity      min_tau KL vs m, KL(fixed tau) vs m, time to KL <= kl_threshold vs m (finite ones)
//   sample-size   min_tau KL vs n, tau* vs n, and the same at the first local
//                 minimum of KL along tau (where early stopping stops; the
//                 global minimum may lie at the end of the grid)
// "KL" is the estimate that decides tau* in S1 (quadrature in d = 1, else the
// likelihood ODE's Monte Carlo KL).
//
// Training time across features. In gengap's normalisation (docs/math.md §5, §6:
// s = A phi / m) the flow's fastest rate is kappa_max = lambda_max(G_n) / m^2,
// and lambda_max grows like m (measured ~0.1 m), so the same tau is ~m times
// less training for m features: the paper's normalisation (docs/math.md §10,
// s = A_p phi / sqrt m) is tau_paper = tau / m, in which the KL curves of all m
// overlay (measured with the default relu + linear features: KL ~ 3 at
// tau/m = 10, ~1 on a plateau up to tau/m ~ 1e3, then falling to its minimum
// at tau/m ~ 1e5-1e7 for m = 16..16384). sweep.tau_unit = per_feature (the default) states every
// "tau" of the sweep group and of the tau fits in tau / m; absolute in tau.
// curves.csv and the per-setting results always hold gengap's tau.
//
// Defaults (docs/studies.md's values; the rest as S1) and their cost on 2 cores.
// An S1 setting at its defaults takes ~35 s, two thirds of it the KL; the KL
// per setting grows ~(256 + m) (the cost of one ODE evaluation), the Gram
// matrices ~n K m^2, the eigendecomposition ~m^3 (at m = 16384: 24 min, 19 min
// and 4 min for G_n, dsyevd and the population G; 53 min for the setting).
//   modes-shift  kl.tau_stride = 2, kl.ode_tau_stride = 6: the KL at ~34 taus
//                by quadrature and ~16 by the ODE instead of 60 and ~23 (the
//                quadrature's window and nodes grow with mu);
//                bounds.enabled = false (not reported by the study).
//   capacity     the same KL strides (m = 4096 alone costs ~16x S1's Gram
//                matrices and ~6x its KL); bounds.enabled = false (at m = 4096
//                they cost a second training Gram matrix and the J_SM design's,
//                ~20% of the setting). fixed_tau = 1e5 per feature: inside
//                every setting's grid, where the KL curves of different m
//                differ most (measured: 0.44 at m = 16, 0.043 at m = 4096;
//                at tau/m = 500, on the plateau, all are ~1).
//   sample-size  model.m = 1024 (S1's; "m large": m ~ n is out of reach for
//                n = 64000), train_loss.draws_per_sample = 64 (n = 64000 with
//                K = 256 is 16M design rows, ~4x the Gram time of all other
//                settings together), kl.tau_stride = 2, kl.ode_tau_stride = 6,
//                kl.test_points = 1000 (tau* is decided by the quadrature KL),
//                bounds.enabled = false (as capacity).
// Measured times are in the README's study section.
//
// Parallel settings. run_study runs up to sweep.max_parallel settings at once
// (tbb::parallel_pipeline tokens; 0: one per thread), each
// run_early_stopping parallel inside, OpenBLAS single-threaded throughout.
// Settings are independent computations and run_early_stopping's numbers do
// not depend on the thread count, so every number equals a serial run's, bit
// for bit. With more than one setting in flight the costliest start first
// (longest-processing-time order: the cheap ones fill the cores at the end).
// Past one machine, distributed_study.hpp spreads the settings over MPI
// ranks with the same numbers.
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/diffusion_time_bound.hpp"
#include "gengap/generalization/studies/s1/early_stopping.hpp"
#include "gengap/generalization/rate_fit.hpp"

namespace gengap {

enum class StudyKind { modes_shift, capacity, sample_size, diffusion_time };

// "modes-shift" | "capacity" | "sample-size"
std::string_view to_string(StudyKind kind);
// Throws InvalidArgument("study", "unknown study 'x' (expected modes-shift, capacity, sample-size or smoothing; smoothing is run by smoothing_study.hpp)").
StudyKind parse_study_kind(std::string_view name);
// The EarlyStoppingConfig key each study sweeps: "target.mu" | "model.m" | "n".
std::string_view swept_key(StudyKind kind);
// "S2" | "S3" | "S4"
std::string_view study_label(StudyKind kind);

enum class TauUnit { per_feature, absolute };
std::string_view to_string(TauUnit unit);  // "per_feature" | "absolute"

struct StudySweep {
  std::vector<double> values;  // the swept key's values: ascending, distinct; integers for model.m and n
  // Capacity: the "time to generalise" is the first tau with KL <= kl_threshold
  // (the paper's criterion KL <= 0.1, docs/math.md §10).
  double kl_threshold = 0.1;
  // KL at this training time too (added to each setting's tau.include; in
  // tau_unit); empty: none. Capacity's default 1e5.
  std::optional<double> fixed_tau;
  TauUnit tau_unit = TauUnit::per_feature;
  // Settings computed at once; 0: as many as there are threads (the task
  // arena's, within any tbb::global_control limit).
  // Does not change any number.
  std::size_t max_parallel = 0;
  // Sample-size only: each setting's model.m = features_for(m_per_n, n), the
  // regime m ~ n of Theorem 1 (model.m is then not set); empty: model.m fixed.
  std::optional<double> m_per_n;
  // Diffusion-time only (default 5, the authors' value for 2-D toy data): the
  // sub-Gaussian constant R of its bound (diffusion_time_bound.hpp).
  std::optional<double> bound_R;
};

// max(1, round(m_per_n * n)): the features of a sample-size setting with m tied to n.
std::size_t features_for(double m_per_n, std::size_t n);

// A study's parameters: the S1 config every setting starts from (`base`,
// with the study's defaults) and the sweep. JSON form (to_json /
// study_config_from_json) FLAT: S1's keys at the top level exactly as
// early_stopping_config_from_json reads them (without the swept key), plus
//   "sweep": {"study": "capacity", "values": [...], "kl_threshold": 0.1,
//             "fixed_tau": 1e5 | null, "tau_unit": "per_feature", "max_parallel": 0,
//             "m_per_n": null | c (sample-size: model.m = round(c n) per setting)}
struct StudyConfig {
  StudyKind kind = StudyKind::modes_shift;
  EarlyStoppingConfig base;
  StudySweep sweep;

  std::size_t settings() const { return sweep.values.size(); }
  // base with the swept key set to values[k] and, when fixed_tau is set, the
  // fixed tau (in gengap's units) appended to tau.include unless present.
  EarlyStoppingConfig setting(std::size_t k) const;
  // Divisor that turns gengap's tau into the sweep's unit for setting k:
  // model.m of that setting (per_feature) or 1 (absolute).
  double tau_scale(std::size_t k) const;
  // "model.m=256" (shortest round-trip form of the value).
  std::string setting_label(std::size_t k) const;
  // Throws InvalidArgument naming the dotted key: "sweep.values[2]: must be a
  // positive integer, got 2.5", then base.validate() and every setting's.
  void validate() const;
};

// The study's defaults (see the top of this file).
StudyConfig default_study_config(StudyKind kind);
// The flat JSON form above (every key).
nlohmann::ordered_json to_json(const StudyConfig& config);
// Starts from default_study_config(kind) and applies the keys present.
// Strict: unknown key, wrong type or bad name -> InvalidArgument naming the
// dotted key; the swept key itself -> "model.m: set by the capacity study's
// sweep.values"; sweep.study naming another study -> "sweep.study: ...".
// Does not call validate().
StudyConfig study_config_from_json(StudyKind kind, const nlohmann::json& json);

// One finished setting in numbers (NaN where not available). "KL" is
// summary.kl_source's estimate; taus are gengap's (divide by tau_scale for
// the sweep's unit).
struct StudySettingSummary {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  std::size_t index = 0;  // k: position in sweep.values
  double value = nan;     // sweep.values[k]
  double tau_scale = 1.0;
  bool kl_available = false;
  double kl_best = nan;   // min over the evaluated taus
  double kl_best_error = nan;
  double tau_best = nan;  // tau*
  std::size_t tau_best_index = 0;
  bool interior_minimum = false;
  double tau_first_minimum = nan;
  double kl_first_minimum = nan;
  double kl_last = nan;
  double fixed_tau = nan;  // gengap's tau of sweep.fixed_tau
  double kl_fixed_tau = nan;
  double kl_fixed_tau_error = nan;
  // First crossing of kl_threshold along tau: between the last evaluated tau
  // above it and the first at or below it, ln tau interpolated linearly in KL;
  // the first evaluated tau when that one is already below (an upper bound);
  // NaN when the KL never gets there.
  double tau_threshold = nan;
  double gap_best = nan;    // L(tau*) - L_n(tau*)
  double ode_evaluations_min = nan, ode_evaluations_max = nan;    // mean per test point, over the taus
  double quad_evaluations_min = nan, quad_evaluations_max = nan;  // mean per grid node, over the taus
  double mass_min = nan, mass_max = nan;  // int p_theta dx on the quadrature grids
  std::size_t kl_evaluated = 0;
  std::size_t kl_flagged = 0;  // rows with any kl_flags bit
  unsigned flags = 0;          // OR of the rows' kl_flags
  std::size_t ode_failed = 0;  // failed ODE test points over all taus
  double seconds = nan;        // run_early_stopping's wall time
  // Diffusion-time only (diffusion_time_bound.hpp), NaN otherwise: the terms
  // that depend on T and the training set alone, then the model's terms and
  // the bound for the model at the fixed tau and at tau*.
  double prior_kl = nan, prior_kl_error = nan, prior_kl_data = nan, information = nan, encoder_kl = nan,
         encoder_term = nan, diffusion_integral = nan;
  double score_norm_fixed = nan, generator_term_fixed = nan, train_loss_fixed = nan, bound_fixed = nan;
  double score_norm_best = nan, generator_term_best = nan, train_loss_best = nan, bound_best = nan;
  double bound_se_fixed = nan, bound_se_best = nan;  // L_T's Monte Carlo error carried into the bound

  // The numeric columns of settings.csv / summary.npy, in order, and the row's values.
  static const std::vector<std::string>& columns();
  std::vector<double> row() const;
  nlohmann::ordered_json to_json() const;
};

StudySettingSummary summarize_setting(const StudyConfig& config, std::size_t k, const EarlyStoppingResult& result);

// One log-log rate fit across the finished settings.
struct StudyFit {
  std::string name;         // "kl_best_vs_m"
  std::string description;  // "min_tau KL vs model.m"
  std::string x_label, y_label;
  std::optional<double> paper_slope;  // the paper's rate, when it states one
  std::string paper_claim;            // "-0.8 (Theorem 1: m^{-4/5})" or the qualitative claim
  std::vector<double> x, y;           // points used (finite, > 0), in setting order
  std::vector<std::size_t> settings;  // their setting indices
  std::optional<PowerLawFit> fit;     // empty when skipped
  std::string skipped;                // why there is no fit
  nlohmann::ordered_json to_json() const;
};

// Where a quantity is smallest over the swept values (diffusion-time: the
// bound's and the measured KL's minimisers in T), grid_minimum's refinement.
struct StudyMinimizer {
  std::string name;         // "bound_fixed"
  std::string description;  // "the bound (model at the fixed tau)"
  std::optional<GridMinimum> minimum;  // empty when skipped
  std::size_t setting = 0;             // the setting at minimum->index
  std::string skipped;
  nlohmann::ordered_json to_json() const;
};

struct StudySummary {
  std::size_t settings_total = 0;
  std::vector<std::size_t> finished;  // indices of the settings summarised, ascending
  std::vector<StudyFit> fits;
  std::vector<StudyMinimizer> minimizers;  // diffusion-time only
  // Diffusion-time: whether the bound's grid argmin is the measured KL's (at
  // the fixed tau; at tau*); empty when either is missing.
  std::optional<bool> argmin_agrees_fixed, argmin_agrees_best;
  nlohmann::ordered_json to_json() const;
};

// The study's fits over `rows` (any subset of the settings, any order).
StudySummary summarize_study(const StudyConfig& config, std::span<const StudySettingSummary> rows);

struct StudySetting {
  StudySettingSummary summary;
  EarlyStoppingResult result;
  // Distributed runs (distributed_study.hpp): the rank that computed it and
  // that process's environment_record() (host, threads, OpenBLAS core);
  // rank 0 and an empty record in a one-process run.
  int rank = 0;
  nlohmann::ordered_json environment;
  std::size_t message_bytes = 0;  // size of the message that brought it to rank 0 (0: computed there)
};

struct StudyResult {
  StudyConfig config;
  std::vector<StudySetting> settings;  // the finished ones, by index (all, unless stopped)
  StudySummary summary;
  double seconds = 0.0;  // wall time of run_study
};

struct StudyCallbacks {
  // As setting k enters a phase of run_early_stopping (early_stopping.hpp's
  // names). Called concurrently for different settings: must be thread-safe.
  std::function<void(std::size_t setting, std::string_view phase)> on_phase;
  // Fraction of setting k's current phase done (run_early_stopping's
  // on_progress): from any thread, concurrently even for one setting.
  std::function<void(std::size_t setting, double fraction)> on_phase_progress;
  // Once per finished setting, one call at a time, in finishing order.
  std::function<void(const StudySetting& finished)> on_setting;
  // Polled before each setting starts: true stops starting new settings
  // (those in flight finish; run_study returns what finished).
  std::function<bool()> stop_requested;
};

// Validates, then runs every setting (see the top of this file).
StudyResult run_study(const StudyConfig& config, const StudyCallbacks& callbacks = {});

// The StudyResult of the settings that finished (finished[k] for setting k,
// empty where it did not): settings in index order and their summary; the
// caller sets seconds.
StudyResult collect_study_result(const StudyConfig& config, std::vector<std::optional<StudySetting>> finished);

// A rough cost model of run_early_stopping's phases for progress and
// scheduling, in estimated core-seconds (calibrated on the S1 defaults; only
// ratios matter): {phase name, cost} in the order the phases run, the names
// of early_stopping.hpp (early_stopping_phase_count of them).
std::vector<std::pair<std::string, double>> estimated_phase_costs(const EarlyStoppingConfig& config);

}  // namespace gengap
