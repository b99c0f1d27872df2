#pragma once
// Internal to kernels/empirical_score.cpp: the per-block pieces of the
// streaming empirical score (see kernels/empirical_score.hpp for the method):
// sweep 1 (exact log-weights, block max and argmax, SIMD over points), sweep 2
// (weights and their sums about the block's argmax; SIMD over points for
// d <= 4, over coordinates for d > 4) and the merge of a block into a query's
// running state (online rescale + Chan et al.'s pairwise update).
// xsimd's exp trips GCC 12's false uninitialized warnings: the including file
// includes simd/gcc_warnings.hpp first.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "gengap/kernels/detail/aligned_allocator.hpp"
#include "gengap/kernels/simd/empirical_score_tiles.hpp"

namespace gengap::detail::empirical {

using Batch = xsimd::batch<double>;
template <class T>
using Aligned = std::vector<T, AlignedAllocator<T>>;
static_assert(simd_alignment % alignof(Batch) == 0, "AlignedAllocator must align every batch");
constexpr std::size_t W = Batch::size;
constexpr double infinity = std::numeric_limits<double>::infinity();
constexpr double unit_roundoff = 0x1p-53;
// Points whose log-weights are below M - skip_log_ratio carry < e^-46 = 1e-20
// of the largest weight each: skipped (error bound: kernels/empirical_score.hpp).
// Measured: 46 instead of 64 cut the exactly evaluated pairs from 10.6% to
// 3.2% and the time by ~15% at d = 64, ou t = 0.1.
constexpr double skip_log_ratio = 46.0;
// Batches per step of sweep 1: independent |r|^2 fma chains, enough to cover
// the fma latency (one chain per batch would be latency-bound for large d).
constexpr std::size_t sweep_group = 4;

struct Training {
  const double* packed;    // d <= 4: d x n_padded, coordinate-major, aligned to the batch size
  const double* panels;    // panels of panel_points points, coordinate-major inside (empirical_score_tiles.hpp)
  const double* rows;      // n_padded x d_row, row-major, zero-padded (d > 4 only)
  const double* training;  // n x d, row-major, as given
  const double* sq_norms;  // n_padded (or more: whole panels), |x_i|^2 rounded once
  std::size_t n, d, n_padded, d_row;
  double max_norm;  // max_i |x_i|
  // Point i's d coordinates: from the padded row-major copy when there is one
  // (its current block sits in L2; the as-given copy would miss to DRAM: 3.5%
  // of the time at d = 64 went to merging blocks about such points).
  const double* point(std::size_t i) const { return d_row > 0 ? rows + i * d_row : training + i * d; }
  // Batch b's coordinate 0 in the panels; coordinate k is panel_points further each.
  const double* panel_batch(std::size_t b) const {
    return panels + (b / panel_batches) * panel_points * d + (b % panel_batches) * W;
  }
};

// The streaming state of one query: running max M, S = sum exp(l_i - M) over
// the points merged so far, the reference point (their first argmax), the
// weighted mean of x_i as an offset from x_ref (d entries, held by the tile)
// and the centred weighted sum of squares M2 (in units of exp(-M), like S).
struct Running {
  double M = -infinity;
  double S = 0.0;
  double M2 = 0.0;
  std::size_t ref = 0;
};

// One block's sweep-2 sums, about the block's argmax c: S_b = sum w,
// D_b = sum w (x_i - x_c) (d entries, in the caller's buffer), Q_b = sum w |x_i - x_c|^2.
struct BlockSums {
  double S = 0.0;
  double Q = 0.0;
};

inline Batch lane_offsets() {
  alignas(64) double v[W];
  for (std::size_t j = 0; j < W; ++j) v[j] = static_cast<double>(j);
  return Batch::load_aligned(v);
}

// Lanes of the last batch that hold real points (the rest is padding).
inline xsimd::batch_bool<double> tail_mask(std::size_t n) {
  const std::size_t valid = n - (n - 1) / W * W;
  return lane_offsets() < Batch(static_cast<double>(valid));
}

// Sweep 1 over the listed batches (indices relative to the block's first
// batch): l = -|fl(x - mu x_i)|^2 c2 into l[rel W ..], padding -inf; returns
// the block max and its first (smallest-index) argmax; x: the query's d
// coordinates. The |r|^2 of a batch is the same fma chain over coordinates
// k = 0..d-1 whatever the grouping, so every l is bitwise independent of the list.
template <std::size_t D>
void sweep_distances(const Training& tr, const double* x, double mu, double neg_c2, std::size_t first,
                     const std::uint32_t* list, std::size_t count, double* l, double& block_max,
                     std::size_t& block_argmax) {
  const std::size_t d = D == 0 ? tr.d : D;
  const std::size_t last = (tr.n - 1) / W;
  const auto tail = tail_mask(tr.n);
  const Batch lanes = lane_offsets();
  const Batch mub(mu), nc2(neg_c2);
  Batch vmax(-infinity), vidx(0.0);
  // d <= 4: the coordinate-major copy (measured ~4% faster at d = 2 than the
  // panels); d > 4: the panels, which the tile kernel has just brought into L2
  // (the copy's d rows are n apart: a screened batch touched d cold lines).
  const std::size_t stride = D == 0 ? panel_points : tr.n_padded;
  const auto batch_at = [&](std::size_t b) { return D == 0 ? tr.panel_batch(b) : tr.packed + b * W; };
  const auto finish = [&](std::size_t rel, Batch dist) {
    const std::size_t b = first + rel;
    Batch lv = dist * nc2;
    if (b == last) lv = xsimd::select(tail, lv, Batch(-infinity));
    lv.store_aligned(l + rel * W);
    const auto better = lv > vmax;  // strict: ties keep the earlier point
    vidx = xsimd::select(better, Batch(static_cast<double>(b * W)) + lanes, vidx);
    vmax = xsimd::select(better, lv, vmax);
  };
  std::size_t g = 0;
  for (; g + sweep_group <= count; g += sweep_group) {
    const double* p[sweep_group];
    Batch dist[sweep_group];
    for (std::size_t u = 0; u < sweep_group; ++u) {
      p[u] = batch_at(first + list[g + u]);
      dist[u] = Batch(0.0);
    }
    for (std::size_t k = 0; k < d; ++k) {
      const Batch xk(x[k]);
      const std::size_t offset = k * stride;
      for (std::size_t u = 0; u < sweep_group; ++u) {
        const Batch r = xsimd::fnma(mub, Batch::load_aligned(p[u] + offset), xk);
        dist[u] = xsimd::fma(r, r, dist[u]);
      }
    }
    for (std::size_t u = 0; u < sweep_group; ++u) finish(list[g + u], dist[u]);
  }
  for (; g < count; ++g) {
    const double* p = batch_at(first + list[g]);
    Batch dist(0.0);
    for (std::size_t k = 0; k < d; ++k) {
      const Batch r = xsimd::fnma(mub, Batch::load_aligned(p + k * stride), Batch(x[k]));
      dist = xsimd::fma(r, r, dist);
    }
    finish(list[g], dist);
  }
  alignas(64) double m[W], idx[W];
  vmax.store_aligned(m);
  vidx.store_aligned(idx);
  block_max = -infinity;
  block_argmax = 0;
  for (std::size_t j = 0; j < W; ++j) {
    const auto i = static_cast<std::size_t>(idx[j]);
    if (m[j] > block_max || (m[j] == block_max && i < block_argmax)) {
      block_max = m[j];
      block_argmax = i;
    }
  }
}

// Sweep 2 over the listed batches against the new running max M: points with
// log-weight >= M - skip_log_ratio add w = exp(l - M), w (x_i - x_c) and
// w |x_i - x_c|^2, in point order. Two layouts, chosen by d:
// - d <= 4 (sweep_weights_lanes): SIMD over points, whole batches (a batch
//   with any point above the cut; the others in it add weights < e^-46),
//   accumulators lane-wise in registers (cb: x_c broadcast per coordinate),
//   reduced in a fixed order at the end;
// - d > 4 (sweep_weights_rows): SIMD over coordinates of each point above the
//   cut, from the padded row-major copy: the d sums need no reduction across
//   lanes, which per block and query would cost d horizontal adds.
template <std::size_t D>
BlockSums sweep_weights_lanes(const Training& tr, const Batch* cb, double M, std::size_t first,
                              const std::uint32_t* list, std::size_t count, const double* l, double* sums,
                              std::size_t& weighted_points) {
  static_assert(D > 0);
  Batch acc[D];
  for (std::size_t k = 0; k < D; ++k) acc[k] = Batch(0.0);
  Batch S(0.0), Q(0.0);
  const Batch cut(M - skip_log_ratio), Mb(M);
  for (std::size_t g = 0; g < count; ++g) {
    const std::size_t rel = list[g];
    const Batch lb = Batch::load_aligned(l + rel * W);
    if (!xsimd::any(lb >= cut)) continue;
    weighted_points += W;
    const Batch w = xsimd::exp(lb - Mb);
    S += w;
    const double* p = tr.packed + (first + rel) * W;
    Batch q(0.0);
    for (std::size_t k = 0; k < D; ++k) {
      const Batch delta = Batch::load_aligned(p + k * tr.n_padded) - cb[k];
      acc[k] = xsimd::fma(w, delta, acc[k]);
      q = xsimd::fma(delta, delta, q);
    }
    Q = xsimd::fma(w, q, Q);
  }
  for (std::size_t k = 0; k < D; ++k) sums[k] = xsimd::hadd(acc[k]);
  return {xsimd::hadd(S), xsimd::hadd(Q)};
}

// KB = d_row / W batches per row when known at compile time (accumulators in
// registers), 0 for the run-time loop (accumulators in acc).
template <std::size_t KB>
BlockSums sweep_weights_rows(const Training& tr, std::size_t c, double M, std::size_t first, const std::uint32_t* list,
                             std::size_t count, const double* l, Batch* acc_scratch, double* sums,
                             std::size_t& weighted_points) {
  const std::size_t kb_count = KB == 0 ? tr.d_row / W : KB;
  Batch acc_reg[KB == 0 ? 1 : KB];
  Batch* acc = KB == 0 ? acc_scratch : acc_reg;
  const double* c_row = tr.rows + c * tr.d_row;
  for (std::size_t kb = 0; kb < kb_count; ++kb) acc[kb] = Batch(0.0);
  // Two partial sums of w |x_i - x_c|^2 (one chain over d / W batches per
  // point would be latency-bound).
  Batch Q0(0.0), Q1(0.0);
  double S = 0.0;
  std::size_t weighted = 0;
  const double cut = M - skip_log_ratio;
  const Batch cut_b(cut), Mb(M);
  alignas(64) double weights[W];
  for (std::size_t g = 0; g < count; ++g) {
    const std::size_t rel = list[g];
    const double* lr = l + rel * W;
    const Batch lb = Batch::load_aligned(lr);
    if (!xsimd::any(lb >= cut_b)) continue;
    xsimd::exp(lb - Mb).store_aligned(weights);
    for (std::size_t j = 0; j < W; ++j) {
      if (!(lr[j] >= cut)) continue;
      ++weighted;
      S += weights[j];
      const Batch w(weights[j]);
      const double* row = tr.rows + ((first + rel) * W + j) * tr.d_row;
      std::size_t kb = 0;
      for (; kb + 2 <= kb_count; kb += 2) {
        const Batch d0 = Batch::load_aligned(row + kb * W) - Batch::load_aligned(c_row + kb * W);
        const Batch d1 = Batch::load_aligned(row + (kb + 1) * W) - Batch::load_aligned(c_row + (kb + 1) * W);
        acc[kb] = xsimd::fma(w, d0, acc[kb]);
        acc[kb + 1] = xsimd::fma(w, d1, acc[kb + 1]);
        Q0 = xsimd::fma(w, d0 * d0, Q0);
        Q1 = xsimd::fma(w, d1 * d1, Q1);
      }
      if (kb < kb_count) {
        const Batch d0 = Batch::load_aligned(row + kb * W) - Batch::load_aligned(c_row + kb * W);
        acc[kb] = xsimd::fma(w, d0, acc[kb]);
        Q0 = xsimd::fma(w, d0 * d0, Q0);
      }
    }
  }
  weighted_points += weighted;
  alignas(64) double lanes[W];
  for (std::size_t kb = 0; kb < kb_count; ++kb) {
    acc[kb].store_aligned(lanes);
    std::copy_n(lanes, std::min(W, tr.d - kb * W), sums + kb * W);
  }
  return {S, xsimd::hadd(Q0 + Q1)};
}

// One block's statistics about its reference point c (its argmax): total
// weight S, weighted mean as an offset from x_c (d entries, caller's buffer)
// and centred weighted sum of squares M2, all against the block's max M.
struct BlockStats {
  double S = 0.0;
  double M2 = 0.0;
};

// From the sweep-2 sums: offset = D / S, M2 = Q - S |offset|^2 (Q is centred
// at x_c, so this loses at most the digits of |offset|^2 / (Q / S) <= 1 - w_c / S).
inline BlockStats from_sums(const BlockSums& b, double* sums, std::size_t d) {
  // Times 1/S (a division per coordinate cost ~5% at ou t = 0.1, d = 64);
  // four partial sums (one chain over d would be latency-bound).
  const double inv_S = 1.0 / b.S;
  double part[4] = {0.0, 0.0, 0.0, 0.0};
  for (std::size_t k = 0; k < d; ++k) {
    sums[k] *= inv_S;
    part[k % 4] += sums[k] * sums[k];
  }
  const double sq = (part[0] + part[1]) + (part[2] + part[3]);
  return {b.S, std::max(0.0, b.Q - b.S * sq)};
}

// Merges one block (max m_b, reference c_b, offset_b) into the running state
// whose new max is M_new = max(M, m_b): rescale by exp(M - M_new), then Chan et
// al.'s pairwise update of the weighted mean and centred sum of squares. The
// mean is kept as an offset from the reference point, which follows the
// running argmax.
inline void merge_block(const Training& tr, Running& st, double* offset, double m_b, std::size_t c_b,
                        const BlockStats& b, const double* offset_b, double M_new) {
  const std::size_t d = tr.d;
  if (st.S == 0.0) {
    st.S = b.S;
    st.M2 = b.M2;
    st.ref = c_b;
    std::copy_n(offset_b, d, offset);
    st.M = M_new;
    return;
  }
  const double f = std::exp(st.M - M_new);
  const double S_a = st.S * f;
  const double S = S_a + b.S;
  // mean_a - mean_b = (x_ref - x_{c_b}) + (offset_a - offset_b): differences
  // of training coordinates and of small offsets, no large cancellation.
  // Lane-wise partial sums: one scalar chain over d would be latency-bound.
  const double* x_ref = tr.point(st.ref);
  const double* x_c = tr.point(c_b);
  const auto delta_at = [&](std::size_t k) { return (x_ref[k] - x_c[k]) + (offset[k] - offset_b[k]); };
  Batch delta2_lanes(0.0);
  std::size_t k = 0;
  for (; k + W <= d; k += W) {
    const Batch delta = (Batch::load_unaligned(x_ref + k) - Batch::load_unaligned(x_c + k)) +
                        (Batch::load_unaligned(offset + k) - Batch::load_unaligned(offset_b + k));
    delta2_lanes = xsimd::fma(delta, delta, delta2_lanes);
  }
  double delta2 = xsimd::hadd(delta2_lanes);
  for (; k < d; ++k) delta2 += delta_at(k) * delta_at(k);
  st.M2 = st.M2 * f + b.M2 + (S_a * b.S / S) * delta2;
  // The merged mean is mean_b + (S_a/S) delta = mean_a - (S_b/S) delta; when
  // the block holds the new argmax the reference moves to x_{c_b}.
  const bool reanchor = m_b > st.M;
  if (reanchor) {
    const double share = S_a / S;
    for (std::size_t i = 0; i < d; ++i) offset[i] = offset_b[i] + share * delta_at(i);
  } else {
    const double share = b.S / S;
    for (std::size_t i = 0; i < d; ++i) offset[i] = offset[i] - share * delta_at(i);
  }
  if (reanchor) st.ref = c_b;
  st.S = S;
  st.M = M_new;
}

}  // namespace gengap::detail::empirical
