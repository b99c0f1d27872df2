#pragma once
// The smoothed empirical score (MATH.md §8, seed 003): s_n averaged in x over
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
// - d = 1, box, closed_form: s_n = d/dx log p_t^n, so the average is exact,
//     s_delta = ( log p_t^n(x + delta) - log p_t^n(x - delta) ) / (2 delta),
//     div     = ( s_n(x + delta) - s_n(x - delta) ) / (2 delta),
//   two streaming evaluations per query. Rounding: about eps |log p| / delta
//   absolute (a difference of two log-densities), so for delta far below the
//   scale sigma_t the quadrature is the more accurate choice.
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
  bool closed_form = true;         // d = 1 box: the exact two-evaluation formula instead of quadrature
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
  Matrix offsets_;               // G x d: the quadrature points u_g (already scaled by delta)
  std::vector<double> weights_;  // G, summing to 1
};

}  // namespace gengap
