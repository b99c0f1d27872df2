#include "gengap/solvers/quadrature.hpp"

#include <lapacke.h>

#include <cmath>
#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {

namespace {

// Golub-Welsch: for a monic orthogonal family with recurrence
// p_{k+1}(x) = x p_k(x) - b_k^2 p_{k-1}(x) (zero diagonal: symmetric weight),
// the nodes are the eigenvalues of the Jacobi matrix with off-diagonal b_k and
// the weights are mu_0 * (first eigenvector component)^2.
QuadratureRule golub_welsch(std::size_t n, const std::vector<double>& off_diagonal, double mu0) {
  std::vector<double> diag(n, 0.0);
  std::vector<double> off(off_diagonal);
  off.resize(n > 1 ? n - 1 : 1, 0.0);  // LAPACK wants a valid pointer even for n = 1
  std::vector<double> z(n * n);
  const auto nn = static_cast<lapack_int>(n);
  const lapack_int info = LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', nn, diag.data(), off.data(), z.data(), nn);
  if (info != 0) throw NumericalError("gauss quadrature: LAPACKE_dstev failed with info " + std::to_string(info));

  QuadratureRule rule;
  rule.nodes.resize(n);
  rule.weights.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    const double v0 = z[j * n];  // column j, row 0 (column-major)
    rule.nodes[j] = diag[j];
    rule.weights[j] = mu0 * v0 * v0;
  }
  // The weight functions are even, so the exact rule is symmetric. Enforcing
  // that removes the eigensolver's O(eps) asymmetry (odd moments become exactly
  // zero and the middle node of an odd rule exactly 0).
  for (std::size_t k = 0; k < n / 2; ++k) {
    const std::size_t m = n - 1 - k;
    const double x = 0.5 * (rule.nodes[m] - rule.nodes[k]);
    const double w = 0.5 * (rule.weights[m] + rule.weights[k]);
    rule.nodes[k] = -x;
    rule.nodes[m] = x;
    rule.weights[k] = w;
    rule.weights[m] = w;
  }
  if (n % 2 == 1) rule.nodes[n / 2] = 0.0;
  return rule;
}

void require_count(std::size_t n) {
  require(n >= 1, "n", "number of quadrature nodes must be at least 1, got " + std::to_string(n));
}

}  // namespace

QuadratureRule gauss_legendre(std::size_t n, double a, double b) {
  require_count(n);
  require(std::isfinite(a), "a", "must be finite, got " + std::to_string(a));
  require(std::isfinite(b), "b", "must be finite, got " + std::to_string(b));
  require(a < b, "b", "must exceed a (" + std::to_string(a) + "), got " + std::to_string(b));
  // Monic Legendre: b_k^2 = k^2 / (4 k^2 - 1); mu_0 = int_{-1}^{1} dx = 2.
  std::vector<double> off(n > 1 ? n - 1 : 0);
  for (std::size_t k = 1; k < n; ++k) {
    const double kk = static_cast<double>(k);
    off[k - 1] = kk / std::sqrt(4.0 * kk * kk - 1.0);
  }
  QuadratureRule rule = golub_welsch(n, off, 2.0);
  const double half = 0.5 * (b - a);
  const double mid = 0.5 * (a + b);
  for (std::size_t j = 0; j < n; ++j) {
    rule.nodes[j] = mid + half * rule.nodes[j];
    rule.weights[j] *= half;
  }
  return rule;
}

QuadratureRule gauss_hermite_normal(std::size_t n) {
  require_count(n);
  // Monic probabilists' Hermite: He_{k+1} = x He_k - k He_{k-1}, so b_k = sqrt(k);
  // mu_0 = 1 because the weight is the standard normal density.
  std::vector<double> off(n > 1 ? n - 1 : 0);
  for (std::size_t k = 1; k < n; ++k) off[k - 1] = std::sqrt(static_cast<double>(k));
  return golub_welsch(n, off, 1.0);
}

}  // namespace gengap
