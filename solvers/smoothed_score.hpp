#pragma once
// The smoothed empirical score (docs/math.md §8, seed 003): s_n averaged in x over
// a kernel k_delta,
//   s_delta(x, t) = E_{u ~ k_delta}[ s_n(x + u, t) ],
//   div s_delta   = E_{u ~ k_delta}[ div s_n(x + u, t) ]   (differentiation commutes with the average),
// with s_n and its exact divergence from kernels/empirical_score.hpp.
// Kernels: box of half-width delta (default) and Gaussian of standard
// deviation delta, applied either along one unit direction e (the line the
// training data lie on, embedded in R^d: u = v e, v ~ box/Gaussian in 1-D) or
// per coordinate (a product kernel on R^d: tensor quadrature grid, small d only).
//
// Evaluation:
// - delta = 0: s_n itself (the same call, bitwise).
// - box, closed_form, and d = 1 or the training points collinear along the
//   given direction e (the seed's setting: data on a line embedded in R^d):
//   e . s_n = d/dv log p_t^n(x + v e), so the average along e is exact,
//     e . s_delta = ( log p_t^n(x + delta e) - log p_t^n(x - delta e) ) / (2 delta),
//   and the rest of s_n does not depend on v: with x_i = c + v_i e,
//   P s_n(x + v e) = (mu_t P c - P x) / sigma_t^2 (P = I - e e^T: the weights
//   only move mass along e), so P s_delta = P s_n(x +- delta e) (their mean is
//   taken). The Hessian of log p_t^n is -I / sigma^2 + mu^2 Var_w(v_i) e e^T /
//   sigma^4, whose trace across e is -(d - 1) / sigma^2 for every v, so
//     div s_delta = ( e . s_n(x + delta e) - e . s_n(x - delta e) ) / (2 delta) - (d - 1) / sigma_t^2.
//   Two streaming evaluations per query whatever d. Collinear means every
//   |P (x_i - x_0)| <= 1e-12 (1 + max_i |x_i|) (rounding of an embedded line).
//   Rounding: about eps |log p| / delta absolute (a difference of two
//   log-densities), so for delta far below the scale sigma_t the quadrature
//   is the more accurate choice.
// - otherwise quadrature in v on [-delta, delta] (box: composite Gauss-Legendre,
//   `panels` equal panels of `nodes` nodes; weights / (2 delta)) or over
//   N(0, delta^2) (Gaussian: probabilists' Gauss-Hermite with `nodes` nodes),
//   along e, or on the tensor product of the 1-D rule in every coordinate.
//   s_n(x + v e) is analytic in v, but its softmax weights switch between
//   training points over a width w ~ sigma_t^2 / (mu_t |x_i - x_j|) (complex
//   poles at that distance): composite Gauss-Legendre converges geometrically
//   once panels are no wider than ~w; Gauss-Hermite converges only
//   subexponentially when delta exceeds w (two points, poles at 1.45 delta:
//   error 1e-6 with 32 nodes, 2e-9 with 64, 2e-13 with 128;
//   tests/smoothed_score_test.cpp), so raise hermite_nodes for wide kernels.
// Queries are expanded to (query, node) rows and evaluated in chunks of at
// most `chunk_rows` rows (memory O(chunk_rows d) whatever the query count).
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/matrix.hpp"

namespace gengap {

enum class SmoothingKernel { box, gaussian };
SmoothingKernel parse_smoothing_kernel(std::string_view name);  // "box" | "gaussian"; else InvalidArgument("kernel")
std::string_view to_string(SmoothingKernel kernel);

struct SmoothingOptions {
  SmoothingKernel kernel = SmoothingKernel::box;
  double delta = 0.0;              // box half-width or Gaussian standard deviation, >= 0
  std::vector<double> direction;   // e (d entries, normalised internally); empty: per coordinate
  std::size_t nodes = 16;          // box: Gauss-Legendre nodes per panel
  std::size_t panels = 8;          // box: equal panels on [-delta, delta]
  std::size_t hermite_nodes = 64;  // gaussian: Gauss-Hermite nodes
  bool closed_form = true;         // box, d = 1 or data on the line along `direction`: the exact
                                   // two-evaluation formula instead of quadrature
  std::size_t max_grid = 1 << 16;  // per-coordinate smoothing: largest tensor grid (points per query)
  std::size_t chunk_rows = 8192;   // expanded (query, node) rows per empirical-score call
  EmpiricalScoreOptions empirical;

  // InvalidArgument naming the field: delta (< 0 or non-finite), direction
  // (wrong length, zero or non-finite), nodes, panels, hermite_nodes, chunk_rows, max_grid
  // (tensor grid (nodes panels)^d or hermite_nodes^d larger than max_grid: give a direction).
  void validate(std::size_t d) const;
};

class SmoothedScore {
 public:
  // empirical: the training set's s_n (shared, not copied); InvalidArgument
  // "empirical" if null, or naming an option field.
  SmoothedScore(std::shared_ptr<const EmpiricalScore> empirical, SmoothingOptions options);

  std::size_t dim() const { return empirical_->dim(); }
  const SmoothingOptions& options() const { return options_; }
  const EmpiricalScore& empirical() const { return *empirical_; }
  // Quadrature points per query (2 for the closed form, 1 for delta = 0).
  std::size_t evaluations_per_query() const;
  // True when the exact two-evaluation formula is in use (see above).
  bool closed_form() const { return method_ == Method::closed_form; }

  // x: q x d; mu_t, sigma_t: q entries or 1 (shared), as EmpiricalScore::evaluate;
  // score q*d, divergence q (or empty to skip). InvalidArgument naming the field.
  void evaluate(MatrixView x, std::span<const double> mu_t, std::span<const double> sigma_t, std::span<double> score,
                std::span<double> divergence) const;
  Matrix evaluate(MatrixView x, double mu_t, double sigma_t) const;  // score only, shared time

 private:
  enum class Method { empirical, closed_form, quadrature };
  std::shared_ptr<const EmpiricalScore> empirical_;
  SmoothingOptions options_;
  Method method_ = Method::empirical;
  std::vector<double> unit_;     // closed form: e, normalised (d entries; {1} in d = 1)
  Matrix offsets_;               // G x d: the quadrature points u_g (already scaled by delta)
  std::vector<double> weights_;  // G, summing to 1
};

}  // namespace gengap
