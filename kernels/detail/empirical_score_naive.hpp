#pragma once
// The plain scalar reference for kernels/empirical_score.hpp (tests and
// benchmarks compare against it): the textbook two-pass evaluation of the
// empirical score of docs/math.md §8 for one query, storing all n log-weights.
//   pass 1: r_i = x - mu x_i (one fma per coordinate, as the kernel),
//           l_i = -|r_i|^2 / (2 sigma^2),  M = max_i l_i
//   pass 2: w_i = exp(l_i - M), S = sum w_i, E r = sum w_i r_i / S
//   pass 3: Var = sum w_i |r_i - E r|^2 / S          (centred: no cancellation)
//   score = -E r / sigma^2,  divergence = Var / sigma^4 - d / sigma^2,
//   log p = M + log S - log n - d/2 log(2 pi sigma^2).
// No skipping, no SIMD, no streaming: O(n) memory per query.
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <span>
#include <vector>

#include "gengap/kernels/matrix.hpp"

namespace gengap::detail {

struct NaiveEmpiricalScore {
  std::vector<double> score;  // d
  double log_density = 0.0;
  double divergence = 0.0;
};

inline NaiveEmpiricalScore naive_empirical_score(MatrixView training, std::span<const double> x, double mu,
                                                 double sigma) {
  const std::size_t n = training.rows, d = training.cols;
  const double s2 = sigma * sigma;
  const double c2 = 0.5 / s2;
  std::vector<double> r(n * d), l(n);
  double M = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    double dist = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      const double rk = std::fma(-mu, training(i, k), x[k]);
      r[i * d + k] = rk;
      dist = std::fma(rk, rk, dist);
    }
    l[i] = -(dist * c2);
    M = std::max(M, l[i]);
  }
  double S = 0.0;
  std::vector<double> mean(d, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double w = std::exp(l[i] - M);
    l[i] = w;
    S += w;
    for (std::size_t k = 0; k < d; ++k) mean[k] += w * r[i * d + k];
  }
  for (std::size_t k = 0; k < d; ++k) mean[k] /= S;
  double var = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    double sq = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      const double e = r[i * d + k] - mean[k];
      sq += e * e;
    }
    var += l[i] * sq;
  }
  var /= S;
  NaiveEmpiricalScore out;
  out.score.resize(d);
  for (std::size_t k = 0; k < d; ++k) out.score[k] = -mean[k] / s2;
  out.divergence = var / s2 / s2 - static_cast<double>(d) / s2;
  out.log_density = M + std::log(S) - std::log(static_cast<double>(n)) -
                    0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi * s2);
  return out;
}

}  // namespace gengap::detail
