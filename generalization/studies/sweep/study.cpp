// run_study: the settings of a study in parallel, their summary rows and the
// rate fits across them (see study.hpp).
#include "gengap/generalization/studies/sweep/study.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

std::string fmt_number(double x) { return fmt::format("{}", x); }

// NaN is not JSON: missing numbers are null.
using detail::number_or_null;

// The estimate that decides tau* in S1 (EarlyStoppingSummary::kl_source).
struct KlEstimate {
  bool quadrature = true;
  double value(const KlRow& row) const { return quadrature ? row.quad : row.ode; }
  double error(const KlRow& row) const { return quadrature ? row.quad_error : row.ode_se; }
};

struct Range {
  double lo = nan, hi = nan;
  void add(double x) {
    if (!std::isfinite(x)) return;
    lo = std::isfinite(lo) ? std::min(lo, x) : x;
    hi = std::isfinite(hi) ? std::max(hi, x) : x;
  }
};

// First crossing of `threshold` along the evaluated rows (study.hpp).
double threshold_crossing(const EarlyStoppingResult& r, const KlEstimate& estimate, double threshold) {
  std::size_t previous = r.kl.size();
  for (std::size_t i = 0; i < r.kl.size(); ++i) {
    if (!r.kl[i].evaluated || !std::isfinite(estimate.value(r.kl[i]))) continue;
    const double kl = estimate.value(r.kl[i]);
    if (kl <= threshold) {
      if (previous == r.kl.size()) return r.tau[i];
      const double before = estimate.value(r.kl[previous]);
      const double t = (before - threshold) / (before - kl);  // in (0, 1]: before > threshold >= kl
      return std::exp(std::log(r.tau[previous]) + t * (std::log(r.tau[i]) - std::log(r.tau[previous])));
    }
    previous = i;
  }
  return nan;
}

// The diffusion-time bound of setting s's model at the fixed tau and at tau*
// (their weights are in the result; the fixed tau is tau.include's).
void add_diffusion_time_bound(const StudyConfig& config, const EarlyStoppingResult& r, StudySettingSummary& s) {
  const EarlyStoppingConfig& c = r.config;
  DiffusionTimeBoundOptions options;
  options.R = config.sweep.bound_R.value_or(options.R);
  options.seed = c.seed;
  const DsmSetup setup = c.dsm_setup();
  const std::optional<GaussianMixture> target = c.target_distribution();
  // The T-only terms (I_T: n^2 x nodes evaluations, the prior KL's quadrature) once for both models.
  const DiffusionTimeBound data = diffusion_time_data_terms(c.schedule, r.training_set, target, options);
  const auto bound_at = [&](const Matrix& A, std::size_t row) {
    return diffusion_time_bound(data, c.schedule, r.training_set, r.features, A, setup, r.loss_train.at(row), options);
  };
  const DiffusionTimeBound best = bound_at(r.kl_best_weights, s.tau_best_index);
  s.prior_kl = best.prior_kl, s.prior_kl_error = best.prior_kl_error, s.prior_kl_data = best.prior_kl_data;
  s.information = best.information, s.encoder_kl = best.encoder_kl, s.encoder_term = best.encoder_term;
  s.diffusion_integral = best.diffusion_integral;
  s.score_norm_best = best.score_norm, s.generator_term_best = best.generator_term;
  s.train_loss_best = best.train_loss, s.bound_best = best.bound, s.bound_se_best = best.bound_se;
  const auto at = std::find(c.tau.include.begin(), c.tau.include.end(), s.fixed_tau);
  if (!config.sweep.fixed_tau || at == c.tau.include.end()) return;
  const std::size_t k = static_cast<std::size_t>(at - c.tau.include.begin());
  if (k >= r.included_weights.size()) return;
  const DiffusionTimeBound fixed = bound_at(r.included_weights[k], r.included_indices.at(k));
  s.score_norm_fixed = fixed.score_norm, s.generator_term_fixed = fixed.generator_term;
  s.train_loss_fixed = fixed.train_loss, s.bound_fixed = fixed.bound, s.bound_se_fixed = fixed.bound_se;
}

}  // namespace

