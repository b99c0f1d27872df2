// Study S6 smoothing: rows of (score, samples, metrics, likelihood) per
// dimension (see smoothing_study.hpp).
#include "gengap/generalization/studies/smoothing/smoothing_study.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "gengap/generalization/finite_mean.hpp"
#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/studies/model_setup.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "gengap/solvers/sde/tweedie.hpp"

namespace gengap {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<double> line_direction(std::size_t d) { return std::vector<double>(d, 1.0 / std::sqrt(double(d))); }

// Points u_k ~ U[0, 1] along the segment (streams::test_data): the same
// positions in every d.
Matrix heldout_points(const SmoothingStudyConfig& c, std::size_t d) {
  const std::size_t N = c.likelihood.heldout_points;
  const CounterRng rng(c.model_base.seed, streams::test_data);
  const std::vector<double> e = line_direction(d);
  const double L = c.segment.half_length;
  Matrix x(N, d);
  for (std::size_t i = 0; i < N; ++i) {
    const double v = -L + 2.0 * L * rng.uniform(i);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = v * e[k];
  }
  return x;
}

// Everything one dimension's rows share.
struct Dimension {
  std::size_t d = 1;
  Matrix training;
  std::shared_ptr<const EmpiricalScore> empirical;
  Matrix heldout;  // empty without likelihood
  std::vector<double> a, b;  // the segment's ends
};

// A row's score and, where one is faster than the generic ODE-state path,
// its own log-likelihood (the trained model's kink-exact relu path).
struct RowScore {
  ScoreDivergenceField field;
  std::function<LikelihoodResult(const Matrix& data, const LikelihoodOptions& options)> likelihood;
};
RowScore as_row_score(ScoreDivergenceField field) { return {std::move(field), {}}; }
RowScore as_row_score(RowScore score) { return score; }

void measure(const SmoothingStudyConfig& c, const Dimension& dim, const RowScore& score, SmoothingRow& row) {
  const ScoreDivergenceField& field = score.field;
  const std::size_t N = c.sampler.samples, d = dim.d;
  const SampleResult sampled = sample_reverse_sde(c.schedule(), score_only(field), N, d, c.sampler_options());
  for (const TrajectoryStats& s : sampled.stats) row.sampler_failed += s.status != TrajectoryStatus::success;
  row.sampler_evaluations = double(sampled.total_score_evaluations) / double(N);
  row.samples = sampled.samples;
  if (c.sampler.denoise) tweedie_denoise(c.schedule(), field, c.schedule().t_min, row.samples);
  row.memorization =
      memorization(nearest_training_points(row.samples.view(), dim.training.view()), c.metrics.ratio_threshold);
  row.histogram =
      segment_histogram(row.samples.view(), dim.a, dim.b, c.metrics.bins_per_spacing * (c.segment.points - 1));
  if (!c.likelihood.enabled) return;
  const LikelihoodOptions options = c.likelihood_options();
  const auto likelihood = [&](const Matrix& data) {
    return score.likelihood ? score.likelihood(data, options) : log_likelihood(c.schedule(), field, data, options);
  };
  const LikelihoodResult heldout = likelihood(dim.heldout);
  const LikelihoodResult train = likelihood(dim.training);
  const FiniteMean h = finite_mean(heldout.log_p), t = finite_mean(train.log_p);
  row.likelihood_available = true;
  row.heldout_log_likelihood = h.mean;
  row.heldout_log_likelihood_se = h.se;
  row.train_log_likelihood = t.mean;
  row.likelihood_gap = t.mean - h.mean;
  row.likelihood_failed = h.failed + t.failed;
  row.likelihood_evaluations = double(heldout.total_rhs_evaluations + train.total_rhs_evaluations) /
                               double(dim.heldout.rows() + dim.training.rows());
  // KL(U || p_theta) = E_U[log U] - E_U[log p_theta], U of density 1 / (2 L) on the interval.
  if (d == 1) row.kl = -std::log(2.0 * c.segment.half_length) - h.mean;
}

// The random-feature model of one training set, trained by the exact flow.
struct TrainedModel {
  RandomFeatures features;
  DsmSetup setup;
  std::optional<GradientFlow> flow;
  double fastest = 0.0, slowest = 0.0;  // eigen-timescale range
};

TrainedModel train_model(const SmoothingStudyConfig& c, const Matrix& training) {
  const RandomFeatureModelConfig& m = c.model_base;
  TrainedModel model;
  model.setup = m.dsm_setup();
  const std::size_t d = training.cols();
  model.features = model_random_features(m, d);
  const QuadraticLoss loss = gram_matrices(model.features, *model_training_design(m, training.view(), model.setup));
  model.flow.emplace(loss, model_initial_weights(m, d), GradientFlowOptions{});
  std::tie(model.fastest, model.slowest) = model.flow->timescale_range();
  return model;
}

std::string short_number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", x);
  return text;
}

}  // namespace

