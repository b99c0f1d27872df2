// First: silences GCC 12's false warnings in xsimd's exp.
#include "gengap/kernels/simd/gcc_warnings.hpp"

#include "gengap/kernels/empirical_score.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>

#include "gengap/kernels/simd/empirical_score_blocks.hpp"
#include "gengap/kernels/simd/empirical_score_tiles.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"

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
// With the tile kernels (d = 64, tile 96) 512 and 2048 were within the noise
// of 1024 (~10% on the shared machine) at ou t = 0.1 and 1.
std::size_t block_points(std::size_t d) { return d <= 4 ? 2048 : 1024; }

// An expanded block whose centred second moment is below this fraction of
// the raw one is redone exactly (E|x|^2 - |E x|^2 would amplify the sums'
// rounding more than 16-fold).
constexpr double expanded_cancellation = 1.0 / 16.0;

struct TileCounters {
  std::size_t distance_batches = 0, weighted_points = 0, screened_blocks = 0, direct_blocks = 0;
  std::size_t expanded_points = 0, expanded_fallbacks = 0, expanded_redone = 0;
};

// gamma_k = k u / (1 - k u): the bound on the relative error of k roundings.
double gamma_k(std::size_t k) {
  const double ku = static_cast<double>(k) * unit_roundoff;
  return ku / (1.0 - ku);
}

// Bound on one query row's log-weight errors in the expanded form:
// |l~_j - l_j| <= alpha |x_j| + beta for every point j, with
// l_j = -c2 |x - mu x_j|^2 in exact arithmetic (c2 as computed: the same in
// every path) and
//   l~_j = fma(a, fl(x . x_j), fma(nb, h_j, nk)),  a = fl(2 mu c2),
//   nb = -fl(mu mu c2), h_j = fl(|x_j|^2), nk = -fl(c2 fl(|x|^2))
// (h_j and |x|^2 summed in long double, then rounded: u + d 2^-64, one more
// u per 2048 coordinates). alpha: the dot product (one fma chain,
// gamma_d |x| |x_j|), the rounding of a and the outer fma's share,
// a |x| gamma_{d+3}. beta: b = mu^2 c2 (2 roundings), h_j, the inner fma and
// the outer fma's share, gamma_6 (b R^2 + c2 |x|^2) with R >= max_j |x_j|,
// plus 64 u for l~ - M and exp (a kept point has |l~ - M| <= 46: 46 u;
// exp_nonpositive within 3 ulp).
struct WeightError {
  double alpha = 0.0, beta = 0.0;
  double at(double norm) const { return alpha * norm + beta; }
};

WeightError expanded_weight_error(std::size_t d, double mu, double c2, double norm_x, double max_norm) {
  const double R = max_norm * (1.0 + 8.0 * unit_roundoff);  // max_norm is a rounded square root
  const double a = 2.0 * mu * c2, b = mu * mu * c2;
  const double fudge = 1.0 + 1e-10;  // the bound's own rounding
  return {fudge * a * norm_x * gamma_k(d + 3),
          fudge * ((b * R * R + c2 * norm_x * norm_x) * gamma_k(6 + d / 2048) + 64.0 * unit_roundoff)};
}

