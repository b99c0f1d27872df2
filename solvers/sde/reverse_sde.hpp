#pragma once
// Reverse-time SDE samplers (docs/math.md §2): starting from x_T ~ pi = N(0, v I),
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
//                    data with score-based models", Alg. 1: with dW the step's
//                    Brownian increment (variance h per coordinate),
//                      x'  = x - D(x, t) h + g(t) dW                       (EM)
//                      x'' = x - 1/2 [D(x, t) + D(x', t - h)] h
//                              + 1/2 [g(t) + g(t - h)] dW                  (improved Euler)
//                    E = || (x' - x'') / delta ||_2 / sqrt(d),
//                    delta_j = max(atol, rtol max(|x'_j|, |x_prev_j|));
//                    accept (keep x'') iff E <= 1; either way the proposal is
//                      h <- min(t - t_min, safety h E^(-r)),  r = 0.9 (their exponent).
//                    Initial h = 0.01 (T - t_min): their default 0.01 was set for
//                    T = 1 (VP/VE), so it is taken relative to the horizon here.
//                    The error sees the noise (through D(x', .)), which is what
//                    limits the step where the drift is nearly linear.
//                    Rejections: Rejection Sampling with Memory (RSwM1, Rackauckas
//                    & Nie 2017). A rejected dW is not redrawn: the shorter
//                    step's increment is drawn from the Brownian bridge given
//                    dW, and the remainder of the interval (length, increment)
//                    is pushed on the trajectory's stack; after an accepted step
//                    the next increment is the stack's top piece (split again
//                    by the bridge if the proposal is shorter), fresh noise only
//                    when the stack is empty. Every trajectory thus follows one
//                    Brownian path whatever the decisions, so accept/reject
//                    (which looks at dW) cannot select the noise. (Redrawing on
//                    rejection does: measured on N(1, 0.5), d = 1, ou, the
//                    sample mean was 1.26 for rtol = atol = 0.1 to 0.001; and
//                    an error estimate evaluated at the noise-free predictor
//                    instead is blind to the noise and lets steps grow until
//                    the EM noise inflates the variance, e.g. +78% for a sharp
//                    1-d Gaussian, variance 0.01, under ve sigma = 50 at tol
//                    0.002.) Weak order 1.
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
// sqrt(v) normal(i d + j) on streams::reverse_sde_prior (prior_sample: every
// sampler, including predictor_corrector.hpp and probability_flow_sampler.hpp,
// starts from this draw for a given seed); the Brownian increment
// of trajectory i, step (attempt) k, coordinate j is normal((i K + k) d + j) on
// streams::reverse_sde_noise, with K = steps (fixed-step methods) or max_steps
// (adaptive: k is the attempt that first uses the draw; each attempt makes at
// most one, fresh or bridge). Chunks of `chunk` rows run in parallel (TBB); each row depends
// only on itself, so samples are bitwise identical for any thread count.
//
// Failures never throw: a trajectory whose score or state turns non-finite,
// that exhausts max_steps or whose adaptive step underflows stops with a status
// (TrajectoryStatus, shared with the ODE driver) and the time it happened; its
// row keeps its last finite state. Misuse throws InvalidArgument naming the field.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/schedule.hpp"
#include "gengap/solvers/sde/sample.hpp"

namespace gengap {

enum class ReverseSdeMethod { euler_maruyama, stochastic_heun, adaptive };
const char* to_string(ReverseSdeMethod method);
// "euler_maruyama" | "stochastic_heun" | "adaptive"; InvalidArgument("method", ...) otherwise.
ReverseSdeMethod parse_reverse_sde_method(const std::string& name);

struct ReverseSdeOptions {
  ReverseSdeMethod method = ReverseSdeMethod::euler_maruyama;
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

// n >= 1 trajectories in d >= 1 dimensions; InvalidArgument naming "n", "d",
// "score", a Schedule field, an option field, or "max_steps" when the noise
// index n K d does not fit in 64 bits.
SampleResult sample_reverse_sde(const Schedule& schedule, const ScoreField& score, std::size_t n, std::size_t d,
                                const ReverseSdeOptions& options);

}  // namespace gengap
