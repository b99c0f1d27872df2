#include "gengap/solvers/kronecker.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <utility>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

int as_int(std::size_t n) { return static_cast<int>(n); }

// Transposes of an n x n matrix, in tiles that fit in L1 on both sides.
constexpr std::size_t transpose_tile = 32;

void transpose_into(const double* in, std::size_t n, double* out) {
  for (std::size_t i0 = 0; i0 < n; i0 += transpose_tile) {
    for (std::size_t j0 = 0; j0 < n; j0 += transpose_tile) {
      const std::size_t i1 = std::min(n, i0 + transpose_tile), j1 = std::min(n, j0 + transpose_tile);
      for (std::size_t i = i0; i < i1; ++i)
        for (std::size_t j = j0; j < j1; ++j) out[j * n + i] = in[i * n + j];
    }
  }
}

void transpose_in_place(double* a, std::size_t n) {
  for (std::size_t i0 = 0; i0 < n; i0 += transpose_tile) {
    for (std::size_t j0 = i0; j0 < n; j0 += transpose_tile) {
      const std::size_t i1 = std::min(n, i0 + transpose_tile), j1 = std::min(n, j0 + transpose_tile);
      for (std::size_t i = i0; i < i1; ++i)
        for (std::size_t j = std::max(j0, i + 1); j < j1; ++j) std::swap(a[i * n + j], a[j * n + i]);
    }
  }
}

// Square, non-empty, finite and symmetric to rounding: `field` names the culprit.
// Symmetry is checked because apply() uses both triangles while the eigen-
// decomposition reads only the lower one; a relative 1e-8 admits the rounding
// of products such as Phi^T W Phi, which need not be exactly symmetric.
void require_symmetric(MatrixView M, std::string_view field) {
  require(M.rows > 0, field, "must be non-empty");
  require(M.rows == M.cols, field,
          "must be square, got " + std::to_string(M.rows) + "x" + std::to_string(M.cols));
  require_finite(M.flat(), field);
  double scale = 0.0;
  for (double v : M.flat()) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < M.rows; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (std::abs(M(i, j) - M(j, i)) > 1e-8 * scale) {
        throw InvalidArgument(field, "must be symmetric: entries (" + std::to_string(i) + ", " + std::to_string(j) +
                                         ") and (" + std::to_string(j) + ", " + std::to_string(i) + ") differ");
      }
    }
  }
}

// C (rows x cols) = op(A) op(B), all row-major.
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::size_t rows, std::size_t cols, std::size_t inner,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double* C) {
  cblas_dgemm(CblasRowMajor, ta, tb, as_int(rows), as_int(cols), as_int(inner), 1.0, A, as_int(lda), B, as_int(ldb),
              0.0, C, as_int(cols));
}

// Y = V^T X Q for X (d x m), V (d x d), Q (m x m): coordinates of X in the
// eigenbasis of G kron S. Returned d x m.
Matrix to_eigenbasis(const KroneckerOperator::Eigen& e, MatrixView X) {
  const std::size_t d = X.rows, m = X.cols;
  Matrix VX(d, m), Y(d, m);
  gemm(CblasTrans, CblasNoTrans, d, m, d, e.s.vectors.data(), d, X.data, m, VX.data());
  gemm(CblasNoTrans, CblasNoTrans, d, m, m, VX.data(), m, e.g.vectors.data(), m, Y.data());
  return Y;
}

// X = V Y Q^T: back from eigen-coordinates.
Matrix from_eigenbasis(const KroneckerOperator::Eigen& e, MatrixView Y) {
  const std::size_t d = Y.rows, m = Y.cols;
  Matrix VY(d, m), X(d, m);
  gemm(CblasNoTrans, CblasNoTrans, d, m, d, e.s.vectors.data(), d, Y.data, m, VY.data());
  gemm(CblasNoTrans, CblasTrans, d, m, m, VY.data(), m, e.g.vectors.data(), m, X.data());
  return X;
}

}  // namespace