std::string SmoothingRow::score_label() const {
  std::string text(to_string(kind));
  if (kind == SmoothingScoreKind::smoothed) text += " delta=" + short_number(delta_per_spacing) + "h";
  if (kind == SmoothingScoreKind::model) text += " tau=" + short_number(tau);
  return text;
}

// Built by appending: GCC 12 warns (-Wrestrict, a false positive) on
// "d" + std::to_string(...) chains here.
std::string SmoothingRow::label() const {
  std::string text = "d=";
  text += std::to_string(dim);
  text += ' ';
  text += score_label();
  return text;
}

std::string SmoothingRow::file_stem() const {
  std::string stem = "d";
  stem += std::to_string(dim);
  stem += '_';
  stem += to_string(kind);
  if (kind != SmoothingScoreKind::empirical) {
    stem += '_';
    stem += std::to_string(variant);
  }
  return stem;
}

const std::vector<std::string>& SmoothingRow::columns() {
  static const std::vector<std::string> names{
      "d",          "kind",          "variant",        "delta",         "delta_per_spacing",
      "tau",        "tau_position",  "memorized_fraction", "median_ratio", "median_nearest",
      "tv_to_uniform", "ks_to_uniform", "outside_fraction", "distance_off_line", "sampler_failed",
      "sampler_evaluations", "heldout_log_likelihood", "heldout_log_likelihood_se", "train_log_likelihood",
      "likelihood_gap", "kl", "exact_heldout_log_likelihood", "likelihood_failed", "likelihood_evaluations",
      "seconds"};
  return names;
}

std::vector<double> SmoothingRow::row() const {
  return {double(dim),
          double(static_cast<int>(kind)),
          double(variant),
          delta,
          delta_per_spacing,
          tau,
          tau_position,
          memorization.memorized_fraction,
          memorization.median_ratio,
          memorization.median_nearest,
          histogram.total_variation_to_uniform,
          histogram.ks_to_uniform,
          histogram.outside_fraction(),
          histogram.mean_distance_off_line,
          double(sampler_failed),
          sampler_evaluations,
          heldout_log_likelihood,
          heldout_log_likelihood_se,
          train_log_likelihood,
          likelihood_gap,
          kl,
          exact_heldout_log_likelihood,
          double(likelihood_failed),
          likelihood_evaluations,
          seconds};
}

nlohmann::ordered_json SmoothingRow::to_json() const {
  nlohmann::ordered_json j;
  j["label"] = label();
  j["score"] = to_string(kind);
  const std::vector<double> values = row();
  for (std::size_t k = 0; k < values.size(); ++k) j[columns()[k]] = detail::number_or_null(values[k]);
  j["samples_file"] = "samples/" + file_stem() + ".npy";
  return j;
}

Matrix segment_training_set(const SmoothingStudyConfig& c, std::size_t d) {
  const std::size_t n = c.segment.points;
  const std::vector<double> e = line_direction(d);
  const double L = c.segment.half_length;
  Matrix x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = -L + 2.0 * L * double(i) / double(n - 1);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = v * e[k];
  }
  return x;
}

std::size_t smoothing_study_rows(const SmoothingStudyConfig& c) {
  const std::size_t models = c.model_enabled ? c.tau_positions.size() : 0;
  return c.dims.size() * (1 + c.smoothing.deltas.size() + models);
}

