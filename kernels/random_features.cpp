// First: silences GCC 12's false warnings in xsimd's exp (GCC bug 105593).
#include "gengap/kernels/simd/gcc_warnings.hpp"

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/kernels/detail/random_feature_tiles.hpp"

#include <cblas.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/simd/activation.hpp"

namespace gengap {
namespace {

// Points per task. Fixed (never derived from the thread count), so every
// point's outputs come from the same dgemm shapes and the same code whatever
// the scheduling: results are bitwise identical for any number of threads.
constexpr std::size_t tile_points = 128;
// Features per pass inside a tile: the tile_points x chunk pre-activation block
// (512 KiB) stays in L2 between the dgemm that writes it, the activation pass
// and the dgemm that contracts it with A.
constexpr std::size_t chunk_features = 512;

std::string shape_text(std::size_t rows, std::size_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

// O(1) consistency checks that guard memory safety in the serial kernels; the
// full rf.validate() (finiteness, O(m d)) runs once per threaded call instead.
void require_consistent(const RandomFeatures& rf) {
  const std::size_t m = rf.num_features();
  require(m > 0, "W", "number of features m must be positive");
  require(rf.dim() > 0, "W", "dimension d must be positive");
  require(rf.U.rows() == m && rf.U.cols() == rf.embedding.dim(), "U",
          "expected shape " + shape_text(m, rf.embedding.dim()) + ", got " + shape_text(rf.U.rows(), rf.U.cols()));
  require(rf.b.size() == m, "b", "expected " + std::to_string(m) + " entries, got " + std::to_string(rf.b.size()));
}

void require_points(const RandomFeatures& rf, MatrixView X, std::span<const double> t) {
  require(X.cols == rf.dim(), "X",
          "expected " + std::to_string(rf.dim()) + " columns (d), got " + shape_text(X.rows, X.cols));
  require(t.size() == X.rows, "t",
          "expected " + std::to_string(X.rows) + " entries (one per point), got " + std::to_string(t.size()));
  require_finite(X.flat(), "X");
  require_finite(t, "t");
}

// Rows (w_j, u_j, b_j) side by side, m x p with p = d + d_e + 1, so that
// z = P [x; e(t); 1] is one dgemm over the tile instead of two plus a bias pass.
std::size_t packed_width(const RandomFeatures& rf) { return rf.dim() + rf.embedding.dim() + 1; }

void pack_parameters(const RandomFeatures& rf, std::span<double> P) {
  const std::size_t d = rf.dim(), de = rf.embedding.dim(), p = packed_width(rf);
  for (std::size_t j = 0; j < rf.num_features(); ++j) {
    double* row = P.data() + j * p;
    std::copy_n(rf.W.data() + j * d, d, row);
    std::copy_n(rf.U.data() + j * de, de, row + d);
    row[d + de] = rf.b[j];
  }
}

// Row i of `inputs`: [x_i, e(t_i), 1] for points first .. first + count - 1.
void pack_inputs(const RandomFeatures& rf, MatrixView X, std::span<const double> t, std::size_t first,
                 std::size_t count, std::span<double> inputs) {
  const std::size_t d = rf.dim(), de = rf.embedding.dim(), p = packed_width(rf);
  for (std::size_t i = 0; i < count; ++i) {
    double* row = inputs.data() + i * p;
    std::copy_n(X.row(first + i), d, row);
    rf.embedding.evaluate(t[first + i], {row + d, de});
    row[d + de] = 1.0;
  }
}

// Z (count x n, leading dimension ldz) = inputs (count x p) * P[j0 : j0 + n]^T.
void pre_activations(std::span<const double> inputs, std::span<const double> P, std::size_t p, std::size_t count,
                     std::size_t j0, std::size_t n, double* Z, std::size_t ldz) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(count), static_cast<int>(n),
              static_cast<int>(p), 1.0, inputs.data(), static_cast<int>(p), P.data() + j0 * p, static_cast<int>(p),
              0.0, Z, static_cast<int>(ldz));
}

// row[j] <- act(row[j]) in place; returns sum_j act'(row[j]) kappa[j] (the
// divergence's inner sum) accumulated lane-wise, then in a fixed order.
template <class Act>
double activate_and_contract(double* row, const double* kappa, std::size_t n) {
  using Batch = xsimd::batch<double>;
  constexpr std::size_t width = Batch::size;
  const std::size_t full = n - n % width;
  Batch acc(0.0);
  std::size_t j = 0;
  for (; j < full; j += width) {
    Batch value, derivative;
    act::value_and_derivative(Act{}, Batch::load_unaligned(row + j), value, derivative);
    value.store_unaligned(row + j);
    acc = xsimd::fma(derivative, Batch::load_unaligned(kappa + j), acc);
  }
  double tail = 0.0;
  for (; j < n; ++j) {
    double value, derivative;
    act::value_and_derivative(Act{}, row[j], value, derivative);
    row[j] = value;
    tail += derivative * kappa[j];
  }
  return xsimd::hadd(acc) + tail;
}

struct TileWorkspace {
  std::vector<double> inputs;  // tile_points x p
  std::vector<double> block;   // tile_points x chunk_features
  std::vector<double> divergence;  // tile_points
};

}  // namespace

