#pragma once
// The random-feature score model (docs/math.md §3, §9):
//   z(x, t)   = W x + U e(t) + b                      in R^m
//   phi(x, t) = act(z)
//   s_A(x, t) = c(t)/m * A phi(x, t)                  in R^d,  A in R^{d x m}
//   div_x s_A = c(t)/m * sum_i act'(z_i) kappa_i,     kappa_i = a_i . w_i
// The output scale c(t) belongs to the schedule (solvers/), so kernels take it
// as one number per point.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "gengap/kernels/activation.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/time_embedding.hpp"

namespace gengap {

// How rows (w_i, u_i, b_i) of rho_0 are drawn: uniform on the unit sphere of
// R^{d + d_e + 1} (default) or standard Gaussian entries.
enum class FeatureInit { sphere, gaussian };
FeatureInit parse_feature_init(std::string_view name);  // "sphere" | "gaussian"
std::string_view to_string(FeatureInit init);

struct RandomFeatures {
  Matrix W;               // m x d
  Matrix U;               // m x d_e (d_e = embedding.dim())
  std::vector<double> b;  // m
  TimeEmbedding embedding;
  Activation activation = Activation::relu;

  std::size_t num_features() const { return W.rows(); }  // m
  std::size_t dim() const { return W.cols(); }            // d
  // Shapes consistent, m > 0, d > 0, all entries finite; InvalidArgument naming the field.
  void validate() const;
};

// Draws W, U, b from rho_0 (streams::feature_weights under `seed`). m > 0, d > 0.
RandomFeatures draw_random_features(std::size_t m, std::size_t d, TimeEmbedding embedding, Activation activation,
                                    FeatureInit init, std::uint64_t seed);

// Serial kernel for one tile of points (callers parallelise over tiles):
// phi[i*m + j] = row_scale[i] * act(z_j(x_i, t_i)); row_scale empty means 1.
// X is N x d, t has N entries, phi has N*m entries.
void feature_tile(const RandomFeatures& rf, MatrixView X, std::span<const double> t,
                  std::span<const double> row_scale, std::span<double> phi);

// Threaded convenience: the N x m feature matrix (materialised: tests, small N).
Matrix features(const RandomFeatures& rf, MatrixView X, std::span<const double> t);

// The random-feature score and divergence: kernels/random_feature_score.hpp.

}  // namespace gengap
