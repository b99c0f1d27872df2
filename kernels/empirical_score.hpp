#pragma once
// The empirical score (docs/math.md §8): the exact score of the training set's own
// diffused distribution
//   p_t^n(x) = (1/n) sum_i N(x; mu_t x_i, sigma_t^2 I),
// evaluated for a batch of queries in one streaming log-sum-exp pass over the
// training points. With r_i = x - mu_t x_i, l_i = -|r_i|^2 / (2 sigma_t^2) and
// w_i = softmax_i(l_i):
//   log p_t^n(x) = logsumexp_i(l_i) - log n - d/2 log(2 pi sigma_t^2)
//   s_n(x, t)    = grad_x log p_t^n = -E_w[r] / sigma_t^2
//                = (mu_t E_w[x_i] - x) / sigma_t^2
//   div_x s_n    = tr Hess log p_t^n = Var_w(r) / sigma_t^4 - d / sigma_t^2
//                = (mu_t^2 / sigma_t^4)(E_w|x_i|^2 - |E_w x_i|^2) - d / sigma_t^2,
// where Var_w(r) = E_w|r - E_w r|^2 = mu_t^2 Var_w(x_i). Derivation: grad_x l_i
// = -r_i / sigma^2 and grad_x w_i = w_i (E_w r - r_i) / sigma^2, so the Hessian
// of log p is -I / sigma^2 + Cov_w(r) / sigma^4; its trace is the divergence.
//
// How it is computed (one query; queries are independent):
// - Training points are packed coordinate-major (d <= 4: d x n; d > 4: panels
//   of 32 points, coordinate-major inside; padded with points that get weight
//   exactly 0) and streamed in blocks of B
//   points. A block takes two sweeps: (1) SIMD over points, residuals
//   r = fl(x - mu x_i) by one fma per coordinate (correctly rounded: no
//   cancellation however close x is to mu x_i), |r|^2 by fma, l stored, the
//   block's max and first argmax kept lane-wise; (2) w = exp(l - M) against the
//   running max M and, about the reference point c = the block's argmax,
//   sum w, sum w (x_i - x_c) and sum w |x_i - x_c|^2 (d <= 4: SIMD over points,
//   lane-wise accumulators; d > 4: SIMD over the coordinates of each point,
//   from a padded row-major copy, so no per-block reduction of d accumulators).
//   Blocks merge into the running state by the online (flash-attention)
//   rescale exp(M_old - M_new) and Chan et al.'s pairwise update of the
//   weighted mean and centred sum of squares, the mean kept as an offset from
//   the running argmax. So E_w[r] = (x - mu x_c) - mu E_w[x_i - x_c] and
//   Var_w come from differences between training points, never from a
//   difference of large numbers (E_w|r|^2 - |E_w r|^2 loses all digits when
//   one point dominates, e.g. at small sigma).
// - Points whose log-weight is below M - 46 are skipped in sweep 2 (d <= 4:
//   SIMD batches whose points all are): each weighs < e^-46 = 1.1e-20 of the
//   largest, so skipping changes S by less than n e^-46 relative (1.1e-15 for
//   n = 1e5) and the mean and variance by as much relative to the spread of
//   the skipped points about x_c. Against the naive two-pass
//   evaluation (kernels/detail/empirical_score_naive.hpp) the results agree
//   to 6e-15 relative (score to |s| + 1/sigma, divergence to its two terms,
//   log p to max(1, |log p|); tests/empirical_score_test.cpp, d = 1..64,
//   n = 1..4097, sigma = 1e-6..1e3).
// - Tile kernels (d >= 8, more than one block of points; `screening`):
//   register-blocked kernels (kernels/simd/empirical_score_tiles.hpp: 6
//   queries x 32 points per micro-tile, ~85% of the FMA peak; training points
//   packed once, nothing copied per call) give x . x_j for a tile of queries
//   and a block of points, hence the log-weights by the expanded form
//     l~_j = 2 mu c2 (x . x_j) - mu^2 c2 |x_j|^2 - c2 |x|^2   (c2 = 1/(2 sigma^2))
//   with the rigorous bound |l~_j - l_j| <= alpha |x_j| + beta, where
//   alpha = 2 mu c2 |x| gamma_{d+3} (the dot product's fma chain) and
//   beta = gamma_6 (mu^2 c2 R^2 + c2 |x|^2) + 64 u (the other roundings, exp),
//   R = max_j |x_j|, gamma_k = k u / (1 - k u), u = 2^-53; l_j is the value in
//   exact arithmetic (the exact sweeps, like the naive reference, carry their
//   own gamma_{d+2} |l_j|, which this contract does not add to). Per query
//   and block, one of:
//   * screening (few batches can matter under the bound, widened by the
//     exact path's own rounding gamma_{d+2} c2 (|x| + mu R)^2): only those
//     batches go through the exact sweeps; every other one is provably
//     skipped by sweep 2 anyway, so the result is bitwise that of the exact path;
//   * the expanded form (many batches matter and the query's bound
//     eps = alpha R + beta is within expanded_tolerance): w = exp(l~ - M) and
//     the block's moments sum w x_j (tile kernel, 6 queries x 32 coordinates
//     per micro-tile) and sum w |x_j|^2, Var from
//     sum w |x_j|^2 - |sum w x_j|^2 / sum w; a block whose centred part is
//     below 1/16 of the raw moment (weight on close points far from 0) is
//     redone exactly.
//   Accuracy contract of the expanded form, on the OUTPUTS (rigorous up to
//   O(eps^2) terms, covered by a factor 1.01): with w~_j = w_j e^{e_j}, only
//   the spread of the e_j matters (a common shift cancels in the softmax):
//   E~[x] - E[x] = sum_j w_j (e^{e_j} - 1)(x_j - E x) / S~, so the errors it
//   adds are at most, with e_rms = alpha sqrt(E_w |x_j|^2) + beta,
//     score       e_rms sqrt(Var_w r) / sigma^2        relative to |s|_inf + 1/sigma,
//     divergence  2 eps V / (V + d / sigma^2)           relative to its two terms,
//                 V = Var_w(r) / sigma^4,
//     log p       e_rms                                 relative to max(1, |log p|).
//   After its last block, each query that used the expanded form evaluates
//   this bound from its own moments; above expanded_tolerance (default
//   1e-12) the query is redone on the exact path (stats: expanded_redone).
//   So every output meets the tolerance apart from the floating-point
//   summation of weights and moments, which every path has, the naive
//   reference included (worst case gamma_n-like: ~1e-11 for n = 1e5;
//   typically ~1e-15). Observed against the naive two-pass
//   (tests/empirical_score_test.cpp: d = 8..128, sigma = 1e-3..3, near,
//   far, split between clusters and near-coincident points): <= 1.4e-14
//   relative, at any tolerance from 1e-14 to 1e-9. On the benchmark's
//   workload (d = 64, n = 1e5, 200 queries against the naive two-pass):
//   ou t = 1: eps ~ 3e-13, every query expanded, none redone, observed
//   4.0e-14; t = 0.3: 4.5% of the pairs expanded, 4 queries redone, 1.3e-13;
//   t = 0.1: eps ~ 3e-12 exceeds the tolerance and few points carry weight,
//   so screening (exact) is used: 2.8e-15.
//   The automatic mode skips the tile kernel for a tile while most of its
//   batches matter and no query may use the expanded form.
// - Memory: per task O(tile d + tile B) whatever n; TBB over tiles of queries.
//   Tiles are fixed by index, so results are bitwise identical for any thread
//   count; each query's arithmetic is also independent of the others (same
//   bits alone or in any batch, for any tile size).
// - Finite for any sigma_t > 0 and query with |r|^2 / (2 sigma^2) < 1e308
//   (sigma_t = 1e-6 with |x| ~ 1e6 is fine): the largest weight is exp(0) = 1,
//   so neither the sum nor the winning point can underflow.
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "gengap/kernels/detail/aligned_allocator.hpp"
#include "gengap/kernels/matrix.hpp"

