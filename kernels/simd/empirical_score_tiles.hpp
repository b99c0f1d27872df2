#pragma once
// Internal to kernels/empirical_score.cpp: the register-blocked tile kernels
// (see kernels/empirical_score.hpp): the log-weights of a tile of queries
// against a block of training points from dot products (log_weights_tile),
// the weighted first moments sum_j w_rj x_j of the queries that use the
// expanded form (moments_tile), and the exp of their weights. Hand-written
// rather than cblas_dgemm: OpenBLAS packs both operands on every call (the
// weights are new for every block; its copies took ~20% of the time at ou
// t = 1, d = 64), while here the training points are packed once into panels
// (log_weights_tile) and kept row-major (moments_tile); and each query's
// arithmetic is the same whatever queries share its tile or register block,
// so its bits do not depend on the batching. Register counts assume AVX-512
// (32 registers; with AVX2 the micro-tiles spill, still correct).
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstddef>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace gengap::detail::empirical {

using TileBatch = xsimd::batch<double>;
constexpr std::size_t tile_width = TileBatch::size;
// Panel: panel_batches SIMD batches of points, coordinate-major inside
// (panel[k * panel_points + j]), so a micro-tile reads one contiguous panel.
constexpr std::size_t panel_batches = 4;
constexpr std::size_t panel_points = panel_batches * tile_width;
// Query rows per micro-tile of the log-weights: dot_rows x panel_batches
// accumulators, panel_batches panel batches and one broadcast fill 29 of the
// 32 registers. The dot products are one fma chain over k = 0..d-1 each: the
// rounding error is at most gamma_d sum_k |x_k x_jk| <= gamma_d |x| |x_j|.
// (Chunked sums would lower gamma_d to gamma_{~d/4 + 4}, but their running
// totals do not fit in registers: measured 77% of the FMA peak against 86%.)
constexpr std::size_t dot_rows = 6;

// Per query row: l~_j = fma(a, x . x_j, fma(nb, |x_j|^2, nk)) with a = 2 mu c2,
// nb = -mu^2 c2, nk = -c2 |x|^2 (c2 = 1 / (2 sigma^2)).
struct RowCoefficients {
  double a = 0.0, nb = 0.0, nk = 0.0;
};

// R query rows (x + r ldx, d coordinates each) against one panel: l~ of the
// panel's points into out + r ldo (panel_points entries, aligned). sq: |x_j|^2
// of the panel.
template <std::size_t R>
inline void log_weights_micro(const double* x, std::size_t ldx, const RowCoefficients* coef, const double* panel,
                              const double* sq, std::size_t d, double* out, std::size_t ldo) {
  constexpr std::size_t P = panel_batches;
  TileBatch acc[R][P];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t i = 0; i < P; ++i) acc[r][i] = TileBatch(0.0);
  // Unrolled: ~87% of the FMA peak against ~79% (best of 40 runs each).
#pragma GCC unroll 4
  for (std::size_t k = 0; k < d; ++k) {
    TileBatch p[P];
    for (std::size_t i = 0; i < P; ++i) p[i] = TileBatch::load_aligned(panel + k * panel_points + i * tile_width);
    for (std::size_t r = 0; r < R; ++r) {
      const TileBatch xk(x[r * ldx + k]);
      for (std::size_t i = 0; i < P; ++i) acc[r][i] = xsimd::fma(xk, p[i], acc[r][i]);
    }
  }
  for (std::size_t i = 0; i < P; ++i) {
    const TileBatch h = TileBatch::load_aligned(sq + i * tile_width);
    for (std::size_t r = 0; r < R; ++r) {
      const TileBatch t = xsimd::fma(TileBatch(coef[r].nb), h, TileBatch(coef[r].nk));
      xsimd::fma(TileBatch(coef[r].a), acc[r][i], t).store_aligned(out + r * ldo + i * tile_width);
    }
  }
}

