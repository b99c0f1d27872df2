#pragma once
// KL(p_0 || p_theta(tau)) of the random-feature model along its training
// trajectory A(tau) (docs/math.md §9, §10; docs/studies.md S1), by both estimators of
// kl.hpp with log p_theta from the likelihood ODE (solvers/likelihood.hpp).
//
// Which densities: p_0 is the target at t = 0 (known mixture); p_theta is the
// model's density at t_min, log p_theta = log pi(x(T)) + ell(T) from the
// probability-flow ODE of s_A over [t_min, T] — the density the likelihood
// ODE defines (its definition stops at t_min, where training stopped). Even
// the exact score cannot do better than its own density at t_min, p_{t_min}
// (up to the prior term KL(p_T || pi), at most mu^2 e^{-2T} / 2 = 2e-4 for the
// S1 target and ~(mu e^{-T})^4 / 4 ~ 4e-8 by its symmetry),
// so floor() reports KL(p_0 || p_{t_min}) for the exact diffused mixture, by
// quadrature: the part of KL(p_0 || p_theta) that is t_min smoothing, not
// model error.
//
// score_integral(A) is the same quadrature KL with the paper's own learned
// density (its (11), solvers/score_integral_density.hpp) in place of the ODE
// one: log p~(x) = int s_A(y, t_min) dy normalised on the quadrature window
// (the density the paper's code evaluates). It needs no ODE, so it is cheap,
// and it is a different distribution from the ODE's: the two agree only when
// s_A(., t_min) is the score of the ODE's density at t_min (e.g. the exact
// score), so their difference along tau is a measured fact, not an error.
//
// Everything that does not depend on A is built once: the test samples
// x_i ~ p_0 (streams::test_data under the seed) and log p_0 at them, the
// quadrature window, the floor. monte_carlo(A) and quadrature(A) are const
// and may run concurrently for different A (each parallelises internally
// over points through log_likelihood).
#include <cstddef>
#include <cstdint>
#include <span>

#include "gengap/generalization/kl.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

// The ODE's global error in log p_theta is ~10-100x its rtol (measured on the
// S1 model, against rtol = 1e-8): the Monte Carlo KL, whose standard error is
// ~0.02 at 2000 points, needs far less than the quadrature, whose mass must
// be 1 within 1e-3 — hence two sets of ODE options. t_min (empty: the
// schedule's) is taken from `likelihood` for both. Study S1's values:
// EarlyStoppingConfig::kl_settings().
struct KlSettings {
  std::size_t test_points = 2000;  // Monte Carlo test samples; 0: no Monte Carlo KL
  LikelihoodOptions likelihood;    // Monte Carlo: method, rtol, atol, max_steps, t_min
  bool quadrature = true;          // quadrature KL (d = 1 only)
  LikelihoodOptions quadrature_likelihood;  // quadrature nodes: as above (its t_min is ignored)
  std::size_t quadrature_nodes = 129;
  std::size_t quadrature_max_nodes = 4097;
  double quadrature_tolerance = 1e-3;
  double quadrature_relative_tolerance = 0.0;  // KlQuadratureOptions::relative_tolerance
  double mass_tolerance = 1e-3;    // |int p_theta - 1| above this flags the row
  // The paper's score-integral density (solvers/score_integral_density.hpp):
  // Gauss-Legendre panels (order 8) of this width at most over the window.
  double score_integral_panel_width = 0.01;
};

// Bits of KlAtTau::flags: why a row's KL should not be taken at face value.
namespace kl_flags {
inline constexpr unsigned mass = 1;                    // |int p_theta - 1| > mass_tolerance
inline constexpr unsigned ode_failed_points = 2;       // Monte Carlo: some test points' ODE failed (excluded)
inline constexpr unsigned quadrature_unconverged = 4;  // node budget reached before the tolerance
inline constexpr unsigned quadrature_failed_nodes = 8; // some nodes' ODE failed (bridged)
inline constexpr unsigned window_incomplete = 16;      // p_theta's tails reach beyond the widest window
}  // namespace kl_flags

struct KlMonteCarloAtTau {
  MonteCarloKl kl;
  double evaluations_per_point = 0.0;  // mean right-hand-side evaluations of the ODE per test point
  std::size_t max_evaluations = 0;     // the costliest point's
  unsigned flags = 0;
};

struct KlQuadratureAtTau {
  KlQuadratureResult kl;
  double evaluations_per_node = 0.0;  // mean ODE right-hand-side evaluations per grid node
  unsigned flags = 0;
};

class KlAlongTraining {
 public:
  // training_set (n x d) widens the quadrature window to cover it; features
  // and setup define s_A. Copies what it needs except `features`, which must
  // outlive this object. InvalidArgument naming the field ("test_points",
  // "quadrature_nodes", a likelihood option, ...) on bad settings; quadrature
  // requires d = 1.
  KlAlongTraining(const GaussianMixture& target, MatrixView training_set, const RandomFeatures& features,
                  const DsmSetup& setup, const KlSettings& settings, std::uint64_t seed);

  // A is d x m.
  KlMonteCarloAtTau monte_carlo(const Matrix& A) const;
  KlQuadratureAtTau quadrature(const Matrix& A) const;
  // d = 1, quadrature enabled; the score-integral tabulation uses panels of
  // width <= score_integral_panel_width over the initial window.
  KlQuadratureResult score_integral(const Matrix& A) const;

  // KL(p_0 || p_{t_min}) of the exact diffused target, by quadrature on the same window.
  const KlQuadratureResult& floor() const { return floor_; }
  double t_min() const { return t_min_; }
  const Matrix& test_points() const { return test_points_; }
  const std::vector<double>& test_log_p0() const { return test_log_p0_; }
  // The initial quadrature window (p_0's support to 10 standard deviations and the training set).
  double lower() const { return window_.lower; }
  double upper() const { return window_.upper; }

 private:
  GaussianMixture target_;
  const RandomFeatures& features_;
  DsmSetup setup_;
  KlSettings settings_;
  double t_min_ = 0.0;
  Matrix test_points_;
  std::vector<double> test_log_p0_;
  KlQuadratureOptions window_;
  KlQuadratureResult floor_;
};

}  // namespace gengap
