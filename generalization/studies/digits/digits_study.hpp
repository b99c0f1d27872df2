#pragma once
// Study "digits" (issue 15): memorisation and generalization of the
// random-feature score on the UCI handwritten digits (8 x 8, d = 64), along
// the exact gradient flow, for training sets of growing size n — the setting
// of Bonnaire et al. 2025 ("Why diffusion models don't memorize", arXiv
// 2505.17638: tau_gen roughly independent of n, tau_mem growing ~ n).
//
// Data: the 1797 digits (generalization/io/digits.hpp), grey levels mapped to
// [data.lower, data.upper]; one seeded split: data.held_out test digits, the
// training set of size n the first n of the rest (nested in n).
// For every n in data.sizes:
//   train     the Gram matrices of the empirical DSM loss (train_loss:
//             Monte Carlo, K draws per digit), the exact flow's eigenbasis
//   curves    on a fine log grid of tau (tau.curve_*): L_n(tau) and the
//             held-out DSM loss L_test(tau) (the same loss on the test digits,
//             heldout_loss.draws_per_sample draws each, projected once on the
//             flow's eigenbasis), their gap
//   rows      at each tau of the coarse grid (tau.first .. tau.last):
//             sampler.samples reverse-SDE samples (the same prior draws and
//             Brownian paths for every row), Tweedie-denoised at t_min; their
//             memorised fraction (nearest / second-nearest training distance
//             < metrics.ratio_threshold), nearest-training distances; the
//             negative log-likelihood in bits per dimension,
//             -log p_theta(x) / (d ln 2), of likelihood.points training and
//             test digits by the probability-flow ODE with the exact
//             divergence (the relu kink-exact path), p_theta the model's
//             density at schedule.t_min on the data scale (continuous: not
//             comparable to dequantised 8-bit bits/dim)
//   timescales (defined on the numbers above; NaN when not reached)
//             tau_gen      argmin over the coarse grid of the test NLL
//             tau_best     argmin over the fine grid of L_test
//             tau_mem_loss first fine-grid tau after tau_best at which L_test
//                          has risen above its minimum by half of its rise
//                          up to the grid's end (overfit_rise = L_test at
//                          tau.curve_last - min L_test): the loss side of
//                          memorisation (Bonnaire et al.'s random-feature
//                          analysis reads tau_mem off the test loss); NaN
//                          when the rise is below 1e-3 of |min L_test| + 1
//             tau_mem      first coarse-grid tau with memorised fraction
//                          >= metrics.memorized_fraction (the issue's)
// and log-log fits of each timescale against n (rate_fit.hpp, with
// confidence intervals) where >= 3 values exist.
// Numbers do not depend on the thread count.
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/memorization.hpp"
#include "gengap/generalization/rate_fit.hpp"
#include "gengap/generalization/studies/model_config.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"

namespace gengap {

// S1's model groups with this study's defaults (JSON keys as S1's):
//   model.m = 4096                   the minimum; G is 128 MiB, its
//                                    eigendecomposition ~18 s per n
//   model.output_scale = denoiser    s = (mu D - x)/sigma^2 (docs/math.md §3):
//                                    with c = 1 or 1/sigma the samples stayed
//                                    farther from the training digits than
//                                    held-out digits are (measured: median
//                                    nearest distance 3.4-4 vs 2.5-4.3)
//   model.u_scale = b_scale = 5      the sphere of R^{64+1+1} leaves the time
//                                    and bias parts ~1/8 of a feature's input;
//                                    x 5 brings them to ~0.6, as in d = 1
//   train_loss.draws_per_sample = 512  n K >= 8 m design rows at n = 64: with
//                                    n K ~ m the flow interpolates the K noise
//                                    draws (measured: samples thrown to 1e4)
RandomFeatureModelConfig digits_model_defaults();

struct DigitsStudyConfig {
  RandomFeatureModelConfig model_base = digits_model_defaults();  // seed, model, train_loss, schedule, weighting

  struct Data {
    std::string file = "";  // empty: the Debian file (digits.hpp)
    double lower = -1.0, upper = 1.0;
    std::size_t held_out = 256;
    std::vector<std::size_t> sizes = {64, 128, 256, 512, 1024, 1536};
  } data;
  struct Tau {
    double first = 1e5, last = 1e12;  // the coarse grid: samples and likelihoods
    std::size_t points = 15;  // half a decade apart
    double curve_first = 1e4, curve_last = 1e14;  // the fine grid: losses
    std::size_t curve_points = 121;
  } tau;
  struct HeldoutLoss {
    std::size_t draws_per_sample = 64;
  } heldout_loss;
  struct Sampler {
    std::size_t samples = 256;
    std::string method = "adaptive";
    std::size_t steps = 1000;
    double rtol = 1e-2, atol = 1e-2;
    bool denoise = true;  // Tweedie at t_min (solvers/sde/tweedie.hpp)
  } sampler;
  struct Likelihood {
    bool enabled = true;
    std::size_t points = 128;  // training digits and test digits each (the first ones)
    std::string method = "dopri5";
    double rtol = 1e-5, atol = 1e-5;
    std::size_t max_steps = 100000;
  } likelihood;
  struct Metrics {
    double ratio_threshold = 1.0 / 3.0;
    double memorized_fraction = 0.5;  // tau_mem's threshold
    double fit_confidence = 0.95;
  } metrics;
  struct Images {
    std::size_t pairs = 16;  // samples drawn beside their nearest training digit, per row
  } images;