// `rows` query rows (x + r ldx, coef[r]) against `panels` consecutive panels
// (panel p at panels_base + p d panel_points, its |x_j|^2 at sq + p panel_points):
// l~ into out + r ldo + p panel_points + j (ldo a multiple of panel_points).
// Loop order: row block outer, so its rows stay in L1 while the panels
// stream from L2 (measured faster than panel outer: 78% vs 60% of the FMA peak).
inline void log_weights_tile(const double* x, std::size_t ldx, const RowCoefficients* coef, std::size_t rows,
                             const double* panels_base, const double* sq, std::size_t panels, std::size_t d,
                             double* out, std::size_t ldo) {
  for (std::size_t r0 = 0; r0 < rows; r0 += dot_rows) {
    const std::size_t R = std::min(dot_rows, rows - r0);
    const double* xr = x + r0 * ldx;
    for (std::size_t p = 0; p < panels; ++p) {
      const double* panel = panels_base + p * d * panel_points;
      const double* h = sq + p * panel_points;
      double* o = out + r0 * ldo + p * panel_points;
      switch (R) {
        case 6:
          log_weights_micro<6>(xr, ldx, coef + r0, panel, h, d, o, ldo);
          break;
        case 5:
          log_weights_micro<5>(xr, ldx, coef + r0, panel, h, d, o, ldo);
          break;
        case 4:
          log_weights_micro<4>(xr, ldx, coef + r0, panel, h, d, o, ldo);
          break;
        case 3:
          log_weights_micro<3>(xr, ldx, coef + r0, panel, h, d, o, ldo);
          break;
        case 2:
          log_weights_micro<2>(xr, ldx, coef + r0, panel, h, d, o, ldo);
          break;
        default:
          log_weights_micro<1>(xr, ldx, coef + r0, panel, h, d, o, ldo);
          break;
      }
    }
  }
}

// exp(x) for x <= 0: the weights exp(l - M) of the expanded form, within 3
// ulp of exp(x) for -700 <= x <= 0 (smaller x, -inf included, give a finite
// tiny value: callers zero those lanes). xsimd's exp costs ~24 cycles per
// AVX-512 batch (a tenth of the dot-product and moment FMAs of its 8 pairs at
// d = 64); with AVX-512 this one takes ~18 (measured with the loads and sums
// around it): k = nearest(16 x / ln 2) by the
// 1.5 2^52 shift (its low bits then hold k), r = x - k ln2 / 16 in two fmas
// (|r| <= 0.0217), exp(r) by its Taylor polynomial of degree 7 (truncation
// r^8 / 8! < 2e-18), times 2^{(k mod 16) / 16} from a 16-entry table (one
// two-register permute; entries correctly rounded) and 2^{floor(k / 16)} added
// to its exponent. Without AVX-512: xsimd's exp.
inline TileBatch exp_nonpositive(TileBatch x) {
#if defined(__AVX512F__)
  if constexpr (TileBatch::size == 8) {
    alignas(64) static constexpr double table[16] = {
        0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
        0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
        0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
        0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0};
    constexpr double shift = 0x1.8p52;
    constexpr double sixteen_log2e = 0x1.71547652b82fep4;
    constexpr double ln2_16_hi = 0x1.62e42fefa39efp-5, ln2_16_lo = 0x1.abc9e3b39803fp-60;
    const __m512d xv = _mm512_max_pd(x, _mm512_set1_pd(-700.0));
    const __m512d kb = _mm512_fmadd_pd(xv, _mm512_set1_pd(sixteen_log2e), _mm512_set1_pd(shift));
    const __m512d k = _mm512_sub_pd(kb, _mm512_set1_pd(shift));
    __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(ln2_16_hi), xv);
    r = _mm512_fnmadd_pd(k, _mm512_set1_pd(ln2_16_lo), r);
    __m512d p = _mm512_set1_pd(1.0 / 5040);
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 720));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 120));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 24));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 6));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0.5));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    // bits(kb) = bits(shift) + k: the table index is k's low 4 bits, the
    // exponent floor(k / 16) its arithmetic shift.
    const __m512i ki = _mm512_sub_epi64(_mm512_castpd_si512(kb), _mm512_castpd_si512(_mm512_set1_pd(shift)));
    // 2^{floor(k/16)} enters as an exponent add (the result stays normal).
    const __m512d frac = _mm512_permutex2var_pd(_mm512_load_pd(table), ki, _mm512_load_pd(table + 8));
    const __m512i e = _mm512_slli_epi64(_mm512_srai_epi64(ki, 4), 52);
    return _mm512_mul_pd(p, _mm512_castsi512_pd(_mm512_add_epi64(_mm512_castpd_si512(frac), e)));
  }
