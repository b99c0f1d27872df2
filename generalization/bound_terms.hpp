#pragma once
// The terms of the paper's bounds (docs/math.md §10) along training time tau, for
// the exact gradient flow of study S1 on a Gaussian-mixture target:
//
//   score_matching      J_SM(A(tau); g^2) = 1/2 int_{t_min}^T g(t)^2 E_{p_t}|s_A - grad log p_t|^2 dt,
//                       exact in A: the explicit score-matching loss is quadratic in A with the
//                       Gram matrices of the population quadrature design under the likelihood
//                       weighting (Tweedie targets y = grad log p_t / c), so J_SM(A(tau)) is one
//                       projected loss along the flow (its time average times T - t_min)
//   prior_kl            KL(p_T || pi): p_T is the mixture diffused to T (exact), by quadrature
//   likelihood_bound    J_SM + KL(p_T || pi) >= KL(p_{t_min} || p_theta^SDE) (Song et al. 2021,
//                       the paper's Lemma 2; the reverse SDE run from pi at T down to t_min)
//   optimization_error  L_n(A(tau)) - min L_n, and its bound ||A_0 - A*||^2 / (2 tau)
//                       (GradientFlow::optimality_gap, distance_to_minimizer_squared)
//   monte_carlo_error   |L_{n,K} - L'_{n,K}| / sqrt(2) at A(tau), where L'_{n,K} is the same
//                       estimator with an independent set of draws (t, eps) (streams
//                       second_draws, second_draws_noise): two independent estimates differ by
//                       sqrt(2) times the rms error of one, so this estimates |L_{n,K} - L_n|
//   rademacher          empirical Rademacher complexity of {s_A : ||A||_F <= R} on the sample with
//                       R = ||A(tau)||_F (the norm the trajectory has reached):
//                       R / (m n) sqrt(sum_i ||phi(x_i)||^2) with ||phi(x_i)||^2 the lambda-weighted
//                       feature norm of sample i averaged over (t, eps), so that
//                       sum_i ||phi(x_i)||^2 = n tr(G_n) and the term is R sqrt(tr G_n) / (m sqrt n)
//   theorem_*           Theorem 1's shape terms tau^4/(m n), tau^3/m^2, 1/tau, 1/m in this
//                       library's time units (the theorem gives no constants; rescaling tau only
//                       rescales them)
//
// The norm growth ||A(tau) - A_0||_F and the gap L - L_n are S1's own curves.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

struct BoundSettings {
  bool score_matching = true;       // J_SM, and with it the likelihood bound (needs d <= 2)
  std::size_t time_nodes = 1024;    // Gauss-Legendre nodes in t of J_SM's design
  std::size_t space_nodes = 48;     // Gauss-Hermite nodes per coordinate of x_t ~ p_t
  std::size_t second_draws = 0;     // K of the second Monte Carlo loss (0: no Monte Carlo error)
  double prior_kl_tolerance = 1e-9; // absolute, on KL(p_T || pi)

  // InvalidArgument naming the field (time_nodes, space_nodes, prior_kl_tolerance).
  void validate() const;
};

struct BoundRow {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  double score_matching = nan;
  double likelihood_bound = nan;
  double optimization_error = nan;
  double optimization_bound = nan;  // +inf at tau = 0
  double loss_train_second = nan;   // L'_{n,K}(A(tau))
  double monte_carlo_error = nan;
  double rademacher = nan;
  double theorem_tau4_mn = nan;
  double theorem_tau3_m2 = nan;
  double theorem_inv_tau = nan;
  double theorem_inv_m = nan;
};

struct BoundTerms {
  std::vector<BoundRow> rows;  // one per tau
  double prior_kl = std::numeric_limits<double>::quiet_NaN();        // KL(p_T || pi) (NaN unless d = 1)
  double prior_kl_error = std::numeric_limits<double>::quiet_NaN();
  double distance_to_minimizer = 0.0;  // ||A_0 - A*||_F
  double gram_trace = 0.0;             // tr G_n
};

// KL(p_T || pi) of a mixture target under a schedule, by adaptive quadrature
// in d = 1 (window: every component's mean +- 40 standard deviations at T and
// the prior's); InvalidArgument("target") for d > 1.
struct PriorKl {
  double kl = 0.0;
  double error = 0.0;
};
PriorKl prior_kl(const GaussianMixture& target, const Schedule& schedule, double tolerance = 1e-9);

// Every term at each tau. loss_train[i] = L_n(A(tau[i])) of `flow` (S1's curve,
// from the Monte Carlo design with streams dsm_time/dsm_noise when
// settings.second_draws > 0). n = training_set rows. Parallel inside (Gram
// matrices); thread-count independent.
BoundTerms bound_terms_along_training(const GradientFlow& flow, std::span<const double> tau,
                                      std::span<const double> loss_train, const RandomFeatures& features,
                                      const GaussianMixture& target, MatrixView training_set, const DsmSetup& setup,
                                      const BoundSettings& settings, std::uint64_t seed);

}  // namespace gengap
