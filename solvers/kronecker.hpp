#pragma once
// A Kronecker operator K = G kron S with G (m x m) and S (d x d) symmetric,
// acting on a = vec(A), A in R^{d x m}, columns stacked (vec index i*d + j
// holds A(j, i)). The identity (G kron S) vec(A) = vec(S A G^T) lets every
// operation go through G and S: the dm x dm matrix is never formed (docs/math.md §5).
// The training loss's Hessian is (G kron I_d) / m^2.
#include <memory>
#include <vector>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

struct SymmetricEigen {
  std::vector<double> values;  // ascending
  Matrix vectors;              // columns are eigenvectors (row-major n x n: vectors(i, k) = v_k[i])
};

// LAPACK dsyevd on a symmetric matrix (only its lower triangle is read).
SymmetricEigen symmetric_eigen(MatrixView symmetric);

class KroneckerOperator {
 public:
  // S defaults to I_d when given as an empty matrix together with d.
  KroneckerOperator(Matrix G, Matrix S);
  static KroneckerOperator with_identity(Matrix G, std::size_t d);

  std::size_t rows() const;  // d m
  const Matrix& G() const { return G_; }
  const Matrix& S() const { return S_; }

  // Returns S A G^T = mat((G kron S) vec(A)); A is d x m.
  Matrix apply(MatrixView A) const;
  // Solves (G kron S) vec(X) = vec(B): X = S^{-1} B G^{-T}. Throws
  // NumericalError if G or S is singular to working precision.
  Matrix solve(MatrixView B) const;
  // Eigenvalues lambda_i(G) mu_j(S) (index i*d + j) and the factor bases;
  // eigenvector (i, j) is q_i kron v_j.
  struct Eigen {
    SymmetricEigen g;
    SymmetricEigen s;
    double value(std::size_t i, std::size_t j) const { return g.values[i] * s.values[j]; }
  };
  const Eigen& eigen() const;  // computed once, on first use (thread-safe)
  // Returns mat(exp(tau (G kron S)) vec(A)).
  Matrix exp_apply(double tau, MatrixView A) const;

 private:
  Matrix G_;
  Matrix S_;
  mutable std::unique_ptr<Eigen> eigen_;
};

}  // namespace gengap
