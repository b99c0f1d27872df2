#pragma once
// The paper's own learned density in d = 1 (its (11); docs/math.md §9, last
// paragraph): the score at a fixed time t (t_min) integrated in x,
//   log p~(x) = int_{x_ref}^x s(y, t) dy - log Z,   Z = int_lower^upper exp(int_{x_ref}^y s) dy,
// normalised numerically over the window [lower, upper], x_ref = lower (the
// constant cancels in the normalisation). An alternative to the ODE
// likelihood (solvers/likelihood.hpp), which is the default.
//
// Construction tabulates F(y) = int_lower^y s on `panels` equal panels, each
// with the `order`-point Gauss-Legendre rule:
//   - F at the panel edges by the Gauss-Legendre sums (exact for polynomial
//     s of degree 2 order - 1 on the panel),
//   - F at the nodes inside a panel by spectral integration of the Lagrange
//     interpolant of s through the panel's nodes (no extra evaluations;
//     exact for polynomial s of degree order - 1),
//   - log Z = log-sum-exp over all nodes of F(y_q) + log w_q (never
//     overflows, whatever the range of F).
// Cost: panels * order score evaluations, in one batched call.
// log_density(x) adds int_{edge}^x s by an order-point Gauss-Legendre rule
// from the left edge of x's panel (order evaluations per query, one batched
// call for all queries, any order). Queries outside the window are evaluated
// from the nearest window edge (with panels of the same width, so the
// accuracy holds there too), but the normaliser only covers the window:
// choose it to hold the mass (e.g. the data range +- 10 std). Queries more
// than one window width outside it are rejected (InvalidArgument "x"). The error is
// that of the composite rule: for the exact diffused-mixture score with
// panels of width <= 0.05 std and order 8, ~1e-13 relative.
// Non-finite score values throw NumericalError naming the point.
#include <cstddef>
#include <span>
#include <vector>

#include "gengap/solvers/sde/reverse_sde.hpp"

namespace gengap {

struct ScoreIntegralOptions {
  double lower = -10.0;       // window of the normaliser, lower < upper, finite
  double upper = 10.0;
  std::size_t panels = 2000;  // equal panels over [lower, upper]
  std::size_t order = 8;      // Gauss-Legendre nodes per panel, 1 <= order <= 64

  // InvalidArgument naming "lower"/"upper", "panels", "order".
  void validate() const;
};

class ScoreIntegralDensity {
 public:
  // score: a 1-D ScoreField (rows x 1); t > 0 finite (InvalidArgument "t").
  // Keeps a copy of the callable for log_density.
  ScoreIntegralDensity(ScoreField score, double t, const ScoreIntegralOptions& options);

  double t() const { return t_; }
  const ScoreIntegralOptions& options() const { return options_; }
  double log_normaliser() const { return log_z_; }  // log Z
  std::size_t score_evaluations() const { return evaluations_; }  // of the tabulation (panels * order)

  // log p~(x_i) for each query (finite, within one window width of the
  // window; InvalidArgument "x" otherwise).
  // Thread-safe if the score is (const; one batched score call).
  std::vector<double> log_density(std::span<const double> x) const;
  // The tabulation itself: nodes of every panel in increasing order and
  // log p~ there, with the quadrature weights w (sum_q w_q exp(log p~_q) = 1).
  const std::vector<double>& nodes() const { return nodes_; }
  const std::vector<double>& node_log_density() const { return node_log_density_; }
  const std::vector<double>& node_weights() const { return node_weights_; }

 private:
  ScoreField score_;
  double t_;
  ScoreIntegralOptions options_;
  double width_ = 0.0;               // panel width
  std::vector<double> edge_F_;       // F at the panels' left edges (panels + 1 entries)
  std::vector<double> nodes_, node_log_density_, node_weights_;
  std::vector<double> unit_nodes_, unit_weights_;  // Gauss-Legendre on [0, 1]
  double log_z_ = 0.0;
  std::size_t evaluations_ = 0;
};

}  // namespace gengap