constexpr EnumName<FeatureInit> feature_init_names[] = {{FeatureInit::sphere, "sphere"},
                                                        {FeatureInit::gaussian, "gaussian"}};

FeatureInit parse_feature_init(std::string_view name) {
  return parse_enum_name(name, feature_init_names, "init", "feature init");
}

std::string_view to_string(FeatureInit init) { return enum_name(init, feature_init_names, "init", "FeatureInit"); }

void RandomFeatures::validate() const {
  embedding.validate();
  require_consistent(*this);
  require_finite(W.flat(), "W");
  require_finite(U.flat(), "U");
  require_finite(b, "b");
  require(static_cast<unsigned>(activation) <= static_cast<unsigned>(Activation::tanh), "activation",
          "not a valid Activation value");
}

RandomFeatures draw_random_features(std::size_t m, std::size_t d, TimeEmbedding embedding, Activation activation,
                                    FeatureInit init, std::uint64_t seed) {
  require(m > 0, "m", "must be positive, got 0");
  require(d > 0, "d", "must be positive, got 0");
  embedding.validate();
  const std::size_t de = embedding.dim(), p = d + de + 1;
  RandomFeatures rf{Matrix(m, d), Matrix(m, de), std::vector<double>(m), std::move(embedding), activation};
  const CounterRng rng(seed, streams::feature_weights);
  std::vector<double> row(p);
  for (std::size_t i = 0; i < m; ++i) {
    rng.fill_normal(row, i * p);
    if (init == FeatureInit::sphere) {
      // A standard normal vector divided by its norm is uniform on the sphere.
      double norm2 = 0.0;
      for (double v : row) norm2 += v * v;
      const double inv = 1.0 / std::sqrt(norm2);
      for (double& v : row) v *= inv;
    }
    std::copy_n(row.data(), d, rf.W.data() + i * d);
    std::copy_n(row.data() + d, de, rf.U.data() + i * de);
    rf.b[i] = row[d + de];
  }
  return rf;
}

void feature_tile(const RandomFeatures& rf, MatrixView X, std::span<const double> t,
                  std::span<const double> row_scale, std::span<double> phi) {
  require_consistent(rf);
  require_points(rf, X, t);
  const std::size_t N = X.rows, m = rf.num_features(), p = packed_width(rf);
  require(row_scale.empty() || row_scale.size() == N, "row_scale",
          "expected 0 or " + std::to_string(N) + " entries, got " + std::to_string(row_scale.size()));
  require(phi.size() == N * m, "phi",
          "expected " + std::to_string(N * m) + " entries (N*m), got " + std::to_string(phi.size()));
  if (N == 0) return;
  std::vector<double> P(m * p), inputs(N * p);
  pack_parameters(rf, P);
  pack_inputs(rf, X, t, 0, N, inputs);
  pre_activations(inputs, P, p, N, 0, m, phi.data(), m);
  with_activation(rf.activation, [&](auto activation) {
    using Act = decltype(activation);
    for (std::size_t i = 0; i < N; ++i) {
      const std::span<double> row = phi.subspan(i * m, m);
      activate<Act>(row, row);
      if (!row_scale.empty()) {
        const double s = row_scale[i];
        for (double& v : row) v *= s;
      }
    }
  });
}

