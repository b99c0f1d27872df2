#pragma once
// The diffusion-time bound of seed 000 (Chen, Zhu, Shkurti 2025; docs/math.md §11,
// docs/diffusion_time.md) at one horizon T, from the training set and the
// trained model alone, beside the exact prior term of a known mixture target.
//
// With the encoder E_T(x) = N(mu_T x, sigma_T^2 I), the diffused empirical
// distribution p_T^n = (1/n) sum_j E_T(x_j) and the prior pi = N(0, v I):
//   encoder_kl     = (1/n) sum_i KL(E_T(x_i) || pi)            (closed form)
//   information    = I_T = (1/n) sum_i KL(E_T(x_i) || p_T^n)   in [0, log n]
//                    (Gauss-Hermite in x per point, log p_T^n by streaming log-sum-exp)
//   prior_kl_data  = KL(p_T^n || pi) = encoder_kl - information (an identity:
//                    the data-only estimate of the prior term)
//   prior_kl       = KL(p_T || pi) of the target diffused to T (exact, quadrature)
//   encoder_term   = sqrt(2) R (1/n) sum_i sqrt(KL(E_T(x_i) || pi))
//   score_norm     = L_T = max over a Gauss-Legendre t grid on [t_min, T] of
//                    (1/(nR)) sum_i sum_r |s_theta(mu_t x_i + sigma_t z_ir, t)|, z_ir ~ N(0, I)
//                    (the authors' code's statistic, a mean over points and max over
//                    t, with R = score_draws noise draws per point instead of one);
//                    score_norm_se = its Monte Carlo standard error given the
//                    training set, from the spread within each point's R draws
//   diffusion_integral = int_0^T g(t)^2 dt
//   generator_term = sqrt(2) R sqrt(L_T^2 diffusion_integral / (2 n))
//   bound          = train_loss - information + encoder_term + generator_term
//   generator_term_se = bound_se = the generator term's share of score_norm_se
//                    (the other terms are exact given the training set, up to
//                    quadrature errors below 1e-9)
// R is the sub-Gaussian constant of the loss (a user input: 5 for the
// authors' 2-D toy data). As T grows, -I_T rises from -log n to 0, the encoder
// term falls to 0 and the generator term grows ~sqrt(T): an interior optimum.
// d = 1 only (the Gauss-Hermite rule is per coordinate).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>

#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

struct DiffusionTimeBoundOptions {
  double R = 5.0;                      // sub-Gaussian constant
  // Per training point, for I_T. log p_T^n bends sharply between points closer
  // than sigma_T, so the rule converges algebraically, not spectrally
  // (measured, 6 points at T = 0.2: error 6e-7 at 48 nodes, 8e-9 at 96, 2e-10
  // at 128). Cost n^2 x nodes streaming evaluations (0.1 s at n = 1000).
  std::size_t hermite_nodes = 128;
  std::size_t score_time_nodes = 32;   // t grid of L_T
  std::size_t score_draws = 4;         // z draws per training point in L_T (>= 2: its standard error)
  std::uint64_t seed = 0;              // z_ir of L_T (streams::bound_noise)
  double prior_kl_tolerance = 1e-9;    // absolute, on KL(p_T || pi)
  // InvalidArgument naming the field (R, hermite_nodes, score_time_nodes, score_draws, prior_kl_tolerance).
  void validate() const;
};

struct DiffusionTimeBound {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  double T = nan;
  double prior_kl = nan;        // KL(p_T || pi), NaN without a target
  double prior_kl_error = nan;  // its quadrature error estimate
  double prior_kl_data = nan;   // KL(p_T^n || pi)
  double information = nan;     // I_T
  double encoder_kl = nan;
  double encoder_term = nan;
  double score_norm = nan;      // L_T
  double score_norm_se = nan;   // its Monte Carlo standard error (NaN for n = 1)
  double diffusion_integral = nan;
  double generator_term = nan;
  double generator_term_se = nan;
  double train_loss = nan;
  double bound = nan;
  double bound_se = nan;
};

// KL(N(mean, variance I) || N(0, prior_variance I)) in d = mean.size():
//   1/2 (d variance / v + |mean|^2 / v - d + d log(v / variance)).
double gaussian_kl_to_prior(std::span<const double> mean, double variance, double prior_variance);

// I_T = (1/n) sum_i KL(N(mu x_i, sigma^2) || (1/n) sum_j N(mu x_j, sigma^2)) for an n x 1 training set.
double encoder_information(const Matrix& training, double mu, double sigma, std::size_t hermite_nodes);

// int_0^T g(t)^2 dt (Gauss-Legendre, 64 nodes: exact for ou and vp, whose g^2 is
// a polynomial of degree <= 1; relative error < 1e-12 for ve's exponential).
double diffusion_integral(const Schedule& schedule);

// The terms that depend on T and the training set alone (prior_kl,
// prior_kl_error, prior_kl_data, information, encoder_kl, encoder_term,
// diffusion_integral; the model's fields NaN): computed once per T, shared
// by every model trained at that T.
DiffusionTimeBound diffusion_time_data_terms(const Schedule& schedule, const Matrix& training,
                                             const std::optional<GaussianMixture>& target,
                                             const DiffusionTimeBoundOptions& options = {});
// The model's terms and the bound on top of data_terms (of the same T and
// training set; InvalidArgument("data_terms") for another T).
DiffusionTimeBound diffusion_time_bound(const DiffusionTimeBound& data_terms, const Schedule& schedule,
                                        const Matrix& training, const RandomFeatures& rf, const Matrix& A,
                                        const DsmSetup& setup, double train_loss,
                                        const DiffusionTimeBoundOptions& options = {});

// Every term at the schedule's horizon T for the model A (d x m) with the
// features rf and its DSM setup (whose schedule must be `schedule`), trained
// on `training` (n x 1) to an empirical loss train_loss; target (optional):
// the prior_kl reference. InvalidArgument naming the field on bad input.
DiffusionTimeBound diffusion_time_bound(const Schedule& schedule, const Matrix& training, const RandomFeatures& rf,
                                        const Matrix& A, const DsmSetup& setup, double train_loss,
                                        const std::optional<GaussianMixture>& target,
                                        const DiffusionTimeBoundOptions& options = {});

// Where a curve sampled on an ascending grid of positive x is smallest: the
// grid index of the smallest finite y, and x refined by the parabola in log x
// through it and its two neighbours (the grid point itself at an end of the
// grid or when the parabola does not open upwards). InvalidArgument naming
// "x" (empty, not ascending, not positive, size differs from y) or "y" (no
// finite value).
struct GridMinimum {
  std::size_t index = 0;
  double x = 0.0;       // refined
  double value = 0.0;   // y at the grid index
  bool interior = false;
};
GridMinimum grid_minimum(std::span<const double> x, std::span<const double> y);

}  // namespace gengap
