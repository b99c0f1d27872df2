// Study "digits": per training-set size, the exact flow's loss curves and, on
// a coarse tau grid, samples, memorisation and likelihoods (digits_study.hpp).
#include "gengap/generalization/studies/digits/digits_study.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "gengap/generalization/finite_mean.hpp"
#include "gengap/generalization/io/digits.hpp"
#include "gengap/generalization/studies/model_setup.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/sde/tweedie.hpp"

namespace gengap {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string short_number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2g", x);
  return text;
}

// The first `count` rows of x (all of them if fewer).
Matrix first_rows(const Matrix& x, std::size_t count) {
  const std::size_t rows = std::min(count, x.rows());
  Matrix out(rows, x.cols());
  std::copy(x.data(), x.data() + rows * x.cols(), out.data());
  return out;
}

// Mean NLL in bits per dimension over the finite points, with its standard error.
FiniteMean bits_per_dim(const LikelihoodResult& r) {
  std::vector<double> bits(r.log_p.size());
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = r.bits_per_dim(i);
  return finite_mean(bits);
}

// tau_mem_loss: the first tau after the held-out loss's minimum at which it
// has risen by half of its rise up to the grid's end (digits_study.hpp).
void set_overfitting(DigitsSetting& s) {
  std::size_t best = 0;
  for (std::size_t k = 1; k < s.curve_tau.size(); ++k)
    if (s.curve_heldout[k] < s.curve_heldout[best]) best = k;
  s.tau_best = s.curve_tau[best];
  const double lowest = s.curve_heldout[best];
  s.overfit_rise = s.curve_heldout.back() - lowest;
  if (!(s.overfit_rise > 1e-3 * (std::abs(lowest) + 1.0))) return;
  for (std::size_t k = best; k < s.curve_tau.size(); ++k) {
    if (s.curve_heldout[k] - lowest >= 0.5 * s.overfit_rise) {
      s.tau_mem_loss = s.curve_tau[k];
      return;
    }
  }
}

// The timescales defined on the finished rows and curves (digits_study.hpp).
void set_timescales(const DigitsStudyConfig& c, DigitsSetting& s) {
  set_overfitting(s);
  double lowest = std::numeric_limits<double>::infinity();
  for (const DigitsRow& r : s.rows) {
    if (r.likelihood_available && std::isfinite(r.test_bits) && r.test_bits < lowest) lowest = r.test_bits, s.tau_gen = r.tau;
  }
  for (const DigitsRow& r : s.rows) {
    if (r.memorization.memorized_fraction >= c.metrics.memorized_fraction) {
      s.tau_mem = r.tau;
      break;
    }
  }
}

}  // namespace

std::string DigitsRow::label() const {
  std::string text = "n=";
  text += std::to_string(n);
  text += " tau=";
  text += short_number(tau);
  return text;
}

std::string DigitsRow::file_stem() const {
  std::string stem = "n";
  stem += std::to_string(n);
  stem += "_tau";
  stem += std::to_string(tau_index);
  return stem;
}

const std::vector<std::string>& DigitsRow::columns() {
  static const std::vector<std::string> names{
      "n",           "tau_index",          "tau",           "train_loss",      "heldout_loss",
      "loss_gap",    "memorized_fraction", "median_ratio",  "median_nearest",  "mean_nearest",
      "sampler_failed", "sampler_evaluations", "train_bits_per_dim", "train_bits_per_dim_se",
      "test_bits_per_dim", "test_bits_per_dim_se", "bits_gap", "likelihood_failed", "likelihood_evaluations",
      "likelihood_seconds_per_point", "seconds"};
  return names;
}

std::vector<double> DigitsRow::row() const {
  return {double(n),
          double(tau_index),
          tau,
          train_loss,
          heldout_loss,
          heldout_loss - train_loss,
          memorization.memorized_fraction,
          memorization.median_ratio,
          memorization.median_nearest,
          mean_nearest,
          double(sampler_failed),
          sampler_evaluations,
          train_bits,
          train_bits_se,
          test_bits,
          test_bits_se,
          test_bits - train_bits,
          double(likelihood_failed),
          likelihood_evaluations,
          likelihood_seconds,
          seconds};
}

