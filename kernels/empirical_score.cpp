// xsimd's exp inlined into AVX-512 code trips GCC 12's false uninitialized
// warnings in its own headers (GCC bug 105593): hence before every include.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "gengap/kernels/empirical_score.hpp"

#include <cblas.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <optional>
#include <string>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/detail/empirical_score_blocks.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {
using namespace detail::empirical;

// Automatic screening from this dimension up. Measured (2 threads, q = 2000,
// n = 1e5, BM_EmpiricalScoreScreeningThreshold, machine shared): where few
// points carry weight (ou t = 0.01) screening cut the time by 8% at d = 8,
// 19% at d = 16, 43% at d = 32 and 43% at d = 64 (d = 4: within noise); where
// all do (t = 0.1, d <= 16) the adaptive switch-off keeps its cost within noise.
constexpr std::size_t screening_min_dim = 8;
// A screened block in which more than this fraction of batches needs the exact
// sweep makes the tile skip screening for the next `direct_run` blocks.
constexpr double dense_fraction = 0.5;
constexpr std::size_t direct_run = 8;

// Training points per block: the block (d x B doubles) and its log-weights stay
// in L1/L2 while a tile of queries streams over it. For d > 4 the screened path
// was fastest at B = 1024 (256: +17%, 512: +24%, 2048: +9% at d = 64, t = 0.1;
// machine shared), and its per-(query, block) merges cost less the larger B.
std::size_t block_points(std::size_t d) { return d <= 4 ? 2048 : 1024; }

struct TileCounters {
  std::size_t distance_batches = 0, weighted_points = 0, screened_blocks = 0, direct_blocks = 0;
  std::size_t expanded_points = 0, expanded_fallbacks = 0;
};

struct Request {
  MatrixView x;
  std::span<const double> mu, sigma;
  std::span<double> score, log_density, divergence;
  bool screening_allowed;
  double expanded_tolerance;
};