Matrix features(const RandomFeatures& rf, MatrixView X, std::span<const double> t) {
  rf.validate();
  require_points(rf, X, t);
  const std::size_t N = X.rows, m = rf.num_features();
  Matrix phi(N, m);
  if (N == 0) return phi;
  warn_if_slow_blas();
  const ScopedBlasThreads single_threaded_blas(1);
  const std::size_t tiles = (N + tile_points - 1) / tile_points;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tiles, 1), [&](const tbb::blocked_range<std::size_t>& r) {
    for (std::size_t tile = r.begin(); tile != r.end(); ++tile) {
      const std::size_t first = tile * tile_points, count = std::min(tile_points, N - first);
      const MatrixView Xt{X.row(first), count, X.cols};
      feature_tile(rf, Xt, t.subspan(first, count), {}, phi.flat().subspan(first * m, count * m));
    }
  });
  return phi;
}

void detail::score_and_divergence_tiles(const RandomFeatures& rf, MatrixView A, MatrixView X, std::span<const double> t,
                          std::span<const double> output_scale, std::span<double> score,
                          std::span<double> divergence) {
  rf.validate();
  const std::size_t N = X.rows, m = rf.num_features(), d = rf.dim(), p = packed_width(rf);
  require_shape(A, d, m, "A");
  require_finite(A.flat(), "A");
  require_points(rf, X, t);
  require(output_scale.size() == N, "output_scale",
          "expected " + std::to_string(N) + " entries (one per point), got " + std::to_string(output_scale.size()));
  require_finite(output_scale, "output_scale");
  require(score.size() == N * d, "score",
          "expected " + std::to_string(N * d) + " entries (N*d), got " + std::to_string(score.size()));
  require(divergence.empty() || divergence.size() == N, "divergence",
          "expected 0 or " + std::to_string(N) + " entries, got " + std::to_string(divergence.size()));
  if (N == 0) return;

  std::vector<double> P(m * p);
  pack_parameters(rf, P);
  std::vector<double> kappa(m, 0.0);  // kappa_j = a_j . w_j
  for (std::size_t k = 0; k < d; ++k) {
    const double* a = A.row(k);
    for (std::size_t j = 0; j < m; ++j) kappa[j] += a[j] * rf.W(j, k);
  }
  const bool with_divergence = !divergence.empty();
  const double inv_m = 1.0 / static_cast<double>(m);

  warn_if_slow_blas();
  const ScopedBlasThreads single_threaded_blas(1);
  tbb::enumerable_thread_specific<TileWorkspace> workspaces([&] {
    return TileWorkspace{std::vector<double>(tile_points * p), std::vector<double>(tile_points * chunk_features),
                         std::vector<double>(tile_points)};
  });
  const std::size_t tiles = (N + tile_points - 1) / tile_points;
  with_activation(rf.activation, [&](auto activation) {
    using Act = decltype(activation);
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tiles, 1), [&](const tbb::blocked_range<std::size_t>& r) {
      TileWorkspace& ws = workspaces.local();
      for (std::size_t tile = r.begin(); tile != r.end(); ++tile) {
        const std::size_t first = tile * tile_points, count = std::min(tile_points, N - first);
        pack_inputs(rf, X, t, first, count, ws.inputs);
        double* S = score.data() + first * d;
        std::fill_n(ws.divergence.data(), count, 0.0);
        for (std::size_t j0 = 0; j0 < m; j0 += chunk_features) {
          const std::size_t n = std::min(chunk_features, m - j0);
          double* Z = ws.block.data();
          pre_activations(ws.inputs, P, p, count, j0, n, Z, n);
          for (std::size_t i = 0; i < count; ++i) {
            ws.divergence[i] += activate_and_contract<Act>(Z + i * n, kappa.data() + j0, n);
          }
          // S (count x d) += act(Z) (count x n) * A[:, j0 : j0 + n]^T
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(count), static_cast<int>(d),
                      static_cast<int>(n), 1.0, Z, static_cast<int>(n), A.data + j0, static_cast<int>(m),
                      j0 == 0 ? 0.0 : 1.0, S, static_cast<int>(d));
        }
        for (std::size_t i = 0; i < count; ++i) {
          const double c = output_scale[first + i] * inv_m;
          for (std::size_t k = 0; k < d; ++k) S[i * d + k] *= c;
          if (with_divergence) divergence[first + i] = c * ws.divergence[i];
        }
      }
    });
  });
}

}  // namespace gengap
