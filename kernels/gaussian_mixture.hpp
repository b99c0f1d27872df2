#pragma once
// Gaussian mixtures in any dimension (MATH.md §7):
//   p(x) = sum_k pi_k N(x; m_k, S_k),  S_k full or diagonal (stored as its Cholesky factor).
// Under the forward process the diffused marginal is again a mixture:
//   p_t = sum_k pi_k N(mu_t m_k, mu_t^2 S_k + sigma_t^2 I)      -> diffused(mu_t, sigma_t)
// Log-densities and responsibilities use log-sum-exp (never underflow).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

class GaussianMixture {
 public:
  // weights: K positive, normalised internally (must sum to > 0); means: K x d;
  // covariances: K matrices d x d, symmetric positive definite.
  // Misuse throws InvalidArgument naming "weights", "means", "covariances"
  // ("component k is not positive definite"), "variances", "X" (wrong column
  // count or non-finite entry), "out", "mu_t"/"sigma_t" or "k".
  GaussianMixture(std::vector<double> weights, Matrix means, std::vector<Matrix> covariances);
  // Diagonal covariances: variances is K x d, all > 0.
  static GaussianMixture diagonal(std::vector<double> weights, Matrix means, Matrix variances);
  // The paper's target: d = 1, 1/2 N(-mu, variance) + 1/2 N(mu, variance).
  static GaussianMixture two_modes(double mu, double variance = 1.0);

  std::size_t dim() const;
  std::size_t components() const;
  const std::vector<double>& weights() const;
  const Matrix& means() const;
  Matrix covariance(std::size_t k) const;  // d x d
  bool is_diagonal() const;

  // n x d samples from `stream` under `seed`: row i's component by inversion of
  // uniform(i), its noise normal(i d + j); rows depend on i only, and sets drawn
  // from different streams are independent (components included).
  Matrix sample(std::size_t n, std::uint64_t seed, std::uint64_t stream) const;
  // out[i] = log p(x_i); X is N x d. Threaded over points.
  void log_density(MatrixView X, std::span<double> out) const;
  // score (N x d) = grad log p(x_i). Threaded over points.
  void score(MatrixView X, std::span<double> out) const;
  std::vector<double> log_density(MatrixView X) const;
  Matrix score(MatrixView X) const;

  // The mixture of x_t = mu_t x_0 + sigma_t eps (mu_t > 0 or sigma_t > 0).
  GaussianMixture diffused(double mu_t, double sigma_t) const;

 private:
  GaussianMixture() = default;
  void finish_setup();  // log_norm_ and inverse_diagonal_ from weights_, cholesky_
  std::vector<double> weights_;
  Matrix means_;
  std::vector<Matrix> cholesky_;  // lower triangular L_k, S_k = L_k L_k^T
  std::vector<double> log_norm_;  // log pi_k - 1/2 log det(2 pi S_k)
  Matrix inverse_diagonal_;       // K x d: 1 / L_k(i, i), so substitutions multiply
  bool diagonal_ = false;
};

}  // namespace gengap
