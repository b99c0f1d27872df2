// First: silences GCC 12's false warnings in xsimd's exp and sincos.
#include "gengap/kernels/simd/gcc_warnings.hpp"

#include "gengap/kernels/detail/random_feature_rows.hpp"

#include <xsimd/xsimd.hpp>

#include "gengap/kernels/simd/activation.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>

#include "gengap/kernels/error.hpp"

namespace gengap::detail {
namespace {

using Batch = xsimd::batch<double>;
constexpr std::size_t width = Batch::size;
constexpr std::size_t max_fused_dim = 4;
// Rows sharing each parameter load and SIMD batches of features per step:
// 8 x 2 = 16 independent fma chains. Measured on the 2-core AVX-512 EPYC
// (m = 1024, d_e = 16, 64-row calls, CPU time per row): R x F = 1x1 2.4 us,
// 4x1 0.89, 4x2 1.07, 6x2 0.61, 8x1 0.62, 8x2 0.45, 8x3 0.45, 8x4 0.58,
// 16x2 0.59 (d = 1); score_and_divergence_tiles's BLAS tiles 1.03 us.
constexpr std::size_t rows_per_pass = 8;
constexpr std::size_t feature_batches = 2;

struct Packed {
  std::size_t inputs;      // d + d_e
  std::size_t m_padded;
  const double* weights;   // inputs x m_padded
  const double* bias;      // m_padded
  const double* kappa;     // m_padded
  const double* A;         // D x m_padded
};

// R rows, one pass over the features, F SIMD batches of features per step:
// R * F independent fma chains for the pre-activations (an fma chain over the
// d + d_e inputs is latency-bound; one row and one batch at a time ran 2.7x
// slower). in: R x inputs (per row [e(t), x], or x alone when P.bias already
// holds the shared b + U e(t) and P.weights starts at W). Accumulators stay lane-wise
// over the whole pass and are reduced once, so a row's result is the same
// sequence of operations for any R and slot.
// D > 0: the dimension, accumulators in registers; D == 0: runtime dimension
// d, accumulators in `spill` (R * d batches, caller-provided).
template <class Act, std::size_t D, std::size_t R>
void fused_rows(const Packed& P, std::size_t d, const double* in, Batch* spill, double* score, double* divergence) {
  constexpr std::size_t F = feature_batches;
  constexpr std::size_t Dr = D == 0 ? 1 : D;
  Batch s_reg[R][Dr];
  const auto s = [&](std::size_t r, std::size_t k) -> Batch& {
    if constexpr (D == 0) return spill[r * d + k];
    else return s_reg[r][k];
  };
  const std::size_t dims = D == 0 ? d : D;
  Batch dv[R];
  for (std::size_t r = 0; r < R; ++r) {
    dv[r] = Batch(0.0);
    for (std::size_t k = 0; k < dims; ++k) s(r, k) = Batch(0.0);
  }
  const std::size_t Q = P.inputs, M = P.m_padded;
  for (std::size_t j = 0; j < M; j += F * width) {
    Batch z[R][F];
    for (std::size_t f = 0; f < F; ++f) {
      const Batch b = Batch::load_unaligned(P.bias + j + f * width);
      for (std::size_t r = 0; r < R; ++r) z[r][f] = b;
    }
    for (std::size_t q = 0; q < Q; ++q) {
      Batch w[F];
      for (std::size_t f = 0; f < F; ++f) w[f] = Batch::load_unaligned(P.weights + q * M + j + f * width);
      for (std::size_t r = 0; r < R; ++r) {
        const Batch x(in[r * Q + q]);
        for (std::size_t f = 0; f < F; ++f) z[r][f] = xsimd::fma(w[f], x, z[r][f]);
      }
    }
    if constexpr (std::is_same_v<Act, act::Relu>) {
      // relu: masked adds instead of max, 0/1 select and fma (4 instead of 6
      // vector ops per feature batch and row once the embedding is shared).
      // act'(z) kappa + dv = dv + kappa where z > 0 (exact either way), and
      // a max(z, 0) + s = fma(a, z, s) where z > 0, else s.
      xsimd::batch_bool<double> on[R][F];
      for (std::size_t f = 0; f < F; ++f) {
        const Batch kappa = Batch::load_unaligned(P.kappa + j + f * width);
        for (std::size_t r = 0; r < R; ++r) {
          on[r][f] = z[r][f] > Batch(0.0);
          dv[r] = xsimd::select(on[r][f], dv[r] + kappa, dv[r]);
        }
      }
      for (std::size_t k = 0; k < dims; ++k) {
        for (std::size_t f = 0; f < F; ++f) {
          const Batch a = Batch::load_unaligned(P.A + k * M + j + f * width);
          for (std::size_t r = 0; r < R; ++r) s(r, k) = xsimd::select(on[r][f], xsimd::fma(a, z[r][f], s(r, k)), s(r, k));
        }
      }
    } else {
      for (std::size_t f = 0; f < F; ++f) {
        const Batch kappa = Batch::load_unaligned(P.kappa + j + f * width);
        for (std::size_t r = 0; r < R; ++r) {
          Batch value, derivative;
          act::value_and_derivative(Act{}, z[r][f], value, derivative);
          dv[r] = xsimd::fma(derivative, kappa, dv[r]);
          z[r][f] = value;
        }
      }
      for (std::size_t k = 0; k < dims; ++k) {
        for (std::size_t f = 0; f < F; ++f) {
          const Batch a = Batch::load_unaligned(P.A + k * M + j + f * width);
          for (std::size_t r = 0; r < R; ++r) s(r, k) = xsimd::fma(a, z[r][f], s(r, k));
        }
      }
    }
  }
  for (std::size_t r = 0; r < R; ++r) {
    divergence[r] = xsimd::hadd(dv[r]);
    for (std::size_t k = 0; k < dims; ++k) score[r * dims + k] = xsimd::hadd(s(r, k));
  }
}

}  // namespace

RandomFeatureRows::RandomFeatureRows(const RandomFeatures& rf, MatrixView A) {
  rf.validate();
  d_ = rf.dim();
  m_ = rf.num_features();
  require_shape(A, d_, m_, "A");
  require_finite(A.flat(), "A");
  de_ = rf.embedding.dim();
  embedding_ = rf.embedding;
  if (embedding_.is_trigonometric()) {
    const std::size_t half = embedding_.frequencies.size();
    angular_.resize(half);
    for (std::size_t k = 0; k < half; ++k) angular_[k] = 2.0 * std::numbers::pi * embedding_.frequencies[k];
    angular_padded_.assign((half + width - 1) / width * width, 0.0);
    std::copy(angular_.begin(), angular_.end(), angular_padded_.begin());
  }
  activation_ = rf.activation;
  const std::size_t step = feature_batches * width;
  m_padded_ = (m_ + step - 1) / step * step;
  const std::size_t Q = d_ + de_;
  weights_.assign(Q * m_padded_, 0.0);
  bias_.assign(m_padded_, 0.0);
  kappa_.assign(m_padded_, 0.0);
  A_.assign(d_ * m_padded_, 0.0);
  for (std::size_t j = 0; j < m_; ++j) {
    for (std::size_t q = 0; q < de_; ++q) weights_[q * m_padded_ + j] = rf.U(j, q);
    for (std::size_t q = 0; q < d_; ++q) weights_[(de_ + q) * m_padded_ + j] = rf.W(j, q);
    bias_[j] = rf.b[j];
    double kappa = 0.0;
    for (std::size_t k = 0; k < d_; ++k) {
      A_[k * m_padded_ + j] = A(k, j);
      kappa += A(k, j) * rf.W(j, k);
    }
    kappa_[j] = kappa;
  }
}

void RandomFeatureRows::evaluate(MatrixView X, std::span<const double> t, std::span<const double> output_scale,
                                 std::span<double> score, std::span<double> divergence) const {
  const std::size_t n = X.rows;
  require(X.cols == d_, "x", "expected " + std::to_string(d_) + " columns (d), got " + std::to_string(X.cols));
  require(t.size() == n, "t", "expected " + std::to_string(n) + " entries, got " + std::to_string(t.size()));
  require(output_scale.size() == n, "output_scale",
          "expected " + std::to_string(n) + " entries, got " + std::to_string(output_scale.size()));
  require(score.size() == n * d_, "score",
          "expected " + std::to_string(n * d_) + " entries, got " + std::to_string(score.size()));
  require(divergence.empty() || divergence.size() == n, "divergence",
          "expected 0 or " + std::to_string(n) + " entries, got " + std::to_string(divergence.size()));
  if (n == 0) return;
  const double inv_m = 1.0 / static_cast<double>(m_);

  const std::size_t Q = d_ + de_;
  // Per-row pass: z = b + sum_q u_q e_q(t) + sum_q w_q x_q as one fma chain
  // per feature (embedding first). Shared-time pass: the same chain split at
  // the embedding, its first part b + U e(t) computed once for the time
  // (shared_bias) and reused by every row at that time: the same operations
  // in the same order, so bitwise the same results, at d instead of d + d_e
  // fmas per feature and row (and no sincos per row).
  const Packed per_row{Q, m_padded_, weights_.data(), bias_.data(), kappa_.data(), A_.data()};
  std::vector<Batch, xsimd::aligned_allocator<Batch>> shared_bias;
  double shared_time = std::numeric_limits<double>::quiet_NaN();
  bool have_shared = false;
  const Packed shared_rows_template{d_, m_padded_, weights_.data() + de_ * m_padded_, nullptr, kappa_.data(),
                                    A_.data()};
  double in[rows_per_pass * 64];  // inputs of one pass: d + d_e <= 64 here, else heap
  std::vector<double> heap(Q > 64 ? rows_per_pass * Q : 0);
  double* inputs = Q > 64 ? heap.data() : in;
  // Score sums of one pass; d > max_fused_dim also needs the lane-wise
  // accumulators in memory (one allocation per call, none per row).
  std::vector<double> s_out(rows_per_pass * d_);
  double div_out[rows_per_pass];
  std::vector<Batch, xsimd::aligned_allocator<Batch>> spill(d_ > max_fused_dim ? rows_per_pass * d_ : 0);

  const std::size_t half = angular_.size();  // sin/cos frequencies (0: linear or polynomial embedding)
  // e(t) into out[0 .. d_e).
  const auto embed = [&](double time, double* out) {
    if (half == 0) {
      embedding_.evaluate(time, {out, de_});
      return;
    }
    // e(t) = [sin(2 pi omega_k t)]_k, [cos(2 pi omega_k t)]_k with the same
    // angles as TimeEmbedding::evaluate ((2 pi omega_k) t), SIMD sincos.
    const Batch tb(time);
    for (std::size_t k = 0; k < half; k += width) {
      alignas(64) double sines[width], cosines[width];
      const auto [sn, cs] = xsimd::sincos(Batch::load_unaligned(angular_padded_.data() + k) * tb);
      sn.store_aligned(sines);
      cs.store_aligned(cosines);
      const std::size_t take = std::min(width, half - k);
      std::copy_n(sines, take, out + k);
      std::copy_n(cosines, take, out + half + k);
    }
  };
  // True when rows [first, first + count) share one time (bitwise): then
  // shared_bias holds b + U e(t) for it.
  const auto share = [&](std::size_t first, std::size_t count) {
    const double time = t[first];
    for (std::size_t r = 1; r < count; ++r)
      if (std::bit_cast<std::uint64_t>(t[first + r]) != std::bit_cast<std::uint64_t>(time)) return false;
    if (count == 1 && !(have_shared && std::bit_cast<std::uint64_t>(time) == std::bit_cast<std::uint64_t>(shared_time)))
      return false;  // a lone row at a new time: the fused pass is cheaper
    if (have_shared && std::bit_cast<std::uint64_t>(time) == std::bit_cast<std::uint64_t>(shared_time)) return true;
    double e[64];
    std::vector<double> e_heap(de_ > 64 ? de_ : 0);
    double* emb = de_ > 64 ? e_heap.data() : e;
    embed(time, emb);
    shared_bias.resize(m_padded_ / width);
    for (std::size_t j = 0; j < m_padded_; j += width) {
      Batch z = Batch::load_unaligned(bias_.data() + j);
      for (std::size_t q = 0; q < de_; ++q)
        z = xsimd::fma(Batch::load_unaligned(weights_.data() + q * m_padded_ + j), Batch(emb[q]), z);
      shared_bias[j / width] = z;
    }
    shared_time = time;
    have_shared = true;
    return true;
  };
  const auto pack = [&](std::size_t first, std::size_t count, bool shared) {
    const std::size_t stride = shared ? d_ : Q;
    for (std::size_t r = 0; r < count; ++r) {
      double* row = inputs + r * stride;
      if (!shared) embed(t[first + r], row);
      std::copy_n(X.row(first + r), d_, row + (shared ? 0 : de_));
    }
  };
  const auto store = [&](std::size_t first, std::size_t count) {
    for (std::size_t r = 0; r < count; ++r) {
      const double c = output_scale[first + r] * inv_m;
      for (std::size_t k = 0; k < d_; ++k) score[(first + r) * d_ + k] = c * s_out[r * d_ + k];
      if (!divergence.empty()) divergence[first + r] = c * div_out[r];
    }
  };
  // Passes of 8 rows, then the remainder by 4, 2, 1 (the same per-row
  // arithmetic in every variant).
  const auto run = [&]<class Act, std::size_t D>() {
    std::size_t first = 0;
    const auto passes = [&]<std::size_t R>() {
      for (; first + R <= n; first += R) {
        const bool shared = share(first, R);
        Packed P = per_row;
        if (shared) {
          P = shared_rows_template;
          P.bias = reinterpret_cast<const double*>(shared_bias.data());
        }
        pack(first, R, shared);
        fused_rows<Act, D, R>(P, d_, inputs, spill.data(), s_out.data(), div_out);
        store(first, R);
      }
    };
    passes.template operator()<rows_per_pass>();
    passes.template operator()<4>();
    passes.template operator()<2>();
    passes.template operator()<1>();
  };
  with_activation(activation_, [&](auto activation) {
    using Act = decltype(activation);
    switch (d_) {
      case 1: run.template operator()<Act, 1>(); break;
      case 2: run.template operator()<Act, 2>(); break;
      case 3: run.template operator()<Act, 3>(); break;
      case 4: run.template operator()<Act, 4>(); break;
      default: run.template operator()<Act, 0>(); break;
    }
  });
}

}  // namespace gengap::detail
