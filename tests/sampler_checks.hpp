#pragma once
// Test helpers for the samplers: a diagonal Gaussian mixture target with its
// exact diffused score evaluated row by row at each row's own time (docs/math.md
// §7: p_t = sum_k pi_k N(mu_t m_k, diag(mu_t^2 v_k + sigma_t^2))), written
// out here independently of kernels/gaussian_mixture (and checked against it
// in reverse_sde_test), the analytic CDF of a projection u.x of p_t (again a
// 1-d mixture), the one-sample Kolmogorov-Smirnov statistic and sample moments.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>
#include <span>
#include <vector>

#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"
#include "gengap/solvers/schedule.hpp"

#include <gtest/gtest.h>

namespace gengap::testing {

struct DiagonalMixture {
  std::vector<double> weights;  // K, summing to 1
  Matrix means;                 // K x d
  Matrix variances;             // K x d

  std::size_t dim() const { return means.cols(); }
  std::size_t components() const { return weights.size(); }
  GaussianMixture library() const { return GaussianMixture::diagonal(weights, means, variances); }

  // grad log p_t(x) for one row x (d entries) into out (d entries).
  void score_row(const Schedule& s, double t, const double* x, double* out) const {
    const std::size_t K = components(), d = dim();
    const double mu = s.mean_scale(t), var_t = s.variance(t);
    thread_local std::vector<double> logw;
    logw.assign(K, 0.0);
    for (std::size_t k = 0; k < K; ++k) {
      double q = 0.0, logdet = 0.0;
      for (std::size_t j = 0; j < d; ++j) {
        const double V = mu * mu * variances(k, j) + var_t, r = x[j] - mu * means(k, j);
        q += r * r / V;
        logdet += std::log(V);
      }
      logw[k] = std::log(weights[k]) - 0.5 * (q + logdet);
    }
    const double top = *std::max_element(logw.begin(), logw.end());
    double total = 0.0;
    for (double& w : logw) total += (w = std::exp(w - top));
    std::fill(out, out + d, 0.0);
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < d; ++j)
        out[j] += logw[k] / total * (mu * means(k, j) - x[j]) / (mu * mu * variances(k, j) + var_t);
  }

  // log p_t(x) for one row.
  double log_density(const Schedule& s, double t, const double* x) const {
    const std::size_t K = components(), d = dim();
    const double mu = s.mean_scale(t), var_t = s.variance(t);
    thread_local std::vector<double> logw;
    logw.assign(K, 0.0);
    for (std::size_t k = 0; k < K; ++k) {
      double q = 0.0;
      for (std::size_t j = 0; j < d; ++j) {
        const double V = mu * mu * variances(k, j) + var_t, r = x[j] - mu * means(k, j);
        q += r * r / V + std::log(2.0 * std::numbers::pi * V);
      }
      logw[k] = std::log(weights[k]) - 0.5 * q;
    }
    const double top = *std::max_element(logw.begin(), logw.end());
    double total = 0.0;
    for (double w : logw) total += std::exp(w - top);
    return top + std::log(total);
  }

  ScoreField score(const Schedule& s) const {
    return [m = *this, s](std::span<const double> t, MatrixView x, std::span<double> out) {
      for (std::size_t r = 0; r < t.size(); ++r) m.score_row(s, t[r], x.row(r), out.data() + r * x.cols);
    };
  }

  // P(u.x <= y) under p_t.
  double projected_cdf(const Schedule& s, double t, std::span<const double> u, double y) const {
    const double mu = s.mean_scale(t), var_t = s.variance(t);
    double cdf = 0.0;
    for (std::size_t k = 0; k < components(); ++k) {
      double m = 0.0, v = 0.0;
      for (std::size_t j = 0; j < dim(); ++j) {
        m += u[j] * mu * means(k, j);
        v += u[j] * u[j] * (mu * mu * variances(k, j) + var_t);
      }
      cdf += weights[k] * 0.5 * std::erfc(-(y - m) / std::sqrt(2.0 * v));
    }
    return cdf;
  }
  // Mean and variance of coordinate j under p_t.
  double mean(const Schedule& s, double t, std::size_t j) const {
    double m = 0.0;
    for (std::size_t k = 0; k < components(); ++k) m += weights[k] * s.mean_scale(t) * means(k, j);
    return m;
  }
  double variance(const Schedule& s, double t, std::size_t j) const {
    const double mu = s.mean_scale(t), m = mean(s, t, j);
    double second = 0.0;
    for (std::size_t k = 0; k < components(); ++k) {
      const double mk = mu * means(k, j);
      second += weights[k] * (mu * mu * variances(k, j) + s.variance(t) + mk * mk);
    }
    return second - m * m;
  }
};