const std::vector<std::string>& DigitsSetting::columns() {
  static const std::vector<std::string> names{"n",        "fastest_timescale", "slowest_timescale",
                                              "heldout_nearest_median", "tau_gen", "tau_best", "tau_mem_loss",
                                              "tau_mem",  "overfit_rise", "gram_seconds", "eigen_seconds", "seconds"};
  return names;
}

std::vector<double> DigitsSetting::row() const {
  return {double(n), fastest, slowest, heldout_nearest_median, tau_gen,       tau_best,
          tau_mem_loss, tau_mem, overfit_rise, gram_seconds,         eigen_seconds, seconds};
}

nlohmann::ordered_json DigitsFits::to_json() const {
  const auto fit = [](const PowerLawFit& f) {
    return f.points >= 3 ? f.to_json() : nlohmann::ordered_json(nullptr);
  };
  return {{"tau_gen", fit(tau_gen)}, {"tau_best", fit(tau_best)}, {"tau_mem_loss", fit(tau_mem_loss)},
          {"tau_mem", fit(tau_mem)}};
}

std::size_t digits_study_rows(const DigitsStudyConfig& c) { return c.data.sizes.size() * c.tau.points; }

Matrix DigitsData::training(std::size_t n) const {
  Matrix x(n, images.cols());
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = images.row(order[i]);
    std::copy(row.begin(), row.end(), x.row(i).begin());
  }
  return x;
}

DigitsData load_study_digits(const DigitsStudyConfig& c) {
  const Digits digits = c.data.file.empty() ? read_digits() : read_digits(c.data.file);
  DigitsData data;
  data.images = scaled_digits(digits, c.data.lower, c.data.upper);
  const DigitsSplit split = split_digits(digits.count(), c.data.held_out, c.model_base.seed);
  for (std::size_t i = 0; i < c.data.sizes.size(); ++i) {
    require(c.data.sizes[i] <= split.training_available(), "data.sizes[" + std::to_string(i) + "]",
            "at most " + std::to_string(split.training_available()) + " digits are left for training beside the " +
                std::to_string(c.data.held_out) + " held out, got " + std::to_string(c.data.sizes[i]));
  }
  data.test = split.test(data.images.view());
  data.order = split.order;
  return data;
}

DigitsFits fit_digits_timescales(const std::vector<DigitsSetting>& settings, double confidence) {
  const auto fit = [&](double DigitsSetting::*member) {
    std::vector<double> n, tau;
    for (const DigitsSetting& s : settings) {
      if (std::isfinite(s.*member) && s.*member > 0.0) n.push_back(double(s.n)), tau.push_back(s.*member);
    }
    if (n.size() < 3) return PowerLawFit{};
    return fit_power_law(n, tau, confidence);
  };
  DigitsFits f;
  f.tau_gen = fit(&DigitsSetting::tau_gen);
  f.tau_best = fit(&DigitsSetting::tau_best);
  f.tau_mem_loss = fit(&DigitsSetting::tau_mem_loss);
  f.tau_mem = fit(&DigitsSetting::tau_mem);
  return f;
}