#endif
  return xsimd::exp(x);
}

// Query rows per micro-tile of the moments and coordinate batches per pass:
// moment_rows x moment_batches accumulators, moment_batches point batches and
// one broadcast fill 29 of the 32 registers (3 x 8 would need 33: the compiler
// then reloads the point's coordinates for every row, load-bound at ~75% of
// the FMA peak).
constexpr std::size_t moment_rows = 6;
constexpr std::size_t moment_batches = 4;

// out[r][c0 W .. (c0 + C) W) = sum_j w[r][j] x_j[c0 W ..] over `points` points
// of the row-major block (stride d_row), j in order.
template <std::size_t R, std::size_t C>
inline void moments_micro(const double* const* w, const double* rows, std::size_t d_row, std::size_t points,
                          std::size_t c0, double* const* out) {
  TileBatch acc[R][C];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < C; ++c) acc[r][c] = TileBatch(0.0);
  const double* base = rows + c0 * tile_width;
  const double* wr[R];
  for (std::size_t r = 0; r < R; ++r) wr[r] = w[r];
  for (std::size_t j = 0; j < points; ++j) {
    TileBatch xr[C];
    for (std::size_t c = 0; c < C; ++c) xr[c] = TileBatch::load_aligned(base + j * d_row + c * tile_width);
    for (std::size_t r = 0; r < R; ++r) {
      const TileBatch wj(wr[r][j]);
      for (std::size_t c = 0; c < C; ++c) acc[r][c] = xsimd::fma(wj, xr[c], acc[r][c]);
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < C; ++c) acc[r][c].store_unaligned(out[r] + (c0 + c) * tile_width);
}

template <std::size_t R>
inline void moments_rows(const double* const* w, const double* rows, std::size_t d_row, std::size_t points,
                         double* const* out) {
  const std::size_t batches = d_row / tile_width;
  std::size_t c0 = 0;
  for (; c0 + moment_batches <= batches; c0 += moment_batches)
    moments_micro<R, moment_batches>(w, rows, d_row, points, c0, out);
  switch (batches - c0) {
    case 0:
      break;
    case 1:
      moments_micro<R, 1>(w, rows, d_row, points, c0, out);
      break;
    case 2:
      moments_micro<R, 2>(w, rows, d_row, points, c0, out);
      break;
    default:
      moments_micro<R, 3>(w, rows, d_row, points, c0, out);
      break;
  }
}

// The listed rows' weights (w[e], `points` each) times the row-major block:
// out[e] (d_row entries, padding coordinates 0).
inline void moments_tile(const double* const* w, std::size_t count, const double* rows, std::size_t d_row,
                         std::size_t points, double* const* out) {
  for (std::size_t e0 = 0; e0 < count; e0 += moment_rows) {
    switch (std::min(moment_rows, count - e0)) {
      case 6:
        moments_rows<6>(w + e0, rows, d_row, points, out + e0);
        break;
      case 5:
        moments_rows<5>(w + e0, rows, d_row, points, out + e0);
        break;
      case 4:
        moments_rows<4>(w + e0, rows, d_row, points, out + e0);
        break;
      case 3:
        moments_rows<3>(w + e0, rows, d_row, points, out + e0);
        break;
      case 2:
        moments_rows<2>(w + e0, rows, d_row, points, out + e0);
        break;
      default:
        moments_rows<1>(w + e0, rows, d_row, points, out + e0);
        break;
    }
  }
}

}  // namespace gengap::detail::empirical
