#pragma once
// One of the two paths of kernels/random_feature_score.hpp: the fused,
// threaded BLAS-tile kernel. Its body lives in kernels/random_features.cpp,
// beside feature_tile, with which it shares the packing of the parameters
// and inputs and the pre-activation GEMM.
#include <span>

#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"

namespace gengap::detail {

// Fused, threaded (TBB over point tiles, no N x m matrix beyond a tile):
// score (N x d) = c_i/m A phi(x_i, t_i); divergence (N, or empty to skip) = div_x s_A.
// A is d x m; output_scale has N entries (c(t_i)).
void score_and_divergence_tiles(const RandomFeatures& rf, MatrixView A, MatrixView X, std::span<const double> t,
                                std::span<const double> output_scale, std::span<double> score,
                                std::span<double> divergence);

}  // namespace gengap::detail
