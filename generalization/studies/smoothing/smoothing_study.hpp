#pragma once
// Study S6 smoothing (docs/studies.md, seed 003, docs/math.md §8): memorisation by the
// empirical score, interpolation by the smoothed score, and where a trained
// random-feature score falls between the two.
//
// Training set: segment.points points evenly spaced on the segment from
// -half_length e to +half_length e, e = (1, ..., 1) / sqrt(d) (spacing
// h = 2 half_length / (points - 1)), for every d in `dims` (d = 1: the
// interval itself; d > 1: the same segment embedded as a line through the
// origin, not along an axis). For each d, rows are computed for
//   empirical  s_n (exact, kernels/empirical_score.hpp)
//   smoothed   s_delta for every delta in smoothing.deltas (in units of h):
//              the box kernel along e has the exact two-evaluation form
//              (solvers/smoothed_score.hpp: the data lie on the line), the
//              Gaussian kernel is integrated by Gauss-Hermite along e
//   model      the random-feature score trained by the exact gradient flow
//              (docs/math.md §6) on the empirical DSM loss of this training set,
//              at the training times tau_k = tau_fast^(1 - f_k) tau_slow^f_k,
//              f_k in model.tau_positions, [tau_fast, tau_slow] the flow's
//              eigen-timescale range m^2 / lambda (0: the fastest direction's
//              timescale, 1: the slowest kept one's)
// and for each score:
//   samples     sampler.samples reverse-SDE samples (solvers/sde/reverse_sde.hpp;
//               the same prior draw and Brownian path for every score of a d),
//               denoised by Tweedie's formula with the same score (sampler.denoise)
//   memorised   nearest / second-nearest training distance < metrics.ratio_threshold
//               (generalization/memorization.hpp)
//   along the   the histogram of the samples' position u in [0, 1] along the
//   segment     segment, metrics.bins_per_spacing bins per spacing, its total
//               variation and Kolmogorov-Smirnov distances to uniform
//               (interpolation gives ~0; memorisation gives spikes at the
//               points: TV ~ 1 - 2/bins_per_spacing), the fraction outside,
//               the mean distance off the line
//   likelihood  log p_theta of likelihood.heldout_points held-out points drawn
//               uniformly on the segment (streams::test_data) and of the
//               training points, by the probability-flow ODE with the
//               score's exact divergence (docs/math.md §9), p_theta the model's
//               density at schedule.t_min; the held-out mean with its
//               standard error, the train - held-out gap, and in d = 1 the
//               KL(U(segment) || p_theta) = -log(2 half_length) - E log p_theta
//               (in d > 1 the uniform law on a segment has no density: KL is
//               infinite, only the likelihoods are reported). For s_n the
//               exact log p_{t_min}^n of the held-out points is reported
//               beside the ODE's (the ODE transports pi, not p_T^n: the two
//               differ by ~KL(p_T^n || pi), a check on the solver).
// Numbers do not depend on the thread count (every piece is bitwise
// thread-independent).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/studies/model_config.hpp"
#include "gengap/generalization/memorization.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"
#include "gengap/solvers/smoothed_score.hpp"

namespace gengap {

// S1's model groups with this study's defaults: train_loss.draws_per_sample =
// 4096 (9 training points with S1's 256 draws would be 2304 design rows, a
// noisy loss; 4096 give 36864 rows, ~1 s of Gram matrix per d).
RandomFeatureModelConfig smoothing_model_defaults();

// The parameters. JSON form (to_json / smoothing_study_config_from_json):
// "seed", "model" (S1's model group: m, activation, ..., plus "tau_positions"),
// "train_loss", "schedule" and "weighting" exactly as S1's keys
// (studies/model_config.hpp), and the groups below under their names.
struct SmoothingStudyConfig {
  // The random-feature model's groups, S1's keys (seed, model, train_loss,
  // schedule, weighting).
  RandomFeatureModelConfig model_base = smoothing_model_defaults();
  // model.tau_positions, each in [0, 1]. Not 0.1: there (tau ~ 3e4) the
  // score is still ~0 and the reverse SDE carries the prior outwards by
  // ~e^T (samples 9-200 away from the line, measured d = 2..16).
  std::vector<double> tau_positions = {0.2, 0.4, 0.6, 0.8, 1.0};
  bool model_enabled = true;                                         // model.enabled