SymmetricEigen symmetric_eigen(MatrixView symmetric) {
  require(symmetric.rows > 0, "matrix", "must be non-empty");
  require(symmetric.rows == symmetric.cols, "matrix",
          "must be square, got " + std::to_string(symmetric.rows) + "x" + std::to_string(symmetric.cols));
  // dsyevd's workspace is 1 + 6n + 2n^2 doubles, counted in lapack_int.
  const long double workspace = 1.0L + 6.0L * symmetric.rows + 2.0L * symmetric.rows * symmetric.rows;
  require(workspace <= static_cast<long double>(std::numeric_limits<lapack_int>::max()), "matrix",
          "too large for LAPACK's integer type (dsyevd workspace 2n^2 + 6n + 1 must fit)");
  require_finite(symmetric.flat(), "matrix");
  const std::size_t n = symmetric.rows;
  warn_if_slow_blas();
  // LAPACKE's row-major interface would copy the matrix into a transposed
  // buffer and back (an extra m x m matrix: 2 GiB at m = 16384). The transposed
  // copy is made here instead, into the output, and dsyevd runs column-major on
  // it: the very call LAPACKE makes, so the same bits, one matrix less.
  SymmetricEigen result{std::vector<double>(n), Matrix(n, n)};
  transpose_into(symmetric.data, n, result.vectors.data());
  // Divide and conquer: the fastest LAPACK driver when all eigenvectors are
  // wanted; it runs on OpenBLAS's own threads (the caller's setting).
  const lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', static_cast<lapack_int>(n),
                                         result.vectors.data(), static_cast<lapack_int>(n), result.values.data());
  if (info != 0) {
    throw NumericalError("symmetric_eigen: LAPACKE_dsyevd failed (info = " + std::to_string(info) + ", n = " +
                         std::to_string(n) + (info > 0 ? "): the algorithm did not converge" : "): bad argument"));
  }
  transpose_in_place(result.vectors.data(), n);  // column-major eigenvectors -> row-major Q
  return result;
}

KroneckerOperator::KroneckerOperator(Matrix G, Matrix S) : G_(std::move(G)), S_(std::move(S)) {
  require_symmetric(G_, "G");
  require_symmetric(S_, "S");
  require(G_.rows() * S_.rows() <= static_cast<std::size_t>(std::numeric_limits<int>::max()), "G",
          "d m exceeds BLAS's integer range");
}

KroneckerOperator KroneckerOperator::with_identity(Matrix G, std::size_t d) {
  require(d > 0, "d", "must be positive, got 0");
  Matrix S(d, d);
  for (std::size_t j = 0; j < d; ++j) S(j, j) = 1.0;
  return KroneckerOperator(std::move(G), std::move(S));
}

std::size_t KroneckerOperator::rows() const { return G_.rows() * S_.rows(); }

Matrix KroneckerOperator::apply(MatrixView A) const {
  const std::size_t m = G_.rows(), d = S_.rows();
  require_shape(A, d, m, "A");
  Matrix SA(d, m), out(d, m);
  gemm(CblasNoTrans, CblasNoTrans, d, m, d, S_.data(), d, A.data, m, SA.data());
  gemm(CblasNoTrans, CblasTrans, d, m, m, SA.data(), m, G_.data(), m, out.data());
  return out;
}

const KroneckerOperator::Eigen& KroneckerOperator::eigen() const {
  // The first call pays O(m^3 + d^3); concurrent first calls must not both do it.
  static std::mutex first_use;
  std::lock_guard lock(first_use);
  if (!eigen_) eigen_ = std::make_unique<Eigen>(Eigen{symmetric_eigen(G_), symmetric_eigen(S_)});
  return *eigen_;
}

Matrix KroneckerOperator::solve(MatrixView B) const {
  const std::size_t m = G_.rows(), d = S_.rows();
  require_shape(B, d, m, "B");
  require_finite(B.flat(), "B");
  const Eigen& e = eigen();
  // Singular to working precision: an eigenvalue of a factor below n eps times
  // the factor's spectral radius (the backward error of dsyevd).
  const auto check = [](const SymmetricEigen& f, const char* name) {
    double radius = 0.0, smallest = std::numeric_limits<double>::infinity();
    for (double v : f.values) {
      radius = std::max(radius, std::abs(v));
      smallest = std::min(smallest, std::abs(v));
    }
    const double floor = static_cast<double>(f.values.size()) * std::numeric_limits<double>::epsilon() * radius;
    if (!(smallest > floor)) {
      throw NumericalError(std::string("KroneckerOperator::solve: ") + name +
                           " is singular to working precision (smallest |eigenvalue| " + std::to_string(smallest) +
                           ", largest " + std::to_string(radius) + ")");
    }
  };
  check(e.g, "G");
  check(e.s, "S");
  Matrix Y = to_eigenbasis(e, B);
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < m; ++i) Y(j, i) /= e.value(i, j);
  }
  return from_eigenbasis(e, Y);
}

Matrix KroneckerOperator::exp_apply(double tau, MatrixView A) const {
  const std::size_t m = G_.rows(), d = S_.rows();
  require(std::isfinite(tau), "tau", "must be finite, got " + std::to_string(tau));
  require_shape(A, d, m, "A");
  require_finite(A.flat(), "A");
  const Eigen& e = eigen();
  Matrix Y = to_eigenbasis(e, A);
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < m; ++i) Y(j, i) *= std::exp(tau * e.value(i, j));
  }
  Matrix X = from_eigenbasis(e, Y);
  for (double v : X.flat()) {
    if (!std::isfinite(v)) {
      throw NumericalError("KroneckerOperator::exp_apply: exp(tau K) vec(A) overflows at tau = " +
                           std::to_string(tau));
    }
  }
  return X;
}

}  // namespace gengap