// Bound on the relative errors of one query's outputs caused by its
// log-weight errors e_j (see the header). Only their spread matters: with
// w~_j = w_j e^{e_j}, E~[x] - E[x] = sum_j w_j (e^{e_j} - 1)(x_j - E x) / S~,
// so |delta E x| <= E_w[|e_j| |x_j - E x|] <= sqrt(E_w e_j^2) sqrt(Var_w x)
// and sqrt(E_w e_j^2) <= alpha sqrt(E_w |x_j|^2) + beta = e_rms (Minkowski).
//   score:      e_rms sqrt(Var_w r) / sigma^2, relative to |s|_inf + 1/sigma;
//   divergence: |delta Var| <= max_j |e_j| E_w| |x_j - E x|^2 - Var | <= 2 e_max Var,
//               relative to its two terms: 2 e_max V / (V + d / sigma^2), V = Var_w r / sigma^4;
//   log p:      |delta log S| <= E_w |e_j| <= e_rms, relative to max(1, |log p|).
// The factor 1.01 covers the O(e^2) terms and the use of the computed moments.
double expanded_output_error(const WeightError& e, double R, double second_moment, double var_r, double sigma,
                             double score_inf, std::size_t d, double log_p) {
  const double s2 = sigma * sigma;
  const double e_rms = e.at(std::sqrt(second_moment)), e_max = e.at(R);
  const double score = e_rms * std::sqrt(var_r) / s2 / (score_inf + 1.0 / sigma);
  const double V = var_r / (s2 * s2);
  const double divergence = 2.0 * e_max * V / (V + static_cast<double>(d) / s2);
  const double log_density = e_rms / std::max(1.0, std::abs(log_p));
  return 1.01 * std::max({score, divergence, log_density});
}

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
  Aligned<Batch> cb(D == 0 ? 0 : d), acc(D == 0 ? tr.d_row / W : 0);
  std::vector<double> sums(std::max(d, tr.d_row)), offsets(T * d, 0.0), neg_c2(T), weight_error(T),
      screen_margin(T);
  std::vector<WeightError> row_error(T);
  std::vector<Running> running(T);
  std::vector<std::uint32_t> all(block_batches), list(block_batches);
  for (std::size_t j = 0; j < block_batches; ++j) all[j] = static_cast<std::uint32_t>(j);
  const bool gemm = rq.screening_allowed;
  std::vector<RowCoefficients> coef(gemm ? T : 0);
  // Row r may use the expanded form when weight_error[r], the bound on its
  // log-weight errors, is within the tolerance (its outputs are checked at the end).
  bool any_expandable = false;
  for (std::size_t r = 0; r < T; ++r) {
    const double mu = mu_of(q0 + r), s = sigma_of(q0 + r);
    const double c2 = 0.5 / (s * s);
    neg_c2[r] = -c2;
    if (!gemm) continue;
    const double* x = rq.x.row(q0 + r);
    long double nx = 0.0L;  // |x|^2 to ~1 rounding: it enters every l~ of the row
    for (std::size_t k = 0; k < d; ++k) nx += static_cast<long double>(x[k]) * x[k];
    const double norm2 = static_cast<double>(nx);
    coef[r] = {2.0 * mu * c2, -(mu * mu * c2), -(c2 * norm2)};
    row_error[r] = expanded_weight_error(d, mu, c2, std::sqrt(norm2), tr.max_norm);
    weight_error[r] = row_error[r].at(tr.max_norm);
    // Screening compares l~ with the exact path's computed l, which is within
    // gamma_{d+2} c2 |r|^2 of l (d + 1 roundings of |fl(x - mu x_j)|^2, one of c2).
    const double reach = std::sqrt(norm2) + mu * tr.max_norm * (1.0 + 8.0 * unit_roundoff);
    screen_margin[r] = weight_error[r] + gamma_k(d + 2) * c2 * reach * reach * (1.0 + 1e-10);
    any_expandable = any_expandable || weight_error[r] <= rq.expanded_tolerance;
  }
  const std::size_t ld = (B + panel_points - 1) / panel_points * panel_points;
  Aligned<double> approx(gemm ? T * ld : 0), moments(gemm ? T * tr.d_row : 0);
  std::vector<double*> approx_rows(gemm ? T : 0);
  for (std::size_t r = 0; r < approx_rows.size(); ++r) approx_rows[r] = approx.data() + r * ld;
  struct Expanded {
    std::size_t row, argmax;
    double M_new, block_max, S, Q;
  };
  std::vector<Expanded> expanded;
  std::vector<const double*> expanded_weights;
  std::vector<double*> expanded_moments;
  std::vector<char> used_expanded(T, 0), dense(T, 0);
  std::size_t direct_left = 0;
  TileCounters counters;

  // The exact path on the listed batches of one block for row r.
  const auto process = [&](std::size_t r, std::size_t first, const std::uint32_t* batches, std::size_t count) {
    if (count == 0) return;
    Running& st = running[r];
    const double mu = mu_of(q0 + r);
    double m_b = -infinity;
    std::size_t c_b = 0;
    sweep_distances<D>(tr, rq.x.row(q0 + r), mu, neg_c2[r], first, batches, count, l.data(), m_b, c_b);
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
  // Batches of row r's l~ (approx row) that can matter under the bound.
  const auto candidates = [&](std::size_t r, const double* row, std::size_t nb, double approx_max) {
    const double margin = screen_margin[r];
    const double lower = std::max(running[r].M, approx_max - margin) - skip_log_ratio - margin;
    const Batch lo(lower);
    std::size_t count = 0;
    for (std::size_t j = 0; j < nb; ++j)
      if (xsimd::any(Batch::load_aligned(row + j * W) >= lo)) list[count++] = static_cast<std::uint32_t>(j);
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
    // l~ from x . x_i (tile kernel). Per row, either screening (only the
    // batches that can matter under the bound go through the exact sweeps)
    // or, when many batches matter and the row's bound is within the
    // tolerance, the expanded form: weights exp(l~ - M), moments by the tile kernel.
    ++counters.screened_blocks;
    const std::size_t cols = nb * W;
    const std::size_t first_point = first * W;
    log_weights_tile(rq.x.row(q0), d, coef.data(), T, tr.panels + first_point * d, tr.sq_norms + first_point,
                     (cols + panel_points - 1) / panel_points, d, approx.data(), ld);
    const std::size_t last = (tr.n - 1) / W;
    const auto tail = tail_mask(tr.n);
    std::size_t screened_candidates = 0, screened_rows = 0;
    expanded.clear();
    expanded_weights.clear();
    for (std::size_t r = 0; r < T; ++r) {
      double* row = approx_rows[r];
      if (first + nb - 1 == last) {
        const std::size_t j = last - first;
        xsimd::select(tail, Batch::load_aligned(row + j * W), Batch(-infinity)).store_aligned(row + j * W);
      }
      // Four max chains (one is latency-bound); nb is a multiple of 4 except
      // in the last block.
      Batch amax[4] = {Batch(-infinity), Batch(-infinity), Batch(-infinity), Batch(-infinity)};
      std::size_t j = 0;
      for (; j + 4 <= nb; j += 4)
        for (std::size_t u = 0; u < 4; ++u) amax[u] = xsimd::max(amax[u], Batch::load_aligned(row + (j + u) * W));
      for (; j < nb; ++j) amax[0] = xsimd::max(amax[0], Batch::load_aligned(row + j * W));
      alignas(64) double lanes[W];
      xsimd::max(xsimd::max(amax[0], amax[1]), xsimd::max(amax[2], amax[3])).store_aligned(lanes);
      const double approx_max = *std::max_element(lanes, lanes + W);
      // Dense enough for the expanded moments to beat the exact sweeps? A row
      // found dense in its previous block is taken as dense again without
      // the candidates pass (either path is exact to its bound).
      const bool expandable = weight_error[r] <= rq.expanded_tolerance;
      if (!(expandable && dense[r])) {
        const std::size_t count = candidates(r, row, nb, approx_max);
        if (!expandable || 4 * count <= nb) {
          dense[r] = 0;
          screened_candidates += count;
          ++screened_rows;
          process(r, first, list.data(), count);
          continue;
        }
      }
      // First index of the max (the block's reference point).
      std::size_t argmax = 0;
      for (const Batch mb(approx_max);; argmax += W)
        if (xsimd::any(Batch::load_aligned(row + argmax) == mb)) break;
      while (row[argmax] != approx_max) ++argmax;
      // Weights in place of l~ (points below the skip cut get 0).
      const double M_new = std::max(running[r].M, approx_max);
      const Batch cut(M_new - skip_log_ratio), Mb(M_new);
      const double* sq = tr.sq_norms + first_point;
      Batch S(0.0), Q(0.0);
      std::size_t kept_batches = 0;
      for (std::size_t j = 0; j < nb; ++j) {
        const Batch lb = Batch::load_aligned(row + j * W);
        const auto keep = lb >= cut;
        Batch wb(0.0);
        if (xsimd::any(keep)) {
          wb = xsimd::select(keep, exp_nonpositive(lb - Mb), Batch(0.0));
          ++kept_batches;
        }
        wb.store_aligned(row + j * W);
        S += wb;
        Q = xsimd::fma(wb, Batch::load_aligned(sq + j * W), Q);
      }
      dense[r] = 4 * kept_batches > nb;
      expanded.push_back({r, first_point + argmax, M_new, approx_max, xsimd::hadd(S), xsimd::hadd(Q)});
      expanded_weights.push_back(row);
      counters.expanded_points += cols;
    }
    if (!expanded.empty()) {
      expanded_moments.resize(expanded.size());
      for (std::size_t e = 0; e < expanded.size(); ++e) expanded_moments[e] = moments.data() + e * tr.d_row;
      moments_tile(expanded_weights.data(), expanded.size(), tr.rows + first_point * tr.d_row, tr.d_row, cols,
                   expanded_moments.data());
      for (std::size_t e = 0; e < expanded.size(); ++e) {
        const Expanded& ex = expanded[e];
        const double* m = expanded_moments[e];
        // Lane-wise over the padded coordinates (padding: 0 in both).
        const double* x_c = tr.rows + ex.argmax * tr.d_row;
        const Batch inv_S(1.0 / ex.S);
        Batch raw2(0.0);
        for (std::size_t k = 0; k < tr.d_row; k += W) {
          const Batch mk = Batch::load_aligned(m + k);
          raw2 = xsimd::fma(mk, mk, raw2);
          xsimd::fms(mk, inv_S, Batch::load_aligned(x_c + k)).store_unaligned(sums.data() + k);
        }
        const double M2 = ex.Q - xsimd::hadd(raw2) / ex.S;
        // E|x|^2 - |E x|^2 keeps its digits while the centred part is at
        // least 1/16 of the raw one (the sums' rounding grows <= 16x);
        // otherwise (weight on points close together, far from 0) this row's
        // block is redone exactly.
        if (!(M2 > expanded_cancellation * ex.Q)) {
          ++counters.expanded_fallbacks;
          const double* row = approx_rows[ex.row];
          // The weights replaced l~ in place: recompute the row's l~ for screening.
          log_weights_tile(rq.x.row(q0 + ex.row), d, coef.data() + ex.row, 1, tr.panels + first_point * d,
                           tr.sq_norms + first_point, (cols + panel_points - 1) / panel_points, d, approx_rows[ex.row],
                           ld);
          if (first + nb - 1 == last) {
            const std::size_t j = last - first;
            xsimd::select(tail, Batch::load_aligned(row + j * W), Batch(-infinity))
                .store_aligned(approx_rows[ex.row] + j * W);
          }
          process(ex.row, first, list.data(), candidates(ex.row, row, nb, ex.block_max));
          continue;
        }
        used_expanded[ex.row] = 1;
        merge_block(tr, running[ex.row], offsets.data() + ex.row * d, ex.block_max, ex.argmax, {ex.S, M2},
                    sums.data(), ex.M_new);
      }
    }
    // Rows on the exact path whose batches mostly matter: screening saves
    // nothing, so skip the tile kernel for a while (unless some row expands).
    if (!any_expandable && screened_rows > 0 &&
        static_cast<double>(screened_candidates) > dense_fraction * static_cast<double>(screened_rows * nb))
      direct_left = direct_run;
  }

  // Finish: E_w r = (x - mu x_ref) - mu offset, each by one rounding. A row
  // that used the expanded form and whose outputs' error bound exceeds the
  // tolerance is redone on the exact path first.
  const double log_n = std::log(static_cast<double>(tr.n));
  std::vector<double> score(d);
  for (std::size_t r = 0; r < T; ++r) {
    const std::size_t q = q0 + r;
    const double mu = mu_of(q), s = sigma_of(q);
    const double s2 = s * s;
    const double* x = rq.x.row(q);
    double score_inf = 0.0, var_r = 0.0, log_p = 0.0;
    const auto finish = [&] {
      const Running& st = running[r];
      const double* offset = offsets.data() + r * d;
      score_inf = 0.0;
      for (std::size_t k = 0; k < d; ++k) {
        const double rc = std::fma(-mu, tr.point(st.ref)[k], x[k]);
        score[k] = -std::fma(-mu, offset[k], rc) / s2;
        score_inf = std::max(score_inf, std::abs(score[k]));
      }
      var_r = mu * mu * (st.M2 / st.S);  // Var_w(r) = mu^2 Var_w(x_i)
      log_p = st.M + std::log(st.S) - log_n - 0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi * s2);
    };
    finish();
    if (used_expanded[r]) {
      // E_w |x_j|^2 = Var_w x + |x_ref + offset|^2.
      const Running& st = running[r];
      double mean2 = 0.0;
      for (std::size_t k = 0; k < d; ++k) {
        const double m = tr.point(st.ref)[k] + offsets[r * d + k];
        mean2 += m * m;
      }
      const double bound = expanded_output_error(row_error[r], tr.max_norm, st.M2 / st.S + mean2, var_r, s,
                                                 score_inf, d, log_p);
      if (!(bound <= rq.expanded_tolerance)) {
        ++counters.expanded_redone;
        running[r] = Running{};
        std::fill_n(offsets.data() + r * d, d, 0.0);
        for (std::size_t first = 0; first < total_batches; first += block_batches)
          process(r, first, all.data(), std::min(block_batches, total_batches - first));
        finish();
      }
    }
    if (!rq.score.empty()) std::copy(score.begin(), score.end(), rq.score.begin() + static_cast<std::ptrdiff_t>(q * d));
    if (!rq.divergence.empty()) rq.divergence[q] = var_r / s2 / s2 - static_cast<double>(d) / s2;
    if (!rq.log_density.empty()) rq.log_density[q] = log_p;
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
  // batch size, so every coordinate row of packed_ starts aligned. Only
  // d <= 4 keeps it (both sweeps SIMD over points); d > 4 reads the panels.
  if (d_ <= 4) packed_.assign(d_ * n_padded_, 0.0);
  // Panels of panel_points points (the tile kernel's layout), zero-padded.
  const std::size_t n_panels = (n_ + panel_points - 1) / panel_points;
  panels_.assign(n_panels * panel_points * d_, 0.0);
  sq_norms_.assign(std::max(n_padded_, n_panels * panel_points), 0.0);
  long double max_sq = 0.0L;
  for (std::size_t i = 0; i < n_; ++i) {
    long double sq = 0.0L;  // one rounding in all: the expanded form's error bound counts on it
    double* panel = panels_.data() + (i / panel_points) * panel_points * d_ + i % panel_points;
    for (std::size_t k = 0; k < d_; ++k) {
      const double v = training(i, k);
      if (d_ <= 4) packed_[k * n_padded_ + i] = v;
      panel[k * panel_points] = v;
      sq += static_cast<long double>(v) * v;
    }
    sq_norms_[i] = static_cast<double>(sq);
    max_sq = std::max(max_sq, sq);
  }
  max_norm_ = static_cast<double>(std::sqrt(max_sq));
  if (d_ > 4) {
    d_row_ = (d_ + W - 1) / W * W;
    rows_.assign(n_padded_ * d_row_, 0.0);  // padding rows too: the moments kernel reads whole blocks
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
  // The expanded form needs the row-major copy (d > 4) and the tile kernels.
  const double expanded_tolerance = screening && d_ > 4 ? options.expanded_tolerance : -1.0;
  const Request rq{x, mu_t, sigma_t, score, log_density, divergence, screening, expanded_tolerance};
  const Training tr{packed_.data(), panels_.data(), rows_.data(), training_.data(), sq_norms_.data(), n_, d_,
                    n_padded_,      d_row_,         max_norm_};

  const std::size_t tile = options.tile;
  const std::size_t tiles = (q + tile - 1) / tile;
  std::vector<TileCounters> counters(tiles);
  const auto run = [&]<std::size_t D>() {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tiles, 1), [&](const tbb::blocked_range<std::size_t>& range) {
      for (std::size_t t = range.begin(); t != range.end(); ++t) {
        check_interrupt();
        const std::size_t q0 = t * tile;
        counters[t] = evaluate_tile<D>(tr, rq, q0, std::min(tile, q - q0));
      }
    });
  };
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
    stats.expanded_redone += c.expanded_redone;
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
