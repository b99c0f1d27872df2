#pragma once
// KL(p_0 || p_theta) = E_{x ~ p_0}[ log p_0(x) - log p_theta(x) ]   (docs/math.md §10)
// from log-densities only, two ways:
//
// * Monte Carlo over test samples x_i ~ p_0 (kl_monte_carlo):
//     KL ~ mean_i (log p_0(x_i) - log p_theta(x_i)),   SE = sd_i / sqrt(n_used)
//   (sd with the n - 1 denominator). A point whose log p_theta is not finite
//   (NaN: its likelihood ODE failed) is left out of both and counted in `failed`.
//
// * Adaptive composite Simpson quadrature in d = 1 (kl_quadrature) of
//     KL   = int p_0(x) (log p_0(x) - log p_theta(x)) dx
//     mass = int p_theta(x) dx   (1 for a normalised p_theta: a diagnostic)
//   on a grid of panels [a, m, b] (m the midpoint). log p_theta is requested
//   in batches, one call per round (all new nodes at once), so an expensive
//   density (the likelihood ODE) is evaluated in parallel by its callee.
//   Round 0 evaluates `initial_nodes` equally spaced nodes on [lower, upper].
//   Window: while the tail beyond an end, estimated as p(end) / slope of
//   log p over the outermost interval (infinite when log p does not fall
//   outwards), exceeds tolerance / 4 for p_theta or for the KL integrand's
//   p_0 part, that end moves out by the window's current width (a coarse
//   segment of (initial_nodes - 1) / 4 panels), at most `max_extensions`
//   times per end. Refinement: each panel carries an error estimate per
//   integrand, |S - T| for the initial panels (S Simpson, T the trapezoid on
//   the same three nodes: conservative) and |S_left + S_right - S_parent| / 30
//   for each half of a split panel (Richardson: Simpson's error is 1/15 of
//   that difference). Every panel whose estimate exceeds its share of the
//   tolerance, tolerance * width / window width, is split (two new nodes),
//   the largest first when the node budget does not allow all. Stops when
//   both total estimates are <= their tolerance (converged) or at the budget.
//   The KL's tolerance is max(tolerance, relative_tolerance * |KL|) with the
//   KL of the current grid: a KL of 2000 (a memorising model) is wanted to a
//   few digits, not to 1e-3, and resolving it to 1e-3 spent most of study
//   S1's time. The mass's tolerance is always the absolute `tolerance`.
//
// log p_0 must be finite or -inf (p_0 = 0 there: the KL integrand is 0). A
// non-finite log p_theta marks a failed node: its value is replaced by linear
// interpolation of log p_theta between the nearest finite nodes (constant
// beyond the last one) and the node is counted in failed_nodes; if every node
// fails, kl and mass are NaN.
#include <cstddef>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace gengap {

struct MonteCarloKl {
  double kl = std::numeric_limits<double>::quiet_NaN();              // NaN when no point succeeded
  double standard_error = std::numeric_limits<double>::quiet_NaN();  // NaN when fewer than 2 points
  std::size_t used = 0;    // points in the mean
  std::size_t failed = 0;  // points left out (non-finite log p_theta)
};

// log_p0[i] = log p_0(x_i) (finite), log_p_theta[i] = log p_theta(x_i) (not
// finite: failed). Same length >= 1; InvalidArgument naming "log_p0" / "log_p_theta".
MonteCarloKl kl_monte_carlo(std::span<const double> log_p0, std::span<const double> log_p_theta);

// log_p[k] = log p(x[k]) for a batch of points in d = 1 (same length).
using LogDensity1d = std::function<void(std::span<const double> x, std::span<double> log_p)>;

struct KlQuadratureOptions {
  double lower = -10.0;              // initial window [lower, upper]
  double upper = 10.0;
  std::size_t initial_nodes = 129;   // odd >= 5 (an even number of intervals)
  std::size_t max_nodes = 4097;      // budget: nodes of the final grid (>= initial_nodes)
  double tolerance = 1e-4;           // absolute, on KL and on the mass each
  double relative_tolerance = 0.0;   // on KL only, beside the absolute one (0: absolute only)
  std::size_t max_extensions = 10;   // window extensions per end

  // InvalidArgument naming the field: lower/upper (non-finite, lower >= upper),
  // initial_nodes, max_nodes, tolerance (<= 0 or non-finite), relative_tolerance
  // (< 0 or non-finite).
  void validate() const;
};

struct KlQuadratureResult {
  double kl = std::numeric_limits<double>::quiet_NaN();
  // Sum of the panels' estimates: the discretisation error only, not the
  // error of the log p_theta values themselves (an ODE's shows in |mass - 1|).
  double kl_error = std::numeric_limits<double>::quiet_NaN();
  double mass = std::numeric_limits<double>::quiet_NaN();        // int p_theta over the final window
  double mass_error = std::numeric_limits<double>::quiet_NaN();
  double lower = 0.0;  // final window
  double upper = 0.0;
  bool converged = false;       // both estimates <= their tolerance within the budget
  bool window_complete = true;  // false: a tail was still above tolerance / 4 after max_extensions
  std::size_t rounds = 0;       // calls of log_p_theta
  std::size_t failed_nodes = 0;
  // The final grid, ascending: x, log p_0, log p_theta (failed nodes interpolated).
  std::vector<double> x;
  std::vector<double> log_p0;
  std::vector<double> log_p_theta;

  std::size_t nodes() const { return x.size(); }
  // |mass - 1| <= tolerance (docs/studies.md S1: 1e-3).
  bool mass_ok(double tolerance = 1e-3) const;
};

KlQuadratureResult kl_quadrature(const LogDensity1d& log_p0, const LogDensity1d& log_p_theta,
                                 const KlQuadratureOptions& options);

}  // namespace gengap
