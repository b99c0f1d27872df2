#pragma once
// The step formulas of the reverse-time samplers, per coordinate, shared by
// the fixed-step and adaptive reverse-SDE loops (sde/reverse_sde.cpp) and
// predictor-corrector (sde/predictor_corrector.cpp). With the reverse drift
// D(x, t) = f(t) x - g(t)^2 s(x, t) and a step h > 0 backwards in time:
//   euler_maruyama      x - D(x, t) h + noise
//   stochastic_heun     x - 1/2 [D(x, t) + D(x', t - h)] h + noise   (x' the EM step)
//   reverse_diffusion   (2 - a) x + G^2 s(x, t) + noise              (Song et al.'s predictor,
//                       a = mu_t / mu_{t-h}, G^2 = sigma_t^2 - a^2 sigma_{t-h}^2)
//   langevin            x + eps s(x, t) + noise                      (the corrector)
// `noise` is the step's noise term for that coordinate (its scale times the
// Brownian or Gaussian draw), computed by the caller, which owns the draws.
namespace gengap::sde {

// D(x, t) = f x - g2 s for one coordinate.
inline double reverse_drift(double x, double s, double f, double g2) { return f * x - g2 * s; }

inline double euler_maruyama_step(double x, double s, double f, double g2, double h, double noise) {
  return x - reverse_drift(x, s, f, g2) * h + noise;
}

// From (x, s0) at t with drift terms (f0, g20) and the EM proposal (xp, s1) at t - h with (f1, g21).
inline double stochastic_heun_step(double x, double s0, double f0, double g20, double xp, double s1, double f1,
                                   double g21, double h, double noise) {
  return x - 0.5 * (reverse_drift(x, s0, f0, g20) + reverse_drift(xp, s1, f1, g21)) * h + noise;
}

inline double reverse_diffusion_step(double x, double s, double a, double G2, double noise) {
  return (2.0 - a) * x + G2 * s + noise;
}

inline double langevin_step(double x, double s, double eps, double noise) { return x + eps * s + noise; }

}  // namespace gengap::sde
