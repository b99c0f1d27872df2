#pragma once
// The random-feature score and its exact divergence (docs/math.md §3, §9),
//   z_j = w_j . x + u_j . e(t) + b_j,   s_k = c/m sum_j A_kj act(z_j),
//   div = c/m sum_j act'(z_j) kappa_j,  kappa_j = a_j . w_j,
// by one of two kernels with the same formula, under one chooser:
//   rows   (kernels/detail/random_feature_rows.hpp): fused, serial, SIMD
//          across features, parameters packed once; for the ODE driver's and
//          the samplers' chunks (tens of rows, each at its own time); bitwise
//          independent of the batching; the library's fields use it.
//   tiles  (kernels/detail/random_feature_tiles.hpp): TBB over point tiles
//          with a BLAS GEMM for the pre-activations; for many rows in large d.
// The two agree to rounding (tests/random_features_test.cpp), not bitwise, so
// the chooser is a pure function of the call's shape: results never depend
// on the thread count.
#include <cstddef>
#include <optional>
#include <span>

#include "gengap/kernels/detail/random_feature_rows.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"

namespace gengap {

enum class RandomFeaturePath { automatic, rows, tiles };

class RandomFeatureScore {
 public:
  // Copies what it needs from rf and A (d x m, finite); InvalidArgument naming
  // the field (rf's fields, "A").
  RandomFeatureScore(const RandomFeatures& rf, MatrixView A);

  std::size_t dim() const { return rows_.dim(); }
  std::size_t num_features() const { return rows_.num_features(); }

  // The path `automatic` takes for a call of n rows: tiles when d > 4 and n
  // >= tiles_min_rows (the rows kernel's score accumulators leave registers
  // past d = 4, and the tiles' GEMM pays its setup back over many rows), rows
  // otherwise.
  static constexpr std::size_t tiles_min_rows = 4096;
  static RandomFeaturePath choose(std::size_t n, std::size_t d);

  // X is n x d, t and output_scale (c(t_i)) have n entries, score n*d,
  // divergence n (or empty to skip). The rows path is serial (call it from
  // the caller's parallel loop); the tiles path threads itself. Non-finite
  // inputs give non-finite outputs for that row only.
  void evaluate(MatrixView X, std::span<const double> t, std::span<const double> output_scale,
                std::span<double> score, std::span<double> divergence,
                RandomFeaturePath path = RandomFeaturePath::automatic) const;

 private:
  detail::RandomFeatureRows rows_;
  RandomFeatures rf_;
  Matrix A_;
};

}  // namespace gengap