  const Schedule& schedule() const { return model_base.schedule; }
  std::vector<double> tau_grid() const;    // tau.points log-spaced
  std::vector<double> curve_grid() const;  // tau.curve_points log-spaced
  ReverseSdeOptions sampler_options() const;
  LikelihoodOptions likelihood_options() const;
  // InvalidArgument naming the dotted key ("data.sizes[2]: ...").
  void validate() const;
};

nlohmann::ordered_json to_json(const DigitsStudyConfig& config);
// Strict: unknown keys, wrong types and bad names throw InvalidArgument
// naming the dotted key. Does not call validate().
DigitsStudyConfig digits_study_config_from_json(const nlohmann::json& json);

// One (n, tau) of the coarse grid.
struct DigitsRow {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  std::size_t n = 0;
  std::size_t tau_index = 0;
  double tau = nan;
  double train_loss = nan, heldout_loss = nan;  // L_n(tau), L_test(tau)
  MemorizationReport memorization;
  double mean_nearest = nan;  // mean nearest-training distance of the samples
  std::size_t sampler_failed = 0;
  double sampler_evaluations = nan;  // per sample
  bool likelihood_available = false;
  double train_bits = nan, train_bits_se = nan;  // NLL, bits per dimension
  double test_bits = nan, test_bits_se = nan;
  std::size_t likelihood_failed = 0;
  double likelihood_evaluations = nan;  // ODE field evaluations per point
  double likelihood_seconds = nan;      // per point
  double seconds = nan;
  Matrix samples;                          // N x 64, denoised
  std::vector<std::size_t> nearest_index;  // each sample's nearest training digit (index into the training set)

  std::string label() const;      // "n=256 tau=3.2e+07"
  std::string file_stem() const;  // "n256_tau3"
  static const std::vector<std::string>& columns();
  std::vector<double> row() const;
};

// One training-set size.
struct DigitsSetting {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  std::size_t n = 0;
  double fastest = nan, slowest = nan;  // the flow's eigen-timescale range
  std::vector<double> curve_tau, curve_train, curve_heldout;
  double heldout_nearest_median = nan;  // test digits' median nearest-training distance (the reference scale)
  double tau_gen = nan, tau_best = nan, tau_mem_loss = nan, tau_mem = nan;
  double overfit_rise = nan;  // L_test(tau.curve_last) - min L_test
  double gram_seconds = nan, eigen_seconds = nan, seconds = nan;
  std::vector<DigitsRow> rows;

  static const std::vector<std::string>& columns();  // settings.csv
  std::vector<double> row() const;
};

struct DigitsFits {
  // Against n, where >= 3 sizes have the timescale; points = 0 otherwise.
  PowerLawFit tau_gen, tau_best, tau_mem_loss, tau_mem;
  nlohmann::ordered_json to_json() const;
};

struct DigitsStudyResult {
  DigitsStudyConfig config;
  std::vector<DigitsSetting> settings;  // data.sizes order; the last may be partial when stopped
  DigitsFits fits;
  double seconds = 0.0;
};

struct DigitsStudyCallbacks {
  std::function<void(const std::string& phase)> on_phase;    // "n=256: Gram matrices", ...
  std::function<void(const DigitsRow& row)> on_row;           // after each row
  std::function<void(const DigitsSetting& setting)> on_setting;  // after each n (its rows complete)
  std::function<bool()> stop_requested;                       // polled between phases
};

std::size_t digits_study_rows(const DigitsStudyConfig& config);  // sizes x tau.points

// The data as the study reads it: scaled images and the split.
struct DigitsData {
  Matrix images;  // 1797 x 64, scaled
  Matrix test;    // held_out x 64
  std::vector<std::size_t> order;
  Matrix training(std::size_t n) const;  // first n of the split's order
};
DigitsData load_study_digits(const DigitsStudyConfig& config);

DigitsFits fit_digits_timescales(const std::vector<DigitsSetting>& settings, double confidence);

// Validates, reads the digits, runs every n (see the top of this file).
DigitsStudyResult run_digits_study(const DigitsStudyConfig& config, const DigitsStudyCallbacks& callbacks = {});

}  // namespace gengap