namespace gengap {

enum class DistanceScreening { automatic, off, on };

struct EmpiricalScoreOptions {
  DistanceScreening screening = DistanceScreening::automatic;
  // Largest bound on the relative error that the expanded form's log-weight
  // errors may cause in a query's outputs (see above: also the a priori limit
  // on a single log-weight's error); 0: never, every weight from the
  // correctly rounded residuals.
  double expanded_tolerance = 1e-12;
  // Queries per parallel task. Each query's bits are independent of it; 96 (16
  // register blocks of 6 rows) beat 64 by 4-9% at d = 64 (the block's training
  // data is reused by more rows per load from L3/DRAM; machine shared).
  std::size_t tile = 96;

  void validate() const;  // InvalidArgument naming "tile" or "expanded_tolerance"
};

// What a call did. Pair counts are in SIMD lanes (padding included).
struct EmpiricalScoreStats {
  std::size_t queries = 0;
  std::size_t training_points = 0;
  std::size_t distance_pairs = 0;   // pairs whose exact residual |x - mu x_i|^2 was computed (sweep 1)
  std::size_t weighted_pairs = 0;   // pairs whose weights were accumulated (sweep 2; d <= 4: whole SIMD batches)
  std::size_t screened_blocks = 0;  // (query tile, training block) blocks through the tile kernel
  std::size_t direct_blocks = 0;    // blocks evaluated exactly without screening
  std::size_t expanded_pairs = 0;   // pairs weighted by the expanded form (redone queries included)
  std::size_t expanded_fallbacks = 0;  // (query, block) pairs redone exactly (the moments lost digits)
  std::size_t expanded_redone = 0;     // queries redone exactly (their outputs' error bound exceeded the tolerance)
  std::string_view simd;            // instruction set of the kernel (xsimd arch name)
  std::size_t block_points = 0;     // B, training points per block

