#pragma once
// The DSM loss is quadratic in A (docs/math.md §5):
//   L(A) = 1/(2 m^2) tr(A G A^T) - 1/m tr(A C) + L_0
//   grad_A L = (1/m^2) A G - (1/m) C^T
// with G = E[w phi phi^T] (m x m), C = E[w phi y^T] (m x d), L_0 = 1/2 E[w |y|^2].
// gram_matrices() accumulates (G, C, L_0) from any DesignPoints source:
// features of a tile of points are computed and consumed at once by a
// weighted symmetric rank-k update, so memory is O(m^2 + tile m) whatever the
// number of points (two m x m accumulators and two tiles of features).
// Parallelism: features over fixed chunks of rows, then a fixed number
// (GramOptions::lanes, 2 by default) of accumulator "lanes": each round of
// tiles gives every lane its share of the rows, which it adds to its own
// (G, C, L_0) (G with one full-size dsyrk, C and L_0 serially in point
// order); the lanes are summed in lane order at the end. Nothing depends on
// the thread count, so results are bitwise identical whatever it is.
//
// Distributed (GramOptions::world with R ranks, collective): lanes are also
// the unit of distribution. Rank r accumulates lanes r, r + R, ... (design
// points are counter-based: any rank draws any row, the same bits), and
// rank 0 adds every lane in lane order, receiving the others' lower
// triangles one lane at a time in blocks of rows (no m x m receive buffer).
// The result depends on `lanes`, never on R: with lanes = 6 it is the same
// for 1, 2, 3 or 6 ranks (ranks beyond `lanes` have no rows). Traffic: the
// m(m+1)/2 doubles of each lane not on rank 0, plus m d + 1 (C, L_0).
#include <cstddef>
#include <functional>

#include "gengap/kernels/communicator.hpp"
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
  // Accumulators (each m x m); fixes the summation order, so the bits.
  std::size_t lanes = 2;
  // Ranks sharing the work (collective: every rank calls with the same
  // arguments); nullptr or one rank: this process alone. The full result is
  // on rank 0; the other ranks get an empty QuadraticLoss (0 x 0 G).
  Communicator* world = nullptr;
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