SmoothingStudyResult run_smoothing_study(const SmoothingStudyConfig& config, const SmoothingStudyCallbacks& callbacks) {
  config.validate();
  // OpenBLAS single-threaded, as run_study and run_early_stopping: the trained
  // model's eigendecomposition then does not depend on a thread count.
  const ScopedBlasThreads single_threaded_blas(1);
  const auto study_start = Clock::now();
  SmoothingStudyResult result;
  result.config = config;
  const std::size_t total = smoothing_study_rows(config);
  const Schedule& schedule = config.schedule();
  const double mu_min = schedule.mean_scale(schedule.t_min), sigma_min = schedule.std_dev(schedule.t_min);
  const double h = config.spacing();

  // Runs one row: announces it, measures it, hands it over; false when stopped.
  const auto run_row = [&](SmoothingRow row, const Dimension& dim, const auto& make_field) {
    if (callbacks.stop_requested && callbacks.stop_requested()) return false;
    if (callbacks.on_row_start) callbacks.on_row_start(result.rows.size(), total, row.label());
    const auto start = Clock::now();
    const RowScore score = as_row_score(make_field(row));
    measure(config, dim, score, row);
    if (row.kind == SmoothingScoreKind::empirical && config.likelihood.enabled) {
      const EmpiricalScore::Values exact = dim.empirical->evaluate(dim.heldout.view(), mu_min, sigma_min);
      row.exact_heldout_log_likelihood = finite_mean(exact.log_density).mean;
    }
    row.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result.rows.push_back(std::move(row));
    if (callbacks.on_row) callbacks.on_row(result.rows.back());
    return true;
  };

  // Every row in order; returns early when a stop is requested.
  const auto run_rows = [&] {
    for (const std::size_t d : config.dims) {
      Dimension dim;
      dim.d = d;
      dim.training = segment_training_set(config, d);
      dim.empirical = std::make_shared<const EmpiricalScore>(dim.training.view());
      if (config.likelihood.enabled) dim.heldout = heldout_points(config, d);
      const std::vector<double> e = line_direction(d);
      for (std::size_t k = 0; k < d; ++k) {
        dim.a.push_back(-config.segment.half_length * e[k]);
        dim.b.push_back(config.segment.half_length * e[k]);
      }
      SmoothingRow empirical_row;
      empirical_row.dim = d;
      if (!run_row(std::move(empirical_row), dim,
                   [&](SmoothingRow&) { return empirical_score_field(dim.empirical, schedule); })) {
        return;
      }
      for (std::size_t j = 0; j < config.smoothing.deltas.size(); ++j) {
        SmoothingRow row;
        row.dim = d;
        row.kind = SmoothingScoreKind::smoothed;
        row.variant = j;
        row.delta_per_spacing = config.smoothing.deltas[j];
        row.delta = row.delta_per_spacing * h;
        const auto field = [&](SmoothingRow& r) {
          SmoothingOptions options;
          options.kernel = config.smoothing.kernel;
          options.delta = r.delta;
          options.hermite_nodes = config.smoothing.hermite_nodes;
          if (d > 1) options.direction = e;
          return smoothed_score_field(std::make_shared<const SmoothedScore>(dim.empirical, options), schedule);
        };
        if (!run_row(row, dim, field)) return;
      }
      if (!config.model_enabled) continue;
      std::optional<TrainedModel> model;
      for (std::size_t j = 0; j < config.tau_positions.size(); ++j) {
        SmoothingRow row;
        row.dim = d;
        row.kind = SmoothingScoreKind::model;
        row.variant = j;
        row.tau_position = config.tau_positions[j];
        const auto field = [&](SmoothingRow& r) {
          // Trained once per d, inside the first model row (its time counts there).
          if (!model) model = train_model(config, dim.training);
          const double f = r.tau_position;
          r.tau = std::exp((1.0 - f) * std::log(model->fastest) + f * std::log(model->slowest));
          auto A = std::make_shared<const Matrix>(model->flow->weights(r.tau));
          const TrainedModel* trained = &*model;
          return RowScore{random_feature_score(trained->features, *A, trained->setup),
                          [trained, A, &schedule](const Matrix& data, const LikelihoodOptions& options) {
                            return log_likelihood_random_features(schedule, trained->features, *A, trained->setup,
                                                                  data, options);
                          }};
        };
        if (!run_row(row, dim, field)) return;
      }
    }
  };
  run_rows();
  result.seconds = std::chrono::duration<double>(Clock::now() - study_start).count();
  return result;
}

}  // namespace gengap