const std::vector<std::string>& StudySettingSummary::columns() {
  static const std::vector<std::string> names = {
      "index",          "value",          "tau_scale",         "kl_best",           "kl_best_error",
      "tau_best",       "tau_best_index", "interior_minimum",  "tau_first_minimum", "kl_first_minimum",
      "kl_last",        "fixed_tau",      "kl_fixed_tau",      "kl_fixed_tau_error", "tau_threshold",
      "gap_best",       "ode_evaluations_min", "ode_evaluations_max", "quad_evaluations_min",
      "quad_evaluations_max", "mass_min", "mass_max",          "kl_evaluated",      "kl_flagged",
      "flags",          "ode_failed",     "seconds",
      "prior_kl",       "prior_kl_error", "prior_kl_data",     "information",       "encoder_kl",
      "encoder_term",   "diffusion_integral", "score_norm_fixed", "generator_term_fixed", "train_loss_fixed",
      "bound_fixed",    "score_norm_best", "generator_term_best", "train_loss_best", "bound_best",
      "bound_se_fixed", "bound_se_best"};
  return names;
}

std::vector<double> StudySettingSummary::row() const {
  const auto count = [](std::size_t c) { return static_cast<double>(c); };
  // An index or a yes/no about a minimum that does not exist is NaN, not 0.
  const double best_index = kl_available ? count(tau_best_index) : nan;
  const double interior = kl_available ? (interior_minimum ? 1.0 : 0.0) : nan;
  return {count(index),         value,                tau_scale,          kl_best,        kl_best_error,
          tau_best,             best_index,           interior,           tau_first_minimum, kl_first_minimum,
          kl_last,              fixed_tau,            kl_fixed_tau,       kl_fixed_tau_error, tau_threshold,
          gap_best,             ode_evaluations_min,  ode_evaluations_max, quad_evaluations_min,
          quad_evaluations_max, mass_min,             mass_max,           count(kl_evaluated), count(kl_flagged),
          count(flags),         count(ode_failed),    seconds,
          prior_kl,             prior_kl_error,       prior_kl_data,      information,    encoder_kl,
          encoder_term,         diffusion_integral,   score_norm_fixed,   generator_term_fixed, train_loss_fixed,
          bound_fixed,          score_norm_best,      generator_term_best, train_loss_best, bound_best,
          bound_se_fixed,       bound_se_best};
}

nlohmann::ordered_json StudySettingSummary::to_json() const {
  nlohmann::ordered_json j;
  const std::vector<double> values = row();
  const std::vector<std::string>& names = columns();
  for (std::size_t c = 0; c < names.size(); ++c) j[names[c]] = number_or_null(values[c]);
  // Counts and flags as integers, yes/no as booleans.
  j["index"] = index;
  j["kl_available"] = kl_available;
  if (kl_available) {
    j["tau_best_index"] = tau_best_index;
    j["interior_minimum"] = interior_minimum;
  }
  j["kl_evaluated"] = kl_evaluated;
  j["kl_flagged"] = kl_flagged;
  j["flags"] = flags;
  j["ode_failed"] = ode_failed;
  return j;
}

StudySettingSummary summarize_setting(const StudyConfig& config, std::size_t k, const EarlyStoppingResult& r) {
  StudySettingSummary s;
  s.index = k;
  s.value = config.sweep.values.at(k);
  s.tau_scale = config.tau_scale(k);
  s.seconds = r.timings.total();
  const EarlyStoppingSummary& e = r.summary;
  const KlEstimate estimate{e.kl_available ? e.kl_source == "quadrature" : r.config.kl.quadrature};

  Range ode, quad, mass;
  for (const KlRow& row : r.kl) {
    if (!row.evaluated) continue;
    ++s.kl_evaluated;
    s.kl_flagged += row.flags != 0 ? 1 : 0;
    s.flags |= row.flags;
    s.ode_failed += row.ode_failed;
    ode.add(row.ode_evaluations);
    quad.add(row.quad_evaluations);
    mass.add(row.mass);
  }
  s.ode_evaluations_min = ode.lo, s.ode_evaluations_max = ode.hi;
  s.quad_evaluations_min = quad.lo, s.quad_evaluations_max = quad.hi;
  s.mass_min = mass.lo, s.mass_max = mass.hi;

  if (config.sweep.fixed_tau) {
    s.fixed_tau = *config.sweep.fixed_tau * s.tau_scale;
    const std::vector<double>& include = r.config.tau.include;
    const auto at = std::find(include.begin(), include.end(), s.fixed_tau);
    if (at != include.end()) {
      const KlRow& row = r.kl.at(r.included_indices.at(static_cast<std::size_t>(at - include.begin())));
      if (row.evaluated) {
        s.kl_fixed_tau = estimate.value(row);
        s.kl_fixed_tau_error = estimate.error(row);
      }
    }
  }
  if (!e.kl_available) return s;
  s.kl_available = true;
  s.kl_best = e.kl_best;
  s.kl_best_error = e.kl_best_error;
  s.tau_best = e.tau_kl_best;
  s.tau_best_index = e.kl_best_index;
  s.interior_minimum = e.kl_interior_minimum;
  s.tau_first_minimum = e.tau_kl_first_minimum;
  s.kl_first_minimum = e.kl_first_minimum;
  s.kl_last = e.kl_last;
  s.gap_best = e.gap_kl_best;
  s.tau_threshold = threshold_crossing(r, estimate, config.sweep.kl_threshold);
  if (config.kind == StudyKind::diffusion_time) add_diffusion_time_bound(config, r, s);
  return s;
}