// One tile of queries [q0, q0 + T) over all training blocks.
template <std::size_t D>
TileCounters evaluate_tile(const Training& tr, const Request& rq, std::size_t q0, std::size_t T) {
  const std::size_t d = tr.d;
  const std::size_t B = std::min(block_points(d), tr.n_padded);
  const std::size_t block_batches = B / W;
  const std::size_t total_batches = tr.n_padded / W;
  const auto mu_of = [&](std::size_t q) { return rq.mu.size() == 1 ? rq.mu[0] : rq.mu[q]; };
  const auto sigma_of = [&](std::size_t q) { return rq.sigma.size() == 1 ? rq.sigma[0] : rq.sigma[q]; };

  Aligned<double> l(B);
  Aligned<Batch> xb(T * d), cb(D == 0 ? 0 : d), acc(D == 0 ? tr.d_row / W : 0);
  std::vector<double> sums(d), offsets(T * d, 0.0), neg_c2(T), norm2(T), margin(T);
  std::vector<Running> running(T);
  std::vector<std::uint32_t> all(block_batches), list(block_batches);
  for (std::size_t j = 0; j < block_batches; ++j) all[j] = static_cast<std::uint32_t>(j);
  // The expanded form is allowed for row r when margin[r], the bound on
  // |l~ - l|, is within the tolerance (a property of the row alone).
  bool any_expandable = false;
  for (std::size_t r = 0; r < T; ++r) {
    const double* x = rq.x.row(q0 + r);
    double nx = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      xb[r * d + k] = Batch(x[k]);
      nx += x[k] * x[k];
    }
    norm2[r] = nx;
    const double mu = mu_of(q0 + r), s = sigma_of(q0 + r);
    const double c2 = 0.5 / (s * s);
    neg_c2[r] = -c2;
    const double reach = std::sqrt(nx) + mu * tr.max_norm;
    margin[r] = (4.0 * static_cast<double>(d) + 16.0) * unit_roundoff * reach * reach * c2;
    any_expandable = any_expandable || margin[r] <= rq.expanded_tolerance;
  }
  const bool gemm = rq.screening_allowed;
  std::vector<double> approx(gemm ? T * B : 0), weights(gemm ? T * B : 0), moments(gemm ? T * d : 0),
      square_moments(gemm ? T : 0);
  struct Expanded {
    std::size_t row, argmax;
    double M_new, block_max, S;
  };
  std::vector<Expanded> expanded;
  std::size_t direct_left = 0;
  TileCounters counters;

  // The exact path on the listed batches of one block for row r.
  const auto process = [&](std::size_t r, std::size_t first, const std::uint32_t* batches, std::size_t count) {
    if (count == 0) return;
    Running& st = running[r];
    const double mu = mu_of(q0 + r);
    double m_b = -infinity;
    std::size_t c_b = 0;
    sweep_distances<D>(tr, xb.data() + r * d, mu, neg_c2[r], first, batches, count, l.data(), m_b, c_b);
    counters.distance_batches += count;
    const double M_new = std::max(st.M, m_b);
    if (m_b < M_new - skip_log_ratio) return;  // nothing in this block can carry weight
    BlockSums b;
    if constexpr (D != 0) {
      for (std::size_t k = 0; k < D; ++k) cb[k] = Batch(tr.point(c_b)[k]);
      b = sweep_weights_lanes<D>(tr, cb.data(), M_new, first, batches, count, l.data(), sums.data(),
                                 counters.weighted_points);
    } else {
      const auto rows = [&]<std::size_t KB>() {
        return sweep_weights_rows<KB>(tr, c_b, M_new, first, batches, count, l.data(), acc.data(), sums.data(),
                                      counters.weighted_points);
      };
      switch (tr.d_row / W) {
        case 1:
          b = rows.template operator()<1>();
          break;
        case 2:
          b = rows.template operator()<2>();
          break;
        case 3:
          b = rows.template operator()<3>();
          break;
        case 4:
          b = rows.template operator()<4>();
          break;
        case 8:
          b = rows.template operator()<8>();
          break;
        default:
          b = rows.template operator()<0>();
          break;
      }
    }
    const BlockStats stats = from_sums(b, sums.data(), d);
    merge_block(tr, st, offsets.data() + r * d, m_b, c_b, stats, sums.data(), M_new);
  };
  // Batches of row r's l~ (approx row) that can matter under the bound margin[r].
  const auto candidates = [&](std::size_t r, const double* row, std::size_t nb, double approx_max) {
    const double lower = std::max(running[r].M, approx_max - margin[r]) - skip_log_ratio - margin[r];
    const Batch lo(lower);
    std::size_t count = 0;
    for (std::size_t j = 0; j < nb; ++j)
      if (xsimd::any(Batch::load_unaligned(row + j * W) >= lo)) list[count++] = static_cast<std::uint32_t>(j);
    return count;
  };

  for (std::size_t first = 0; first < total_batches; first += block_batches) {
    const std::size_t nb = std::min(block_batches, total_batches - first);
    if (!gemm || direct_left > 0) {
      if (direct_left > 0) --direct_left;
      ++counters.direct_blocks;
      for (std::size_t r = 0; r < T; ++r) process(r, first, all.data(), nb);
      continue;
    }
    // l~ from x . x_i (dgemm). Per row, either screening (only the batches
    // that can matter under the bound go through the exact sweeps) or, when
    // many batches matter and the bound is within expanded_tolerance, the
    // expanded form: weights exp(l~ - M) and their moments by dgemm.
    ++counters.screened_blocks;
    const std::size_t cols = nb * W;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(T), static_cast<int>(cols),
                static_cast<int>(d), 1.0, rq.x.row(q0), static_cast<int>(d), tr.packed + first * W,
                static_cast<int>(tr.n_padded), 0.0, approx.data(), static_cast<int>(cols));
    const std::size_t last = (tr.n - 1) / W;
    const auto tail = tail_mask(tr.n);
    std::size_t screened_candidates = 0, screened_rows = 0;
    expanded.clear();
    for (std::size_t r = 0; r < T; ++r) {
      const double mu = mu_of(q0 + r);
      const Batch xx(norm2[r]), m2mu(-2.0 * mu), mu2(mu * mu), nc2(neg_c2[r]);
      double* row = approx.data() + r * cols;
      Batch amax(-infinity);
      for (std::size_t j = 0; j < nb; ++j) {
        const Batch dot = Batch::load_unaligned(row + j * W);
        const Batch sq = Batch::load_aligned(tr.sq_norms + (first + j) * W);
        Batch al = xsimd::fma(mu2, sq, xsimd::fma(m2mu, dot, xx)) * nc2;
        if (first + j == last) al = xsimd::select(tail, al, Batch(-infinity));
        al.store_unaligned(row + j * W);
        amax = xsimd::max(amax, al);
      }
      alignas(64) double lanes[W];
      amax.store_aligned(lanes);
      const double approx_max = *std::max_element(lanes, lanes + W);
      const std::size_t count = candidates(r, row, nb, approx_max);
      // Dense enough for the dgemm moments to beat the exact sweeps.
      if (margin[r] > rq.expanded_tolerance || 4 * count <= nb) {
        screened_candidates += count;
        ++screened_rows;
        process(r, first, list.data(), count);
        continue;
      }
      const double M_new = std::max(running[r].M, approx_max);
      const Batch cut(M_new - skip_log_ratio), Mb(M_new);
      double* w = weights.data() + expanded.size() * cols;
      Batch S(0.0);
      for (std::size_t j = 0; j < nb; ++j) {
        const Batch lb = Batch::load_unaligned(row + j * W);
        const auto keep = lb >= cut;
        Batch wb(0.0);
        if (xsimd::any(keep)) wb = xsimd::select(keep, xsimd::exp(lb - Mb), Batch(0.0));
        wb.store_unaligned(w + j * W);
        S += wb;
      }
      const std::size_t argmax = static_cast<std::size_t>(std::find(row, row + cols, approx_max) - row);
      expanded.push_back({r, first * W + argmax, M_new, approx_max, xsimd::hadd(S)});
      counters.expanded_points += cols;
    }
    if (!expanded.empty()) {
      // Sum w x_i (E x d) and sum w |x_i|^2 (E) over the block.
      const auto E = static_cast<int>(expanded.size());
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, E, static_cast<int>(d), static_cast<int>(cols), 1.0,
                  weights.data(), static_cast<int>(cols), tr.rows + first * W * tr.d_row, static_cast<int>(tr.d_row),
                  0.0, moments.data(), static_cast<int>(d));
      cblas_dgemv(CblasRowMajor, CblasNoTrans, E, static_cast<int>(cols), 1.0, weights.data(), static_cast<int>(cols),
                  tr.sq_norms + first * W, 1, 0.0, square_moments.data(), 1);
      for (std::size_t e = 0; e < expanded.size(); ++e) {
        const Expanded& ex = expanded[e];
        const double* m = moments.data() + e * d;
        const double* x_c = tr.point(ex.argmax);
        double mean2 = 0.0;
        for (std::size_t k = 0; k < d; ++k) {
          const double mean = m[k] / ex.S;
          mean2 += mean * m[k];
          sums[k] = mean - x_c[k];
        }
        const double M2 = square_moments[e] - mean2;
        // The moments' difference keeps its digits while the centred part is
        // at least 1e-4 of the raw one (relative error <= ~1e-12); otherwise
        // (weight concentrated on close points) this row's block is redone exactly.
        if (!(M2 > 1e-4 * square_moments[e])) {
          ++counters.expanded_fallbacks;
          const double* row = approx.data() + ex.row * cols;
          const double* lanes_end = row + cols;
          const double approx_max = *std::max_element(row, lanes_end);
          process(ex.row, first, list.data(), candidates(ex.row, row, nb, approx_max));
          continue;
        }
        merge_block(tr, running[ex.row], offsets.data() + ex.row * d, ex.block_max, ex.argmax, {ex.S, M2}, sums.data(),
                    ex.M_new);
      }
    }
    // Rows on the exact path whose batches mostly matter: screening saves
    // nothing, so skip the dgemm for a while (unless some row uses it).
    if (!any_expandable && screened_rows > 0 &&
        static_cast<double>(screened_candidates) > dense_fraction * static_cast<double>(screened_rows * nb))
      direct_left = direct_run;
  }

  // Finish: E_w r = (x - mu x_ref) - mu offset, each by one rounding.
  const double log_n = std::log(static_cast<double>(tr.n));
  for (std::size_t r = 0; r < T; ++r) {
    const std::size_t q = q0 + r;
    const Running& st = running[r];
    const double mu = mu_of(q), s = sigma_of(q);
    const double s2 = s * s;
    const double* x = rq.x.row(q);
    const double* offset = offsets.data() + r * d;
    if (!rq.score.empty()) {
      for (std::size_t k = 0; k < d; ++k) {
        const double rc = std::fma(-mu, tr.point(st.ref)[k], x[k]);
        rq.score[q * d + k] = -std::fma(-mu, offset[k], rc) / s2;
      }
    }
    if (!rq.divergence.empty()) {
      const double var = mu * mu * (st.M2 / st.S);  // Var_w(r) = mu^2 Var_w(x_i)
      rq.divergence[q] = var / s2 / s2 - static_cast<double>(d) / s2;
    }
    if (!rq.log_density.empty()) {
      rq.log_density[q] =
          st.M + std::log(st.S) - log_n - 0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi * s2);
    }
  }
  return counters;
}

