#pragma once
// The DSM loss is quadratic in A (docs/math.md §5):
//   L(A) = 1/(2 m^2) tr(A G A^T) - 1/m tr(A C) + L_0
//   grad_A L = (1/m^2) A G - (1/m) C^T
// with G = E[w phi phi^T] (m x m), C = E[w phi y^T] (m x d), L_0 = 1/2 E[w |y|^2].
// gram_matrices() accumulates (G, C, L_0) from any DesignPoints source:
// features of a tile of points are computed and consumed at once by a
// weighted symmetric rank-k update, so memory is O(m^2 + tile m) whatever the
// number of points (two m x m accumulators and two tiles of features).
// Parallelism: features over fixed chunks of rows, then a fixed number (2) of
// accumulator "lanes", each adding every other tile with one full-size dsyrk
// and summed in a fixed order at the end; C and L_0 are summed serially in
// point order. Nothing depends on the thread count, so results are bitwise
// identical whatever it is.
#include <cstddef>
#include <functional>

#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/dsm_design.hpp"

namespace gengap {

struct QuadraticLoss {
  Matrix G;         // m x m, symmetric (both triangles stored)
  Matrix C;         // m x d
  double L0 = 0.0;  // constant term

  std::size_t num_features() const { return G.rows(); }
  std::size_t dim() const { return C.cols(); }
  // L(A) for A (d x m).
  double value(MatrixView A) const;
  // grad_A L (d x m).
  Matrix gradient(MatrixView A) const;
  // Shapes consistent and entries finite; InvalidArgument naming the field.
  void validate() const;
};

struct GramOptions {
  std::size_t tile_rows = 1024;  // points per tile (features: tile_rows x m doubles per tile)
  // Called with the fraction of the points accumulated after each round of
  // tiles, from the calling thread (progress for m in the thousands, where
  // one Gram matrix takes minutes); empty: not called.
  std::function<void(double)> on_progress;
};

// Accumulates (G, C, L_0) of the loss defined by `points` under the random features `rf`.
// Throws InvalidArgument if dimensions disagree, NumericalError on non-finite results.
QuadraticLoss gram_matrices(const RandomFeatures& rf, const DesignPoints& points, const GramOptions& options = {});

// Direct Monte Carlo evaluation of the loss at A (no Gram matrices):
//   sum_z weight_z/2 || c-free score A phi_z/m - y_z ||^2 + (sum loss0 - sum weight_z/2 |y_z|^2)
// i.e. the same expectation evaluated point by point; the tests' reference for
// QuadraticLoss::value.
double direct_loss(const RandomFeatures& rf, const DesignPoints& points, MatrixView A);

}  // namespace gengap