// sup_y |F_n(y) - F(y)| of the projections u.x_i against the CDF F.
template <class Cdf>
double ks_statistic(const Matrix& X, std::span<const double> u, Cdf&& cdf) {
  std::vector<double> y(X.rows());
  for (std::size_t i = 0; i < X.rows(); ++i) {
    double v = 0.0;
    for (std::size_t j = 0; j < X.cols(); ++j) v += u[j] * X(i, j);
    y[i] = v;
  }
  std::sort(y.begin(), y.end());
  const double n = static_cast<double>(y.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double F = cdf(y[i]);
    worst = std::max({worst, (static_cast<double>(i) + 1.0) / n - F, F - static_cast<double>(i) / n});
  }
  return worst;
}

// The 0.001 critical value of sqrt(n) D_n (Kolmogorov distribution:
// P(K > 1.95) = 2 sum_k (-1)^(k-1) exp(-2 k^2 1.95^2) = 0.00100).
inline constexpr double ks_critical_001 = 1.95;

struct Moments {
  double mean = 0.0, variance = 0.0;
};
inline Moments column_moments(const Matrix& X, std::size_t j) {
  Moments m;
  for (std::size_t i = 0; i < X.rows(); ++i) m.mean += X(i, j);
  m.mean /= static_cast<double>(X.rows());
  for (std::size_t i = 0; i < X.rows(); ++i) m.variance += (X(i, j) - m.mean) * (X(i, j) - m.mean);
  m.variance /= static_cast<double>(X.rows() - 1);
  return m;
}

}  // namespace gengap::testing

namespace gengap::testing {

// The 1-d and 2-d mixtures the sampler tests use (asymmetric weights, unequal
// variances, so a sampler that gets the weights or widths wrong fails).
inline DiagonalMixture mixture_1d() {
  return {{0.3, 0.7}, Matrix(2, 1, std::vector<double>{-2.0, 1.5}), Matrix(2, 1, std::vector<double>{0.5, 0.25})};
}
inline DiagonalMixture mixture_2d() {
  return {{0.5, 0.3, 0.2},
          Matrix(3, 2, std::vector<double>{-2.0, 0.0, 1.5, 1.5, 1.0, -2.0}),
          Matrix(3, 2, std::vector<double>{0.5, 0.3, 0.25, 0.6, 0.4, 0.4})};
}

// Checks samples X (n x d, d <= 2) against p_{t_min} of the target:
// per coordinate, mean within 5 SE + mean_bias and variance within 5 SE +
// var_bias (relative); and one-sample KS of every coordinate and, in d = 2,
// of the projections on (1, 1)/sqrt 2 and (1, -1)/sqrt 2, against the
// analytic CDF at the 0.001 level plus ks_bias (the discretisation's CDF
// shift). Returns the largest sqrt(n) D_n seen.
inline double expect_matches_mixture(const Matrix& X, const DiagonalMixture& m, const Schedule& s, double mean_bias,
                                     double var_bias, double ks_bias, const std::string& label) {
  const double n = static_cast<double>(X.rows()), t = s.t_min;
  for (std::size_t j = 0; j < X.cols(); ++j) {
    const Moments got = column_moments(X, j);
    const double mean = m.mean(s, t, j), var = m.variance(s, t, j);
    // Var of the sample variance ~ (kurtosis excess + 2) var^2 / n: for these
    // mixtures the excess kurtosis is below 1, so 3 var^2 / n bounds it.
    EXPECT_NEAR(got.mean, mean, 5.0 * std::sqrt(var / n) + mean_bias) << label << " coordinate " << j;
    EXPECT_NEAR(got.variance, var, 5.0 * std::sqrt(3.0 / n) * var + var_bias * var) << label << " coordinate " << j;
  }
  std::vector<std::vector<double>> directions;
  if (X.cols() == 1) directions = {{1.0}};
  if (X.cols() == 2) {
    const double r = std::sqrt(0.5);
    directions = {{1.0, 0.0}, {0.0, 1.0}, {r, r}, {r, -r}};
  }
  double worst = 0.0;
  for (const auto& u : directions) {
    const double D = ks_statistic(X, u, [&](double y) { return m.projected_cdf(s, t, u, y); });
    worst = std::max(worst, std::sqrt(n) * D);
    EXPECT_LT(D, ks_critical_001 / std::sqrt(n) + ks_bias) << label << " direction (" << u[0] << ", " << u.back() << ")";
  }
  return worst;
}

}  // namespace gengap::testing