void require_times(std::span<const double> values, std::size_t q, std::string_view field, bool positive) {
  require(
      values.size() == q || values.size() == 1, field,
      "expected " + std::to_string(q) + " entries (one per query) or 1 (shared), got " + std::to_string(values.size()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (positive) {
      // sigma^2 must be a normal positive double for 1/sigma^4 to be finite.
      require(std::isfinite(v) && v > 0.0 && std::isnormal(v * v), field,
              "must be positive and finite with a normal square, got " + std::to_string(v) + " at index " +
                  std::to_string(i));
    } else {
      require(std::isfinite(v) && v >= 0.0, field,
              "must be finite and >= 0, got " + std::to_string(v) + " at index " + std::to_string(i));
    }
  }
}

void require_output(std::span<double> out, std::size_t expected, std::string_view field) {
  require(out.empty() || out.size() == expected, field,
          "expected 0 or " + std::to_string(expected) + " entries, got " + std::to_string(out.size()));
}

}  // namespace

void EmpiricalScoreOptions::validate() const {
  require(tile > 0, "tile", "must be positive, got 0");
  require(std::isfinite(expanded_tolerance) && expanded_tolerance >= 0.0, "expanded_tolerance",
          "must be finite and >= 0, got " + std::to_string(expanded_tolerance));
}