nlohmann::ordered_json StudyFit::to_json() const {
  nlohmann::ordered_json j;
  j["name"] = name;
  j["description"] = description;
  j["x"] = x_label;
  j["y"] = y_label;
  j["paper_slope"] = paper_slope ? nlohmann::ordered_json(*paper_slope) : nlohmann::ordered_json(nullptr);
  j["paper_claim"] = paper_claim;
  j["settings"] = settings;
  j["x_values"] = x;
  j["y_values"] = y;
  if (fit) {
    j["fit"] = fit->to_json();
  } else {
    j["fit"] = nullptr;
    j["skipped"] = skipped;
  }
  return j;
}

nlohmann::ordered_json StudyMinimizer::to_json() const {
  nlohmann::ordered_json j;
  j["name"] = name;
  j["description"] = description;
  if (minimum) {
    j["setting"] = setting;
    j["grid_index"] = minimum->index;  // position among the finished settings
    j["x"] = minimum->x;
    j["value"] = minimum->value;
    j["interior"] = minimum->interior;
  } else {
    j["skipped"] = skipped;
  }
  return j;
}

nlohmann::ordered_json StudySummary::to_json() const {
  nlohmann::ordered_json j;
  j["settings_total"] = settings_total;
  j["settings_finished"] = finished.size();
  j["finished"] = finished;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const StudyFit& f : fits) list.push_back(f.to_json());
  j["fits"] = list;
  if (!minimizers.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::array();
    for (const StudyMinimizer& x : minimizers) m.push_back(x.to_json());
    j["minimizers"] = m;
    const auto flag = [](const std::optional<bool>& b) { return b ? nlohmann::ordered_json(*b) : nlohmann::ordered_json(nullptr); };
    j["argmin_agrees_fixed"] = flag(argmin_agrees_fixed);
    j["argmin_agrees_best"] = flag(argmin_agrees_best);
  }
  return j;
}

