#pragma once
// One of the two paths of kernels/random_feature_score.hpp. The random-feature
// score and its exact divergence (docs/math.md §3, §9) for a few
// rows at a time, fused and serial: the kernel the probability-flow ODE calls
// once per Runge-Kutta stage on one chunk of trajectories (tens of rows, each
// at its own time), where score_and_divergence_tiles's per-call setup (packing,
// validation, a tile workspace) and BLAS calls on tiny matrices dominate.
//
//   z_j = w_j . x + u_j . e(t) + b_j,   s_k = c/m sum_j A_kj act(z_j),
//   div = c/m sum_j act'(z_j) kappa_j,  kappa_j = a_j . w_j.
//
// The Fourier time embedding is evaluated with SIMD sincos on the same angles
// as TimeEmbedding::evaluate (agreeing with libm to an ulp or so). The
// parameters are packed once (feature index contiguous, padded with zero
// features to a multiple of the SIMD width: a zero feature has A = kappa = 0,
// so it adds exactly 0). Each row is one pass over the features with the
// pre-activations, activation, divergence and score contraction kept in
// registers (SIMD across features, 8 rows share each parameter load). Every
// row's arithmetic is the same sequence of operations whatever the other rows
// in the call, so results are bitwise independent of batching and threads.
// Consecutive rows at the same time (bitwise; e.g. a chunk stepped with
// StepSharing::per_chunk) share b + U e(t) and its sincos, computed once per
// time per call: the same fma chain, split at the embedding, so bitwise the
// same results, at O(m d) instead of O(m (d + d_e)) per row.
// d <= 4 keeps the score accumulators in registers; larger d keeps them in a
// per-call buffer (same arithmetic, slower: use score_and_divergence_tiles's BLAS
// tiles for large d and many rows at one time).
#include <cstddef>
#include <span>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"

namespace gengap::detail {

class RandomFeatureRows {
 public:
  // Copies what it needs from rf and A (d x m, finite); InvalidArgument naming
  // the field (rf's fields, "A").
  RandomFeatureRows(const RandomFeatures& rf, MatrixView A);

  std::size_t dim() const { return d_; }
  std::size_t num_features() const { return m_; }

  // X is n x d (InvalidArgument "x" otherwise), t and output_scale have n
  // entries, score n*d, divergence n (or empty to skip). Serial: call it from
  // the caller's parallel loop. Non-finite inputs give non-finite outputs for
  // that row only (no throw).
  void evaluate(MatrixView X, std::span<const double> t, std::span<const double> output_scale,
                std::span<double> score, std::span<double> divergence) const;

 private:
  std::size_t d_ = 0, m_ = 0, m_padded_ = 0, de_ = 0;
  TimeEmbedding embedding_;
  std::vector<double> angular_;         // fourier: 2 pi omega_k (empty for linear)
  std::vector<double> angular_padded_;  // the same, zero-padded to the SIMD width
  Activation activation_ = Activation::relu;
  std::vector<double> weights_;  // (d + d_e) x m_padded: row q holds input q's weight on every feature
  std::vector<double> bias_;     // m_padded
  std::vector<double> kappa_;    // m_padded
  std::vector<double> A_;        // d x m_padded
};

}  // namespace gengap::detail