EmpiricalScore::EmpiricalScore(MatrixView training) {
  require(training.rows > 0, "training", "the training set is empty (n = 0)");
  require(training.cols > 0, "training", "dimension d must be positive, got 0 columns");
  require_finite(training.flat(), "training");
  n_ = training.rows;
  d_ = training.cols;
  training_ = Matrix(n_, d_, std::vector<double>(training.data, training.data + n_ * d_));
  n_padded_ = (n_ + W - 1) / W * W;
  // Sweeps use aligned loads: the padded point count is a multiple of the
  // batch size, so every coordinate row of packed_ starts aligned.
  packed_.assign(d_ * n_padded_, 0.0);
  sq_norms_.assign(n_padded_, 0.0);
  double max_sq = 0.0;
  for (std::size_t i = 0; i < n_; ++i) {
    double sq = 0.0;
    for (std::size_t k = 0; k < d_; ++k) {
      const double v = training(i, k);
      packed_[k * n_padded_ + i] = v;
      sq += v * v;
    }
    sq_norms_[i] = sq;
    max_sq = std::max(max_sq, sq);
  }
  max_norm_ = std::sqrt(max_sq);
  if (d_ > 4) {
    d_row_ = (d_ + W - 1) / W * W;
    rows_.assign(n_padded_ * d_row_, 0.0);  // padding rows too: the moments dgemm reads whole blocks
    for (std::size_t i = 0; i < n_; ++i) std::copy_n(training_.row(i).data(), d_, rows_.data() + i * d_row_);
  }
}

