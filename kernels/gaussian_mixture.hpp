#pragma once
// Gaussian mixtures in any dimension (docs/math.md §7):
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

  // Row i of X (N x d) evaluated under its own diffused mixture
  // diffused(mu_t[i], sigma_t[i]), without building it: with
  //   C_k = mu^2 S_k + sigma^2 I,  u_k = C_k^{-1}(x - mu m_k),
  //   r_k = responsibilities (log-sum-exp, never 0/0),
  //   log_density[i] = log sum_k pi_k N(x; mu m_k, C_k)
  //   score (N x d)  = -sum_k r_k u_k
  //   divergence[i]  = div_x score = Laplacian of log p
  //                  = sum_k r_k (|u_k|^2 - tr C_k^{-1}) - |score|^2.
  // C_k is inverted through the eigendecomposition S_k = Q_k diag(lambda_k) Q_k^T
  // computed once at construction (C_k = Q_k diag(mu^2 lambda_k + sigma^2) Q_k^T),
  // so a row costs O(K d^2) whatever its time. Each output may be empty
  // (skipped); mu_t and sigma_t have N entries, mu_t >= 0, sigma_t >= 0, not
  // both 0. Threaded over points (a batch of up to 1024 rows runs on the
  // caller's thread).
  void diffused_evaluate(std::span<const double> mu_t, std::span<const double> sigma_t, MatrixView X,
                         std::span<double> log_density, std::span<double> score,
                         std::span<double> divergence) const;
  // divergence[i] = div_x grad log p(x_i) of this (undiffused) mixture.
  void score_divergence(MatrixView X, std::span<double> divergence) const;

 private:
  GaussianMixture() = default;
  void finish_setup();  // log_norm_ and inverse_diagonal_ from weights_, cholesky_
  std::vector<double> weights_;
  Matrix means_;
  std::vector<Matrix> cholesky_;  // lower triangular L_k, S_k = L_k L_k^T
  std::vector<double> log_norm_;  // log pi_k - 1/2 log det(2 pi S_k)
  Matrix inverse_diagonal_;       // K x d: 1 / L_k(i, i), so substitutions multiply
  Matrix eigenvalues_;            // K x d: lambda_k (diagonal: the variances)
  std::vector<Matrix> eigenvectors_;  // K matrices d x d, columns Q_k (empty when diagonal_)
  bool diagonal_ = false;
};

}  // namespace gengap
