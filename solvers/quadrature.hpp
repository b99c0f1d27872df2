#pragma once
// Gauss quadrature rules (Golub-Welsch: eigenvalues of the Jacobi matrix, LAPACK).
#include <cstddef>
#include <vector>

namespace gengap {

struct QuadratureRule {
  std::vector<double> nodes;
  std::vector<double> weights;
};

// int_a^b f(t) dt ~ sum_k w_k f(t_k); n >= 1 nodes; exact for degree 2n - 1.
QuadratureRule gauss_legendre(std::size_t n, double a, double b);
// E_{eps ~ N(0,1)} f(eps) ~ sum_k w_k f(eps_k) (probabilists' Hermite; weights sum to 1).
QuadratureRule gauss_hermite_normal(std::size_t n);

}  // namespace gengap