  double pairs() const { return static_cast<double>(queries) * static_cast<double>(training_points); }
};

class EmpiricalScore {
 public:
  // training: n x d, n >= 1, d >= 1, finite (InvalidArgument "training"). Copied and packed.
  explicit EmpiricalScore(MatrixView training);

  std::size_t dim() const { return d_; }
  std::size_t size() const { return n_; }
  const Matrix& training() const { return training_; }

  // Queries x (q x d, finite) at per-row or shared times: mu_t and sigma_t have
  // q entries or 1 (shared), mu_t >= 0, sigma_t > 0, finite. Outputs: score
  // (q*d, row-major), log_density (q) and divergence (q); each may be empty
  // (skipped). InvalidArgument naming "x", "mu_t", "sigma_t", "score",
  // "log_density", "divergence" or an option. Threaded (TBB over tiles).
  EmpiricalScoreStats evaluate(MatrixView x, std::span<const double> mu_t, std::span<const double> sigma_t,
                               std::span<double> score, std::span<double> log_density, std::span<double> divergence,
                               const EmpiricalScoreOptions& options = {}) const;

  struct Values {
    Matrix score;                     // q x d
    std::vector<double> log_density;  // q
    std::vector<double> divergence;   // q
  };
  // Convenience: all three outputs at one shared time.
  Values evaluate(MatrixView x, double mu_t, double sigma_t, const EmpiricalScoreOptions& options = {}) const;

 private:
  std::size_t n_ = 0, d_ = 0, n_padded_ = 0;
  Matrix training_;  // n x d, as given
  // d <= 4: d x n_padded, coordinate-major, zero padding; n_padded is a multiple
  // of the SIMD width, so with the allocator's alignment every batch load is aligned.
  std::vector<double, detail::AlignedAllocator<double>> packed_;
  std::vector<double, detail::AlignedAllocator<double>> sq_norms_;  // |x_i|^2, padded to whole panels
  // Panels of 4 SIMD batches of points (32 with AVX-512), coordinate-major
  // inside, zero padding: the tile kernel's and, for d > 4, sweep 1's copy.
  std::vector<double, detail::AlignedAllocator<double>> panels_;
  // d > 4: n_padded x d_row row-major copy, zero-padded to the SIMD width
  // (sweep 2 runs SIMD over coordinates there); empty for d <= 4.
  std::vector<double, detail::AlignedAllocator<double>> rows_;
  std::size_t d_row_ = 0;
  double max_norm_ = 0.0;  // max_i |x_i|
};

}  // namespace gengap