DigitsStudyResult run_digits_study(const DigitsStudyConfig& config, const DigitsStudyCallbacks& callbacks) {
  config.validate();
  // Single-threaded OpenBLAS: the eigendecomposition's bits do not depend on a thread count.
  const ScopedBlasThreads single_threaded_blas(1);
  const auto study_start = Clock::now();
  DigitsStudyResult result;
  result.config = config;
  const DigitsData data = load_study_digits(config);
  const RandomFeatureModelConfig& m = config.model_base;
  const DsmSetup setup = m.dsm_setup();
  const Schedule& schedule = config.schedule();
  const RandomFeatures features = model_random_features(m, digits_pixels);
  const std::vector<double> taus = config.tau_grid(), curve = config.curve_grid();
  const auto phase = [&](const std::string& text) {
    if (callbacks.on_phase) callbacks.on_phase(text);
  };
  const auto stopped = [&] { return callbacks.stop_requested && callbacks.stop_requested(); };

  // The held-out loss's design: the test digits with their own draws
  // (streams::heldout_time / heldout_noise, so they share nothing with training's).
  const auto heldout_design = empirical_monte_carlo(data.test.view(), config.heldout_loss.draws_per_sample, setup,
                                                    m.seed, streams::heldout_time, streams::heldout_noise);
  for (const std::size_t n : config.data.sizes) {
    if (stopped()) break;
    const auto setting_start = Clock::now();
    DigitsSetting s;
    s.n = n;
    const Matrix training = data.training(n);
    const std::string name = "n=" + std::to_string(n);
    phase(name + ": Gram matrices");
    auto start = Clock::now();
    const QuadraticLoss loss = gram_matrices(features, *model_training_design(m, training.view(), setup));
    const QuadraticLoss heldout = gram_matrices(features, *heldout_design);
    s.gram_seconds = seconds_since(start);
    if (stopped()) break;
    phase(name + ": eigendecomposition");
    start = Clock::now();
    const GradientFlow flow(loss, model_initial_weights(m, digits_pixels));
    const ProjectedLoss projected = flow.project(heldout);
    s.eigen_seconds = seconds_since(start);
    std::tie(s.fastest, s.slowest) = flow.timescale_range();
    s.curve_tau = curve;
    s.curve_heldout = flow.losses(projected, curve);
    for (const double tau : curve) s.curve_train.push_back(flow.train_loss(tau));
    s.heldout_nearest_median =
        memorization(nearest_training_points(data.test.view(), training.view()), config.metrics.ratio_threshold)
            .median_nearest;
    const Matrix train_points = first_rows(training, config.likelihood.points);
    const Matrix test_points = first_rows(data.test, config.likelihood.points);

    for (std::size_t k = 0; k < taus.size(); ++k) {
      if (stopped()) break;
      DigitsRow row;
      row.n = n;
      row.tau_index = k;
      row.tau = taus[k];
      phase(row.label() + ": samples");
      const auto row_start = Clock::now();
      const Matrix A = flow.weights(row.tau);
      row.train_loss = flow.train_loss(row.tau);
      row.heldout_loss = flow.loss(projected, row.tau);
      const ScoreDivergenceField field = random_feature_score(features, A, setup);
      const SampleResult sampled =
          sample_reverse_sde(schedule, score_only(field), config.sampler.samples, digits_pixels, config.sampler_options());
      for (const TrajectoryStats& t : sampled.stats) row.sampler_failed += t.status != TrajectoryStatus::success;
      row.sampler_evaluations = double(sampled.total_score_evaluations) / double(config.sampler.samples);
      row.samples = sampled.samples;
      if (config.sampler.denoise) tweedie_denoise(schedule, field, schedule.t_min, row.samples);
      const NearestTrainingPoints nearest = nearest_training_points(row.samples.view(), training.view());
      row.memorization = memorization(nearest, config.metrics.ratio_threshold);
      row.mean_nearest = finite_mean(nearest.nearest).mean;
      row.nearest_index = nearest.nearest_index;
      if (config.likelihood.enabled) {
        phase(row.label() + ": likelihoods");
        const auto likelihood_start = Clock::now();
        const LikelihoodOptions options = config.likelihood_options();
        const LikelihoodResult train =
            log_likelihood_random_features(schedule, features, A, setup, train_points, options);
        const LikelihoodResult test = log_likelihood_random_features(schedule, features, A, setup, test_points, options);
        const FiniteMean tr = bits_per_dim(train), te = bits_per_dim(test);
        row.likelihood_available = true;
        row.train_bits = tr.mean;
        row.train_bits_se = tr.se;
        row.test_bits = te.mean;
        row.test_bits_se = te.se;
        row.likelihood_failed = tr.failed + te.failed;
        const double points = double(train_points.rows() + test_points.rows());
        row.likelihood_evaluations = double(train.total_rhs_evaluations + test.total_rhs_evaluations) / points;
        row.likelihood_seconds = seconds_since(likelihood_start) / points;
      }
      row.seconds = seconds_since(row_start);
      s.rows.push_back(std::move(row));
      if (callbacks.on_row) callbacks.on_row(s.rows.back());
    }
    set_timescales(config, s);
    s.seconds = seconds_since(setting_start);
    const bool complete = s.rows.size() == taus.size();
    result.settings.push_back(std::move(s));
    if (complete && callbacks.on_setting) callbacks.on_setting(result.settings.back());
  }
  result.fits = fit_digits_timescales(result.settings, config.metrics.fit_confidence);
  result.seconds = seconds_since(study_start);
  return result;
}

}  // namespace gengap