  struct Segment {
    std::size_t points = 9;    // n >= 2 training points
    double half_length = 2.0;  // the segment is [-half_length, half_length] along e
  } segment;
  std::vector<std::size_t> dims = {1, 2, 4, 8, 16};
  struct Sampler {
    std::size_t samples = 2000;
    // solvers/sde/reverse_sde.hpp's methods. adaptive: near t_min the empirical
    // score contracts at rate g^2 / sigma_t^2, which uniform steps resolve
    // only if they are small there (measured, d = 1, 2000 samples: s_n
    // memorises 99.3% with adaptive at 1e-2 in 854 evaluations per sample,
    // 92.3% with 1000 Euler-Maruyama steps, 99.3% with 4000).
    std::string method = "adaptive";
    std::size_t steps = 1000;               // fixed-step methods
    double rtol = 1e-2, atol = 1e-2;        // adaptive
    // Tweedie's denoising of each sample with its own score, x_0 = (x +
    // sigma^2 s(x, t_min)) / mu at t_min (E[x_0 | x_{t_min}] under that
    // score's model; for s_n the softmax-weighted mean of the training
    // points), before the metrics. Without it the samples keep the noise
    // sigma_{t_min} in every direction, sigma sqrt(d) = 0.18 at d = 16, a
    // third of the spacing: the ratio criterion then measured s_n's samples
    // 47% memorised at d = 16 (99% at d = 1).
    bool denoise = true;
  } sampler;
  struct Smoothing {
    SmoothingKernel kernel = SmoothingKernel::box;
    std::vector<double> deltas = {0.125, 0.25, 0.375, 0.5, 0.75, 1.0};  // in units of the spacing h, > 0
    std::size_t hermite_nodes = 64;  // Gaussian kernel
  } smoothing;
  struct Metrics {
    double ratio_threshold = 1.0 / 3.0;
    // The training points fall on bin edges: a memorised sample lands in one
    // of the two bins beside its point, so memorisation shows as TV ~
    // 1 - 2 / bins_per_spacing (0.75), interpolation as TV ~ the sampling noise
    // (~0.07 for 64 bins and 2000 samples).
    std::size_t bins_per_spacing = 8;
  } metrics;
  struct Likelihood {
    bool enabled = true;
    std::size_t heldout_points = 500;
    std::string method = "dopri5";
    // At 1e-5 s_n's ODE likelihood matches the exact log p_{t_min}^n to 7e-6
    // nats in d = 1 and 3.5e-4 in d = 16 (the exact_heldout_log_likelihood
    // column; 5e-6 in d = 1, 4 at 1e-6). The random-feature model's ODE takes
    // 1-2.5e4 evaluations per point at 1e-5 and 6-14e4 at 1e-6 (the ReLU
    // kinks): 1e-6 would make the model rows 5x slower for digits the
    // Monte Carlo error (~0.05 nats) does not resolve.
    double rtol = 1e-5, atol = 1e-5;
    std::size_t max_steps = 100000;
  } likelihood;

  double spacing() const;  // h
  const Schedule& schedule() const { return model_base.schedule; }
  ReverseSdeOptions sampler_options() const;    // the sampler group, seed = model_base.seed
  LikelihoodOptions likelihood_options() const;  // the likelihood group
  // Throws InvalidArgument naming the dotted key ("segment.points: ...").
  void validate() const;
};

nlohmann::ordered_json to_json(const SmoothingStudyConfig& config);
// Starts from the defaults and applies the keys present. Strict: unknown keys
// (including S1's keys that do not apply: target, n, tau, kl, ...), wrong
// types and bad names throw InvalidArgument naming the dotted key. Does not
// call validate().
SmoothingStudyConfig smoothing_study_config_from_json(const nlohmann::json& json);

enum class SmoothingScoreKind { empirical, smoothed, model };
std::string_view to_string(SmoothingScoreKind kind);  // "empirical" | "smoothed" | "model"

struct SmoothingRow {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  std::size_t dim = 1;
  SmoothingScoreKind kind = SmoothingScoreKind::empirical;
  std::size_t variant = 0;            // index into smoothing.deltas / tau_positions (0 for empirical)
  double delta = nan;                 // smoothed: absolute width
  double delta_per_spacing = nan;     // smoothed: delta / h
  double tau = nan;                   // model: training time (gengap's units)
  double tau_position = nan;          // model: f_k
  MemorizationReport memorization;
  SegmentHistogram histogram;
  std::size_t sampler_failed = 0;
  double sampler_evaluations = nan;   // score evaluations per sample
  bool likelihood_available = false;
  double heldout_log_likelihood = nan;     // mean over held-out points
  double heldout_log_likelihood_se = nan;  // its standard error
  double train_log_likelihood = nan;       // mean over the training points
  double likelihood_gap = nan;             // train - held-out
  double kl = nan;                         // d = 1: KL(U(segment) || p_theta), its se = the held-out se
  double exact_heldout_log_likelihood = nan;  // empirical: mean log p_{t_min}^n of the held-out points
  std::size_t likelihood_failed = 0;
  double likelihood_evaluations = nan;     // ODE evaluations per point
  double seconds = nan;
  Matrix samples;                          // N x d

  std::string label() const;        // "d=2 smoothed delta=0.5h", "d=1 model tau=3.2e+05"
  std::string score_label() const;  // the same without the dimension: "smoothed delta=0.5h"
  std::string file_stem() const;  // "d2_smoothed_3": the samples file's name
  static const std::vector<std::string>& columns();  // numeric columns of rows.csv, in order
  std::vector<double> row() const;
  nlohmann::ordered_json to_json() const;
};

struct SmoothingStudyResult {
  SmoothingStudyConfig config;
  std::vector<SmoothingRow> rows;  // by d (config order), then empirical, smoothed, model
  double seconds = 0.0;
};

struct SmoothingStudyCallbacks {
  // Before each row: its index, the number of rows, its label.
  std::function<void(std::size_t row, std::size_t rows, const std::string& label)> on_row_start;
  // After each row, in order.
  std::function<void(const SmoothingRow& row)> on_row;
  // Polled before each row: true stops (rows finished so far are returned).
  std::function<bool()> stop_requested;
};

// Rows of the study in order (their count: dims x (1 + deltas + taus)).
std::size_t smoothing_study_rows(const SmoothingStudyConfig& config);

// Validates, then runs the study (see the top of this file).
SmoothingStudyResult run_smoothing_study(const SmoothingStudyConfig& config,
                                         const SmoothingStudyCallbacks& callbacks = {});

// The training set of dimension d: points x segment (row i at u = i / (points - 1)).
Matrix segment_training_set(const SmoothingStudyConfig& config, std::size_t d);

}  // namespace gengap
