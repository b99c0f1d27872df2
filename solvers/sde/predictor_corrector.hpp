#pragma once
// Predictor-corrector sampler for the reverse-time SDE (docs/math.md §2; Song et al.
// 2021, "Score-Based Generative Modeling through Stochastic Differential
// Equations", Alg. 2-3 and their code's ReverseDiffusionPredictor /
// EulerMaruyamaPredictor + LangevinCorrector). Starts from x_T = prior_sample
// (the same draw as sample_reverse_sde for a seed) on the uniform grid
// t_k = T - k h, h = (T - t_min)/N, and at each k = 0..N-1 (their order):
//
//   corrector, C times at t = t_k (Langevin MCMC on p_t):
//       eps = 2 alpha (snr mean_i |z_i| / mean_i |s_i|)^2
//       x_i <- x_i + eps s(x_i, t) + sqrt(2 eps) z_i
//   predictor t_k -> t_{k+1} = t_k - h, with a = mu_t / mu_{t-h} (the forward
//   one-step contraction) and G^2 = sigma_t^2 - a^2 sigma_{t-h}^2 (the exact
//   forward one-step variance):
//       reverse_diffusion  x <- (2 - a) x + G^2 s(x, t) + G z
//       euler_maruyama     x <- x - [f(t) x - g(t)^2 s(x, t)] h + g(t) sqrt(h) z
//
// reverse_diffusion is Song et al.'s "reverse diffusion" discretisation
// (x - f_disc + G^2 s with the forward step x_{t} = a x_{t-h} + G xi, f_disc
// = (a - 1) x) with the exact transition kernel of the schedule: for ve it is
// their SMLD form (a = 1, G^2 = sigma_t^2 - sigma_{t-h}^2), for vp/ou their
// DDPM form (a = sqrt(1 - beta_i), G^2 = beta_i = 1 - a^2). Both predictors
// agree with Euler-Maruyama to O(h^2) per step.
//
// alpha = a^2 = (mu_t / mu_{t-h})^2: for vp this is their alpha_i = 1 - beta_i
// (to O(h^2)), for ve it is 1 (as in their code), for ou e^{-2h}. It only
// rescales eps by 1 - O(h); it is kept so that snr means what it means in
// their configurations (snr = 0.16 for their VE CIFAR-10 models).
//
// The norms: |s_i|, |z_i| are Euclidean norms of row i; the means run over
// all active rows of the batch (n), as in their code (norm per sample, mean
// over the batch). A per-row eps_i = 2 alpha (snr |z_i|/|s_i|)^2 is not used:
// in low dimension |s_i| -> 0 near a mode's centre (or between modes) makes
// eps_i unbounded and the chain a Langevin scheme with a position-dependent,
// heavy-tailed step, which is biased. The batch means are summed in row order
// after each parallel phase, so the samples are bitwise identical for any
// thread count and any chunk size, but row i depends on the batch (n and the
// other rows), as in their code. If every active row has s = 0 the step is
// undefined and the corrector leaves the batch unchanged.
//
// denoise_last_step: the last predictor step (onto t_min) omits its noise
// (their `denoise`: the step's mean). corrector_steps = 0 gives the predictor
// alone (reverse_diffusion: the ancestral sampler).
//
// Randomness is counter-based (kernels/random.hpp): the predictor's z for row
// i, step k, coordinate j is normal((i N + k) d + j) on streams::predictor_noise;
// the corrector's z for row i, step k, corrector step c is normal(((i N + k) C
// + c) d + j) on streams::langevin_noise.
//
// Failures never throw: a row whose score or new state is non-finite stops
// with TrajectoryStatus::non_finite at the time t_k of that evaluation, keeps
// its last finite state and leaves the batch means. stats[i].rhs_evaluations
// = (C + 1) per step; accepted = predictor steps. Misuse throws
// InvalidArgument naming the field.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gengap/solvers/sde/sample.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

enum class Predictor { reverse_diffusion, euler_maruyama };
const char* to_string(Predictor predictor);
// "reverse_diffusion" | "euler_maruyama"; InvalidArgument("predictor", ...) otherwise.
Predictor parse_predictor(const std::string& name);

struct PredictorCorrectorOptions {
  Predictor predictor = Predictor::reverse_diffusion;
  std::size_t steps = 1000;                     // N predictor steps, uniform in t
  std::size_t corrector_steps = 1;              // C Langevin steps before each predictor step
  double snr = 0.16;                            // signal-to-noise ratio r of the corrector, > 0
  std::uint64_t seed = 0;
  bool denoise_last_step = true;                // noise-free final predictor step
  std::size_t chunk = 64;                       // rows per parallel work item

  // InvalidArgument naming the field: predictor, steps, snr, chunk.
  void validate() const;
};

// n >= 1 trajectories in d >= 1 dimensions; InvalidArgument naming "n", "d",
// "score", a Schedule field, an option field, or "steps" / "corrector_steps"
// when a noise index overflows 64 bits.
SampleResult sample_predictor_corrector(const Schedule& schedule, const ScoreField& score, std::size_t n,
                                        std::size_t d, const PredictorCorrectorOptions& options);

}  // namespace gengap