namespace {

struct FitSpec {
  std::string name, description, x_label, y_label;
  std::optional<double> paper_slope;
  std::string paper_claim;
  double (*y)(const StudySettingSummary&);
};

// Power-law fit of spec.y against the swept value over the rows where both are finite and positive.
StudyFit fit_rows(const FitSpec& spec, std::span<const StudySettingSummary> rows) {
  StudyFit f;
  f.name = spec.name;
  f.description = spec.description;
  f.x_label = spec.x_label;
  f.y_label = spec.y_label;
  f.paper_slope = spec.paper_slope;
  f.paper_claim = spec.paper_claim;
  for (const StudySettingSummary& row : rows) {
    const double y = spec.y(row);
    if (!(std::isfinite(row.value) && row.value > 0.0 && std::isfinite(y) && y > 0.0)) continue;
    f.x.push_back(row.value);
    f.y.push_back(y);
    f.settings.push_back(row.index);
  }
  if (f.x.size() < 3) {
    f.skipped = spec.y_label + " is finite and positive in " + std::to_string(f.x.size()) + " of " +
                std::to_string(rows.size()) + " finished settings; a fit needs 3";
    return f;
  }
  try {
    f.fit = fit_power_law(f.x, f.y);
  } catch (const InvalidArgument& e) {
    f.skipped = e.what();
  }
  return f;
}

std::vector<FitSpec> fit_specs(const StudyConfig& c) {
  const bool per_feature = c.sweep.tau_unit == TauUnit::per_feature;
  const std::string tau = per_feature ? "tau/m" : "tau";
  const std::string threshold = fmt_number(c.sweep.kl_threshold);
  std::vector<FitSpec> specs;
  const auto kl_best = [](const StudySettingSummary& s) { return s.kl_best; };
  switch (c.kind) {
    case StudyKind::modes_shift:
      specs.push_back({"kl_best_vs_mu", "min_tau KL vs mu (modes at +-mu)", "target.mu", "min KL", std::nullopt,
                       "grows with the modes distance 2 mu (Theorem 2: Poly(mu) terms, no rate given)", kl_best});
      break;
    case StudyKind::capacity: {
      specs.push_back({"kl_best_vs_m", "min_tau KL vs m", "model.m", "min KL", -0.8,
                       "-0.8 (Theorem 1: KL ~ m^{-4/5} with m ~ n)", kl_best});
      const std::string fixed = c.sweep.fixed_tau ? tau + "=" + fmt_number(*c.sweep.fixed_tau) : "fixed tau";
      specs.push_back({"kl_fixed_tau_vs_m", "KL at " + fixed + " vs m", "model.m", "KL(" + fixed + ")",
                       std::nullopt, "more features, lower KL (App. B.3, Fig. 11)",
                       [](const StudySettingSummary& s) { return s.kl_fixed_tau; }});
      specs.push_back({"tau_threshold_vs_m", "first " + tau + " with KL <= " + threshold + " vs m", "model.m",
                       tau + "(KL<=" + threshold + ")", std::nullopt,
                       "more features, faster generalization (App. B.3, Fig. 11)",
                       [](const StudySettingSummary& s) { return s.tau_threshold / s.tau_scale; }});
      break;
    }
    case StudyKind::sample_size:
      specs.push_back({"kl_best_vs_n", "min_tau KL vs n", "n", "min KL", -0.4,
                       "-0.4 (Theorem 1: KL ~ n^{-2/5})", kl_best});
      specs.push_back({"tau_best_vs_n", "tau* = argmin KL vs n", "n", tau + "*", 0.4,
                       "0.4 (Theorem 1: early stopping at tau ~ n^{2/5})",
                       [](const StudySettingSummary& s) { return s.tau_best / s.tau_scale; }});
      // Where early stopping would stop: the first local minimum along tau
      // (tau* itself when the KL has none), which the global minimum need not be.
      specs.push_back({"kl_first_minimum_vs_n", "KL at its first local minimum vs n", "n", "KL(first minimum)", -0.4,
                       "-0.4 (Theorem 1: KL ~ n^{-2/5} at the early-stopping time)",
                       [](const StudySettingSummary& s) { return s.kl_first_minimum; }});
      specs.push_back({"tau_first_minimum_vs_n", "first local minimum of KL along tau vs n", "n",
                       tau + "(first minimum)", 0.4, "0.4 (Theorem 1: early stopping at tau ~ n^{2/5})",
                       [](const StudySettingSummary& s) { return s.tau_first_minimum / s.tau_scale; }});
      break;
    case StudyKind::diffusion_time: break;  // no rate: minimisers in T instead (minimizer_rows)
  }
  return specs;
}

// Diffusion-time: argmin over T of each quantity, over the finished rows (in setting order).
std::vector<StudyMinimizer> minimizer_rows(std::span<const StudySettingSummary> rows) {
  struct Spec {
    const char* name;
    const char* description;
    double (*y)(const StudySettingSummary&);
  };
  static const Spec specs[] = {
      {"bound_fixed", "the bound from training data alone, model at the fixed tau",
       [](const StudySettingSummary& s) { return s.bound_fixed; }},
      {"kl_fixed_tau", "the measured KL(p_0 || p_theta) at the fixed tau",
       [](const StudySettingSummary& s) { return s.kl_fixed_tau; }},
      {"bound_best", "the bound, model at tau*", [](const StudySettingSummary& s) { return s.bound_best; }},
      {"kl_best", "the measured KL(p_0 || p_theta) at tau*", [](const StudySettingSummary& s) { return s.kl_best; }},
  };
  std::vector<double> x;
  for (const StudySettingSummary& row : rows) x.push_back(row.value);
  std::vector<StudyMinimizer> out;
  for (const Spec& spec : specs) {
    StudyMinimizer m;
    m.name = spec.name;
    m.description = spec.description;
    std::vector<double> y;
    for (const StudySettingSummary& row : rows) y.push_back(spec.y(row));
    try {
      m.minimum = grid_minimum(x, y);
      m.setting = rows[m.minimum->index].index;
    } catch (const InvalidArgument& e) {
      m.skipped = e.what();
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

StudySummary summarize_study(const StudyConfig& config, std::span<const StudySettingSummary> rows) {
  std::vector<StudySettingSummary> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
  StudySummary s;
  s.settings_total = config.settings();
  for (const StudySettingSummary& row : sorted) s.finished.push_back(row.index);
  for (const FitSpec& spec : fit_specs(config)) s.fits.push_back(fit_rows(spec, sorted));
  if (config.kind == StudyKind::diffusion_time) {
    s.minimizers = minimizer_rows(sorted);
    const auto agree = [&](std::size_t a, std::size_t b) -> std::optional<bool> {
      if (!s.minimizers[a].minimum || !s.minimizers[b].minimum) return std::nullopt;
      return s.minimizers[a].setting == s.minimizers[b].setting;
    };
    s.argmin_agrees_fixed = agree(0, 1);
    s.argmin_agrees_best = agree(2, 3);
  }
  return s;
}

std::vector<std::pair<std::string, double>> estimated_phase_costs(const EarlyStoppingConfig& c) {
  // Core-seconds, from the phase timings of S1 and S3 runs (m = 16..16384,
  // n = 1000 and 16000): a Gram row costs ~m^2 multiply-adds (2.2e-11 s each);
  // the eigendecomposition ~m^3 at 7e-11 s up to m ~ 4096, slower beyond
  // (dsytrd's matrix-vector half is memory-bound: 2.1e-10 at m = 8192, 2.6e-10
  // at 16384, single-threaded BLAS); the projection 4 m^3 flops (5.6e-11 s per
  // m^3). An ODE evaluation at one point costs a fixed part plus the m
  // features, ~0.75 us x (256 + m) / 1600, with ~2e6 evaluations per
  // quadrature tau and ~800 per test point and tau (relu kink pass: the
  // evaluations per point hardly grow with m).
  const double m = static_cast<double>(c.model.m);
  const double n = static_cast<double>(c.n);
  const double m2 = m * m, m3 = m2 * m;
  constexpr double gram_row = 2.2e-11;  // per row and m^2
  const double train_rows = c.train_loss.method == TrainLossMethod::monte_carlo
                                ? n * static_cast<double>(c.train_loss.draws_per_sample)
                                : n * static_cast<double>(c.train_loss.time_nodes * c.train_loss.noise_nodes);
  // A population quadrature row (time node x space node) costs ~3 training
  // rows at m = 1024 (its features dominate), ~1 at m = 16384 (the syrk does).
  const double quadrature_rows = (1.0 + 2048.0 / (m + 1024.0)) *
                                 static_cast<double>(c.population_loss.time_nodes * c.population_loss.space_nodes);
  const double population_rows = c.population_loss.method == PopulationLossMethod::quadrature
                                     ? quadrature_rows
                                     : static_cast<double>(c.population_loss.samples);
  const double gram_train = gram_row * train_rows * m2;
  double bounds = 0.0;
  if (c.bounds.enabled) {
    // A second training Gram matrix (the Monte Carlo error), the J_SM design's Gram and its projection.
    if (c.bounds.monte_carlo_error && c.train_loss.method == TrainLossMethod::monte_carlo) bounds += gram_train;
    if (c.bounds.score_matching) bounds += gram_row * quadrature_rows * m2 + 5.6e-11 * m3;
  }
  const double quadrature_taus = static_cast<double>(c.kl_quadrature_indices().size() + c.tau.include.size());
  const double ode_taus = static_cast<double>(c.kl_ode_indices().size() + c.tau.include.size());
  const double per_evaluation = 7.5e-7 * (256.0 + m) / 1600.0;
  // The quadrature window spans p_0's modes at +-mu and ~4 standard deviations
  // beyond them: its nodes grow with 2 mu + 8 sd (14 at S1's mu = 3, sd = 1).
  const double window = (2.0 * std::abs(c.target.mu) + 8.0 * std::sqrt(c.target.variance)) / 14.0;
  const double kl_quadrature =
      c.kl.enabled && c.kl.quadrature ? quadrature_taus * 2e6 * window * per_evaluation : 0.0;
  const double kl_ode = c.kl.enabled ? ode_taus * static_cast<double>(c.kl.test_points) * 800.0 * per_evaluation : 0.0;
  return {{"training_set", 1e-7 * n},
          {"features", 1e-6 * m},
          {"gram_train", gram_train},
          {"eigendecomposition", 7e-11 * std::min(4.0, 1.0 + m / 4096.0) * m3},
          {"gram_population", gram_row * population_rows * m2},
          {"projection", 5.6e-11 * m3},
          {"curves", 1e-8 * m * static_cast<double>(c.grid_points())},
          {"bounds", bounds},
          {"kl_setup", 1e-3},
          {"kl_quadrature", kl_quadrature},
          {"kl_ode", kl_ode}};
}

StudyResult run_study(const StudyConfig& config, const StudyCallbacks& callbacks) {
  config.validate();
  const auto start = std::chrono::steady_clock::now();
  // One BLAS thread per task (as the CLI does): settings in flight must not
  // oversubscribe the cores, and no BLAS reduction may depend on a thread count.
  const ScopedBlasThreads single_threaded_blas(1);

  const std::size_t count = config.settings();
  std::vector<EarlyStoppingConfig> settings(count);
  std::vector<double> cost(count, 0.0);
  for (std::size_t k = 0; k < count; ++k) {
    settings[k] = config.setting(k);
    for (const auto& [phase, seconds] : estimated_phase_costs(settings[k])) cost[k] += seconds;
  }
  // The arena's threads, as limited by a tbb::global_control (e.g. the CLI's --threads).
  const std::size_t concurrency =
      std::min(static_cast<std::size_t>(tbb::this_task_arena::max_concurrency()),
               tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
  const std::size_t in_flight =
      std::max<std::size_t>(1, std::min(count, config.sweep.max_parallel > 0 ? config.sweep.max_parallel : concurrency));
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (in_flight > 1) {
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  }

  std::vector<std::optional<StudySetting>> finished(count);
  std::size_t next = 0;
  tbb::parallel_pipeline(
      in_flight,
      tbb::make_filter<void, std::size_t>(tbb::filter_mode::serial_in_order,
                                          [&](tbb::flow_control& control) -> std::size_t {
                                            if (next == count ||
                                                (callbacks.stop_requested && callbacks.stop_requested())) {
                                              control.stop();
                                              return 0;
                                            }
                                            return order[next++];
                                          }) &
          tbb::make_filter<std::size_t, std::size_t>(
              tbb::filter_mode::parallel,
              [&](std::size_t k) {
                const auto on_phase = [&, k](std::string_view phase) {
                  if (callbacks.on_phase) callbacks.on_phase(k, phase);
                };
                std::function<void(double)> on_progress;
                if (callbacks.on_phase_progress) {
                  on_progress = [&, k](double fraction) { callbacks.on_phase_progress(k, fraction); };
                }
                StudySetting s;
                // Isolated: a thread waiting inside this setting's parallel
                // loops must not pick up a whole other setting and leave this
                // one waiting on it.
                tbb::this_task_arena::isolate([&] { s.result = run_early_stopping(settings[k], on_phase, on_progress); });
                s.summary = summarize_setting(config, k, s.result);
                finished[k] = std::move(s);
                return k;
              }) &
          tbb::make_filter<std::size_t, void>(tbb::filter_mode::serial_out_of_order, [&](std::size_t k) {
            if (callbacks.on_setting) callbacks.on_setting(*finished[k]);
          }));

  StudyResult r = collect_study_result(config, std::move(finished));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

StudyResult collect_study_result(const StudyConfig& config, std::vector<std::optional<StudySetting>> finished) {
  StudyResult r;
  r.config = config;
  std::vector<StudySettingSummary> rows;
  for (std::optional<StudySetting>& s : finished) {
    if (!s) continue;
    rows.push_back(s->summary);
    r.settings.push_back(std::move(*s));
  }
  r.summary = summarize_study(config, rows);
  return r;
}

}  // namespace gengap
