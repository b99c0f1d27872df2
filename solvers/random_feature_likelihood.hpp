#pragma once
// Log-likelihood of the random-feature model (docs/math.md §3, §9) with its exact
// divergence, and for the relu activation without integrating that divergence
// as an ODE component.
//
// Why: for relu, div_x s_A = c(t)/m sum_j kappa_j H(z_j(x, t)) (kappa_j =
// a_j . w_j, H the step function) jumps by c kappa_j / m wherever the
// trajectory crosses a kink z_j = 0 (hundreds per trajectory at m = 1024).
// With ell in the ODE state each jump forces the step controller down to
// steps of ~tol / jump: on study S1's late, memorising model 38 000 field
// evaluations per point at rtol 1e-5, against 750 for x alone (measured).
//
// How: the ODE state is x alone, dx/dt = f(t) x - 1/2 g(t)^2 s_A(x, t), under
// the usual error control; after every accepted step [t0, t1] the divergence
// integral is added exactly for the step's path, the driver's cubic Hermite
// dense output x_H(t) (IntegrateResult's, O(h^4)):
//   ell += d int_{t0}^{t1} f dt - 1/2 (1/m) sum_j kappa_j int_{t0}^{t1} g^2 c H(z_j(x_H(t), t)) dt.
// A feature with z_j of one sign at both ends is on (or off) for the whole
// step; for one whose sign changes between the ends and the midpoint of the
// step (so a path that crosses and comes back is caught too), each crossing t* solves
// z_j(x_H(t*), t*) = 0 (Illinois regula falsi to 1e-14 of the step), and it
// is on over [t0, t*] or [t*, t1]. int g^2 c and int f over each piece are
// 8-point Gauss-Legendre (smooth integrands; exact for ou with c = 1). A
// feature crossing its kink twice inside one accepted step (a path grazing
// the kink) is taken as on or off throughout: its error is kappa_j / m times
// the grazing time, which the x error control keeps small.
// The accuracy of ell is then that of x(t), set by rtol / atol on x alone.
//
// With a sin/cos embedding the steps are at most a quarter period of its
// fastest frequency, so that z_j(t) crosses 0 at most once per half step.
// Each oscillation of e(t) makes every feature cross its kink twice: past two
// oscillations over [t_min, T] the crossings are ~2 m omega T per path, not set
// by x (the paper's Fourier scale 30 at m = 256: 65 000 per path), and a root
// solve each costs more than stepping through the jumps (3.5x slower,
// measured): such embeddings take the ODE-state path (kink_pass_pays_off).
//
// Other activations are smooth: their divergence goes into the ODE state as
// in log_likelihood(schedule, random_feature_score(...), ...).
//
// Same options, result and failure reporting as log_likelihood
// (solvers/likelihood.hpp); stats count field evaluations of x (each kink
// pass after an accepted step costs about one more). Bitwise independent of
// the thread count.
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

// relu, and no sin/cos embedding with more than two oscillations over [t_min, T].
bool kink_pass_pays_off(const RandomFeatures& rf, const Schedule& schedule, const LikelihoodOptions& options);

// A is d x m; data N x d. InvalidArgument naming the field on bad input.
LikelihoodResult log_likelihood_random_features(const Schedule& schedule, const RandomFeatures& rf, const Matrix& A,
                                                const DsmSetup& setup, const Matrix& data,
                                                const LikelihoodOptions& options);

}  // namespace gengap
