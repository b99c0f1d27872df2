#pragma once
// Reverse-time SDE samplers (MATH.md §2): starting from x_T ~ pi = N(0, v I),
// v = Schedule::prior_variance(), integrate
//   dx = [ f(t) x - g(t)^2 s(x, t) ] dt + g(t) dW-bar      from t = T down to t_min,
// for n independent trajectories in d dimensions. With h > 0 the (backward)
// step size and z ~ N(0, I), D(x, t) = f(t) x - g(t)^2 s(x, t):
//
//   euler_maruyama   x <- x - D(x, t) h + g(t) sqrt(h) z
//   stochastic_heun  x' = EM step;  x <- x - 1/2 [D(x, t) + D(x', t - h)] h
//                                        + 1/2 [g(t) + g(t - h)] sqrt(h) z
//                    (Heun predictor-corrector for additive noise, same z in both stages)
//   adaptive         Jolicoeur-Martineau et al. 2021, "Gotta Go Fast when generating
//                    data with score-based models": x' = EM step, x'' = the Heun step
//                    above (same z). Mixed error norm
//                      E = || (x' - x'') / delta ||_2 / sqrt(d),
//                      delta_j = max(atol, rtol max(|x_det_j|, |x_prev_j|)),
//                    accept (keep x'') iff E <= 1; either way
//                      h <- min(t - t_min, safety h E^(-r)),  r = 0.9 (their exponent).
//                    Initial h = 0.01 (T - t_min): their default 0.01 was set for
//                    T = 1 (VP/VE), so it is taken relative to the horizon here.
//                    A rejected attempt draws fresh noise (the next attempt index).
//                    Deliberate changes so that accept/reject never depends on z:
//                    the second stage is evaluated at the noise-free predictor
//                    x_det = x - D(x, t) h (the noise is then added to x'' as in
//                    Heun), so x' - x'' = h/2 [D(x_det, t - h) - D(x, t)], and delta
//                    uses |x_det_j| in place of |x'_j|. With the paper's version,
//                    acceptance selects small or drift-cancelling z and (through
//                    rtol |x'|) large |x'|; in low dimension (no averaging over d)
//                    that biases the law: measured on N(1, 0.5), d = 1, ou, the
//                    sample mean was 1.26 (variance 0.29-0.36) for rtol = atol =
//                    0.1, 0.01 and 0.001 alike. The scheme stays weak order 1
//                    (drift RK2 + EM noise).
//
// The fixed-step methods use `steps` uniform steps in t (t_k = T - k h). Each
// trajectory has its own time and step in `adaptive`; the score is evaluated
// once per stage on all active rows of a chunk, each row at its own time.
//
// denoise_last_step (fixed-step methods): the step that lands on t_min omits
// the noise term (it returns the step's mean, as Song et al.'s samplers do).
// No Tweedie correction x + sigma^2 s is applied: the result is a sample at
// t_min, not a denoised estimate of x_0. The adaptive sampler ignores it:
// its last step can be long, and dropping that step's g^2 h of variance
// (which its drift-only error estimate cannot see) biases the samples; Gotta
// Go Fast likewise keeps the noise in its loop.
//
// Randomness is counter-based (kernels/random.hpp): x_T[i, j] =
// sqrt(v) normal(i d + j) on streams::reverse_sde_prior; the Brownian increment
// of trajectory i, step (attempt) k, coordinate j is normal((i K + k) d + j) on
// streams::reverse_sde_noise, with K = steps (fixed-step methods) or max_steps
// (adaptive). Chunks of `chunk` rows run in parallel (TBB); each row depends
// only on itself, so samples are bitwise identical for any thread count.
//
// Failures never throw: a trajectory whose score or state turns non-finite,
// that exhausts max_steps or whose adaptive step underflows stops with a status
// and the time it happened; its row keeps its last finite state. Misuse throws
// InvalidArgument naming the field.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

namespace streams {
inline constexpr std::uint64_t reverse_sde_prior = 20;  // x_T ~ pi of the reverse-SDE samplers
inline constexpr std::uint64_t reverse_sde_noise = 21;  // Brownian increments of the reverse-SDE samplers
}  // namespace streams

// Batched score: t[r] is row r's time, x is rows x d, score is rows*d
// row-major. Must be safe to call concurrently (different chunks) and must
// depend on each row only.
using ScoreField = std::function<void(std::span<const double> t, MatrixView x, std::span<double> score)>;

struct ReverseSdeOptions {
  std::string method = "euler_maruyama";  // euler_maruyama | stochastic_heun | adaptive
  std::size_t steps = 1000;               // fixed-step methods: uniform steps in t
  double rtol = 1e-2;                     // adaptive
  double atol = 1e-2;                     // adaptive
  double safety = 0.9;                    // adaptive: step-size safety factor, in (0, 1]
  std::size_t max_steps = 100000;         // adaptive: step attempts (accepted + rejected) per trajectory
  std::uint64_t seed = 0;
  bool denoise_last_step = true;          // fixed-step methods: noise-free final step (see above)
  std::size_t chunk = 64;                 // rows per parallel work item

  // InvalidArgument naming the field: method, steps, rtol, atol, safety,
  // max_steps, chunk.
  void validate() const;
};

enum class SampleStatus { success, max_steps, step_underflow, non_finite };
const char* to_string(SampleStatus status);

struct SampleTrajectoryStats {
  std::size_t score_evaluations = 0;  // rows of this trajectory passed to the score
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  SampleStatus status = SampleStatus::success;
  double failure_time = 0.0;          // time of the failing evaluation/step (status != success)
};

struct SampleResult {
  Matrix samples;  // n x d at t_min (a failed row: its last finite state)
  std::vector<SampleTrajectoryStats> stats;
  std::size_t total_score_evaluations = 0;

  bool all_succeeded() const;
  // "" when all succeeded; otherwise the failure count and the first failing
  // trajectory's index, status and time.
  std::string failure_summary() const;
};

// n >= 1 trajectories in d >= 1 dimensions; InvalidArgument naming "n", "d",
// "score", a Schedule field, an option field, or "max_steps" when the noise
// index n K d does not fit in 64 bits.
SampleResult sample_reverse_sde(const Schedule& schedule, const ScoreField& score, std::size_t n, std::size_t d,
                                const ReverseSdeOptions& options);

}  // namespace gengap