EmpiricalScoreStats EmpiricalScore::evaluate(MatrixView x, std::span<const double> mu_t,
                                             std::span<const double> sigma_t, std::span<double> score,
                                             std::span<double> log_density, std::span<double> divergence,
                                             const EmpiricalScoreOptions& options) const {
  options.validate();
  const std::size_t q = x.rows;
  require(x.cols == d_, "x",
          "expected " + std::to_string(d_) + " columns (the training set's d), got " + std::to_string(x.cols));
  require_finite(x.flat(), "x");
  require_times(mu_t, q, "mu_t", false);
  require_times(sigma_t, q, "sigma_t", true);
  require_output(score, q * d_, "score");
  require_output(log_density, q, "log_density");
  require_output(divergence, q, "divergence");

  EmpiricalScoreStats stats;
  stats.queries = q;
  stats.training_points = n_;
  stats.simd = xsimd::default_arch::name();
  stats.block_points = std::min(block_points(d_), n_padded_);
  if (q == 0) return stats;

  const bool screening =
      options.screening == DistanceScreening::on ||
      (options.screening == DistanceScreening::automatic && d_ >= screening_min_dim && n_padded_ > stats.block_points);
  // The expanded form needs the row-major copy (d > 4) and the dgemm tiles.
  const double expanded_tolerance = screening && d_ > 4 ? options.expanded_tolerance : -1.0;
  const Request rq{x, mu_t, sigma_t, score, log_density, divergence, screening, expanded_tolerance};
  const Training tr{packed_.data(), rows_.data(), training_.data(), sq_norms_.data(), n_, d_,
                    n_padded_,      d_row_,       max_norm_};

  const std::size_t tile = options.tile;
  const std::size_t tiles = (q + tile - 1) / tile;
  std::vector<TileCounters> counters(tiles);
  const auto run = [&]<std::size_t D>() {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tiles, 1), [&](const tbb::blocked_range<std::size_t>& range) {
      for (std::size_t t = range.begin(); t != range.end(); ++t) {
        const std::size_t q0 = t * tile;
        counters[t] = evaluate_tile<D>(tr, rq, q0, std::min(tile, q - q0));
      }
    });
  };
  // dgemm inside TBB tasks runs single-threaded (nested oversubscription).
  std::optional<ScopedBlasThreads> single_threaded_blas;
  if (screening) single_threaded_blas.emplace(1);
  switch (d_) {
    case 1:
      run.template operator()<1>();
      break;
    case 2:
      run.template operator()<2>();
      break;
    case 3:
      run.template operator()<3>();
      break;
    case 4:
      run.template operator()<4>();
      break;
    default:
      run.template operator()<0>();
      break;
  }
  for (const TileCounters& c : counters) {
    stats.distance_pairs += c.distance_batches * W;
    stats.weighted_pairs += c.weighted_points;
    stats.expanded_pairs += c.expanded_points;
    stats.expanded_fallbacks += c.expanded_fallbacks;
    stats.screened_blocks += c.screened_blocks;
    stats.direct_blocks += c.direct_blocks;
  }
  return stats;
}

EmpiricalScore::Values EmpiricalScore::evaluate(MatrixView x, double mu_t, double sigma_t,
                                                const EmpiricalScoreOptions& options) const {
  Values v{Matrix(x.rows, d_), std::vector<double>(x.rows), std::vector<double>(x.rows)};
  const double mu[1] = {mu_t}, sigma[1] = {sigma_t};
  evaluate(x, mu, sigma, v.score.flat(), v.log_density, v.divergence, options);
  return v;
}

}  // namespace gengap
