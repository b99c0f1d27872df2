#pragma once
// The empirical score (MATH.md §8): the exact score of the training set's own
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
// - Training points are packed coordinate-major (d x n, padded to the SIMD
//   width with points that get weight exactly 0) and streamed in blocks of B
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
// - dgemm tiles (d >= 8, more than one block of points; `screening`): a dgemm
//   gives x . x_i for a tile of queries and a block of points, hence the
//   log-weights by the expanded form |x|^2 - 2 mu x.x_i + mu^2 |x_i|^2, with
//   the rigorous bound |l~ - l| <= (4d + 16) u (|x| + mu max|x_i|)^2 / (2 sigma^2)
//   (u = 2^-53; e.g. 6e-10 for |x| + mu max|x_i| = 20, d = 64, sigma = 0.1).
//   Per query and block, one of:
//   * screening (few batches can matter under the bound): only those batches
//     go through the exact sweeps; every other one is provably skipped by
//     sweep 2 anyway, so the result is bitwise that of the exact path;
//   * the expanded form (many batches matter and the query's bound is at most
//     expanded_tolerance, default 1e-11): w = exp(l~ - M) and the block's
//     moments sum w x_i, sum w |x_i|^2 by dgemm/dgemv, Var from
//     sum w |x_i|^2 - |sum w x_i|^2 / sum w. Each weight then carries a relative
//     error <= the bound; a block whose centred part is below 1e-4 of the raw
//     moment (weight on nearly coincident points: > 4 digits would cancel) is
//     redone exactly. Observed against the naive two-pass: <= 1.2e-14 relative
//     (d = 16, 64; sigma = 0.6..3). expanded_tolerance = 0 turns it off.
//   The automatic mode skips the dgemm for a tile while most of its batches
//   matter and no query may use the expanded form.
// - Memory: per task O(tile d + tile B) whatever n; TBB over tiles of queries.
//   Tiles are fixed by index, so results are bitwise identical for any thread
//   count. Without the expanded form each query's arithmetic is also
//   independent of the others (same bits alone or in any batch); with it, a
//   query's bits could depend on the rows sharing its tile through OpenBLAS's
//   dgemm blocking (never on the thread count).
// - Finite for any sigma_t > 0 and query with |r|^2 / (2 sigma^2) < 1e308
//   (sigma_t = 1e-6 with |x| ~ 1e6 is fine): the largest weight is exp(0) = 1,
//   so neither the sum nor the winning point can underflow.
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include <xsimd/memory/xsimd_aligned_allocator.hpp>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

enum class DistanceScreening { automatic, off, on };

struct EmpiricalScoreOptions {
  DistanceScreening screening = DistanceScreening::automatic;
  // Largest bound on the log-weight error |l~ - l| for which a query may use
  // the expanded (dgemm) form on dense blocks (see above); 0: never, every
  // weight from the correctly rounded residuals.
  double expanded_tolerance = 1e-11;
  std::size_t tile = 64;  // queries per parallel task

  void validate() const;  // InvalidArgument naming "tile" or "expanded_tolerance"
};

// What a call did. Pair counts are in SIMD lanes (padding included).
struct EmpiricalScoreStats {
  std::size_t queries = 0;
  std::size_t training_points = 0;
  std::size_t distance_pairs = 0;   // pairs whose exact residual |x - mu x_i|^2 was computed (sweep 1)
  std::size_t weighted_pairs = 0;   // pairs whose weights were accumulated (sweep 2; d <= 4: whole SIMD batches)
  std::size_t screened_blocks = 0;  // (query tile, training block) blocks screened by dgemm
  std::size_t direct_blocks = 0;    // blocks evaluated exactly without screening
  std::size_t expanded_pairs = 0;   // pairs weighted by the expanded (dgemm) form
  std::size_t expanded_fallbacks = 0;  // (query, block) pairs redone exactly (the moments lost digits)
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
  // d x n_padded, coordinate-major, zero padding; n_padded is a multiple of
  // the SIMD width, so with the allocator's alignment every batch load is aligned.
  std::vector<double, xsimd::aligned_allocator<double>> packed_;
  std::vector<double, xsimd::aligned_allocator<double>> sq_norms_;  // n_padded: |x_i|^2 (screening)
  // d > 4: n_padded x d_row row-major copy, zero-padded to the SIMD width
  // (sweep 2 runs SIMD over coordinates there); empty for d <= 4.
  std::vector<double, xsimd::aligned_allocator<double>> rows_;
  std::size_t d_row_ = 0;
  double max_norm_ = 0.0;  // max_i |x_i|
};

}  // namespace gengap
