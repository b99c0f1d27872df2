// KroneckerOperator and symmetric_eigen against explicit dense references built
// here: the dm x dm matrix kron(G, S) written out entry by entry, its
// exponential by Taylor series with scaling and squaring, and spectra known
// in closed form.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/solvers/kronecker.hpp"

namespace {

using namespace gengap;

constexpr double eps = std::numeric_limits<double>::epsilon();

Matrix random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  Matrix M(rows, cols);
  CounterRng(seed, 100).fill_normal(M.flat());
  return M;
}

// M M^T + shift I: symmetric positive definite, condition number modest.
Matrix random_spd(std::size_t n, std::uint64_t seed, double shift = 1.0) {
  const Matrix M = random_matrix(n, n, seed);
  Matrix S = multiply(M, transpose(M));
  for (std::size_t i = 0; i < n; ++i) S(i, i) += shift;
  return S;
}

double max_abs(std::span<const double> v) {
  double r = 0.0;
  for (double x : v) r = std::max(r, std::abs(x));
  return r;
}

double max_abs_diff(std::span<const double> a, std::span<const double> b) {
  double r = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) r = std::max(r, std::abs(a[i] - b[i]));
  return r;
}

// kron(G, S): entry ((i d + j), (k d + l)) = G(i, k) S(j, l).
Matrix explicit_kron(const Matrix& G, const Matrix& S) {
  const std::size_t m = G.rows(), d = S.rows();
  Matrix K(m * d, m * d);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < d; ++j)
      for (std::size_t k = 0; k < m; ++k)
        for (std::size_t l = 0; l < d; ++l) K(i * d + j, k * d + l) = G(i, k) * S(j, l);
  return K;
}

// vec(A): columns of A (d x m) stacked, index i d + j holds A(j, i).
std::vector<double> vec(const Matrix& A) {
  std::vector<double> v(A.size());
  for (std::size_t i = 0; i < A.cols(); ++i)
    for (std::size_t j = 0; j < A.rows(); ++j) v[i * A.rows() + j] = A(j, i);
  return v;
}

std::vector<double> matvec(const Matrix& K, std::span<const double> v) {
  std::vector<double> out(K.rows(), 0.0);
  for (std::size_t r = 0; r < K.rows(); ++r)
    for (std::size_t c = 0; c < K.cols(); ++c) out[r] += K(r, c) * v[c];
  return out;
}

// exp(M) by scaling and squaring: M / 2^s has norm <= 1/2, where 30 Taylor
// terms leave a remainder below 0.5^30 / 30! (far under eps), then square s times.
Matrix explicit_exp(Matrix M) {
  double norm = 0.0;  // infinity norm
  for (std::size_t i = 0; i < M.rows(); ++i) {
    double row = 0.0;
    for (double v : M.row(i)) row += std::abs(v);
    norm = std::max(norm, row);
  }
  int squarings = 0;
  while (norm > 0.5) {
    norm /= 2.0;
    ++squarings;
  }
  const double scale = std::ldexp(1.0, -squarings);
  for (double& v : M.flat()) v *= scale;
  const std::size_t n = M.rows();
  Matrix result(n, n), term(n, n);
  for (std::size_t i = 0; i < n; ++i) result(i, i) = term(i, i) = 1.0;
  for (int k = 1; k <= 30; ++k) {
    term = multiply(term, M);
    for (double& v : term.flat()) v /= k;
    for (std::size_t i = 0; i < result.size(); ++i) result.flat()[i] += term.flat()[i];
  }
  for (int s = 0; s < squarings; ++s) result = multiply(result, result);
  return result;
}

constexpr std::size_t m = 5, d = 3;

struct Fixture {
  Matrix G = random_spd(m, 1);
  Matrix S = random_spd(d, 2);
  Matrix A = random_matrix(d, m, 3);
  Matrix K = explicit_kron(G, S);
};

TEST(SymmetricEigen_ReconstructsMatrix, OrthonormalAscendingAndExact) {
  const Matrix M = random_spd(40, 7, -3.0);  // shift -3: indefinite on purpose
  const SymmetricEigen e = symmetric_eigen(M);
  ASSERT_EQ(e.values.size(), 40u);
  EXPECT_TRUE(std::is_sorted(e.values.begin(), e.values.end()));
  const Matrix& Q = e.vectors;
  Matrix QL = Q;
  for (std::size_t i = 0; i < 40; ++i)
    for (std::size_t k = 0; k < 40; ++k) QL(i, k) *= e.values[k];
  const Matrix back = multiply(QL, transpose(Q));
  const Matrix QtQ = multiply(transpose(Q), Q);
  Matrix I(40, 40);
  for (std::size_t i = 0; i < 40; ++i) I(i, i) = 1.0;
  // A backward-stable eigensolver: residuals of order n eps ||M||; 40 n eps as margin.
  EXPECT_LT(max_abs_diff(back.flat(), M.flat()), 40 * 40 * eps * max_abs(M.flat()));
  EXPECT_LT(max_abs_diff(QtQ.flat(), I.flat()), 40 * 40 * eps);
}

TEST(SymmetricEigen_ColumnMajorCall, SameBitsAsLapackeRowMajor) {
  // symmetric_eigen transposes itself and calls dsyevd column-major (one m x m
  // copy less than LAPACKE's row-major path): the same LAPACK call on the same
  // numbers, so the same bits. n = 77 is not a multiple of the 32-wide
  // transpose tiles; the upper triangle holds garbage that must not be read.
  const std::size_t n = 77;
  Matrix M = random_spd(n, 11, -2.0);
  Matrix lower_only = M;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) lower_only(i, j) = 1e300;
  const SymmetricEigen e = symmetric_eigen(lower_only);
  std::vector<double> values(n);
  Matrix vectors = M;
  ASSERT_EQ(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', static_cast<lapack_int>(n), vectors.data(),
                           static_cast<lapack_int>(n), values.data()),
            0);
  EXPECT_EQ(std::memcmp(e.values.data(), values.data(), n * sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(e.vectors.data(), vectors.data(), n * n * sizeof(double)), 0);
}

TEST(SymmetricEigen_KnownSpectrum, TridiagonalLaplacian) {
  // tridiag(-1, 2, -1) of size n has eigenvalues 2 - 2 cos(k pi / (n + 1)).
  // Only the lower triangle is filled: the header promises the upper one is not read.
  const std::size_t n = 64;
  Matrix L(n, n);
  for (std::size_t i = 0; i < n; ++i) {
    L(i, i) = 2.0;
    if (i > 0) L(i, i - 1) = -1.0;
  }
  const SymmetricEigen e = symmetric_eigen(L);
  for (std::size_t k = 1; k <= n; ++k) {
    const double exact = 2.0 - 2.0 * std::cos(static_cast<double>(k) * std::numbers::pi / (n + 1.0));
    EXPECT_NEAR(e.values[k - 1], exact, 100 * eps) << "k = " << k;  // ||L|| <= 4: n eps ||L|| bound
  }
}

TEST(SymmetricEigen_RejectsBadInput, NamesMatrix) {
  expect_invalid([] { symmetric_eigen(Matrix(3, 4)); }, "matrix");
  expect_invalid([] { symmetric_eigen(Matrix()); }, "matrix");
  Matrix bad = random_spd(4, 1);
  bad(2, 1) = std::nan("");
  expect_invalid([&] { symmetric_eigen(bad); }, "matrix");
}

TEST(KroneckerOperator_Apply, MatchesExplicitKronAndVecConvention) {
  const Fixture f;
  const KroneckerOperator K(f.G, f.S);
  EXPECT_EQ(K.rows(), m * d);
  const std::vector<double> expected = matvec(f.K, vec(f.A));
  const std::vector<double> got = vec(K.apply(f.A));
  // Same products summed in a different order: a few eps of the largest term.
  EXPECT_LT(max_abs_diff(got, expected), 64 * eps * max_abs(expected));
}

TEST(KroneckerOperator_Apply, IdentityFactorGivesAG) {
  const Fixture f;
  const KroneckerOperator K = KroneckerOperator::with_identity(f.G, d);
  const Matrix AG = multiply(f.A, f.G);  // (G kron I) vec(A) = vec(A G^T) = vec(A G), G symmetric
  EXPECT_LT(max_abs_diff(K.apply(f.A).flat(), AG.flat()), 64 * eps * max_abs(AG.flat()));
}

TEST(KroneckerOperator_Solve, InvertsExplicitKron) {
  const Fixture f;
  const KroneckerOperator K(f.G, f.S);
  const Matrix X = K.solve(f.A);
  const std::vector<double> residual_target = vec(f.A);
  const std::vector<double> back = matvec(f.K, vec(X));
  // Backward error of an eigen-solve: O(cond(K) eps) relative; cond(K) of these
  // shifted Gram matrices is below 1e4, so 1e4 * 100 eps bounds it with margin.
  EXPECT_LT(max_abs_diff(back, residual_target), 1e6 * eps * max_abs(residual_target));
}

TEST(KroneckerOperator_Solve, SingularFactorThrows) {
  Matrix G = random_spd(m, 1);
  for (std::size_t i = 0; i < m; ++i) G(i, 0) = G(0, i) = 0.0;  // a zero row and column: exactly singular
  const KroneckerOperator K = KroneckerOperator::with_identity(G, d);
  EXPECT_THROW(K.solve(random_matrix(d, m, 3)), NumericalError);
}

TEST(KroneckerOperator_Eigen, EigenpairsOfExplicitKron) {
  const Fixture f;
  const KroneckerOperator K(f.G, f.S);
  const auto& e = K.eigen();
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < d; ++j) {
      std::vector<double> v(m * d);  // q_i kron v_j
      for (std::size_t a = 0; a < m; ++a)
        for (std::size_t b = 0; b < d; ++b) v[a * d + b] = e.g.vectors(a, i) * e.s.vectors(b, j);
      const std::vector<double> Kv = matvec(f.K, v);
      const double lambda = e.value(i, j);
      double residual = 0.0;
      for (std::size_t r = 0; r < v.size(); ++r) residual = std::max(residual, std::abs(Kv[r] - lambda * v[r]));
      // Unit eigenvector: residual of order (m d) eps ||K||.
      EXPECT_LT(residual, 100 * eps * max_abs(f.K.flat()) * m * d) << "pair " << i << ", " << j;
    }
  }
}

TEST(KroneckerOperator_ExpApply, MatchesTaylorScalingSquaring) {
  const Fixture f;
  const KroneckerOperator K(f.G, f.S);
  for (double tau : {0.0, -0.01, 0.003, -0.1}) {
    Matrix tK = f.K;
    for (double& v : tK.flat()) v *= tau;
    const std::vector<double> expected = matvec(explicit_exp(tK), vec(f.A));
    const std::vector<double> got = vec(K.exp_apply(tau, f.A));
    // ||tau K|| reaches ~50 here: the squarings amplify the series' rounding by
    // about ||tau K||, so allow 1e4 eps relative.
    EXPECT_LT(max_abs_diff(got, expected), 1e4 * eps * std::max(1.0, max_abs(expected))) << "tau = " << tau;
  }
}

TEST(KroneckerOperator_RejectsBadInput, NamesTheField) {
  const Fixture f;
  Matrix asymmetric = f.G;
  asymmetric(0, 1) += 1.0;
  expect_invalid([&] { KroneckerOperator(asymmetric, f.S); }, "G");
  expect_invalid([&] { KroneckerOperator(f.G, Matrix(2, 3)); }, "S");
  expect_invalid([&] { KroneckerOperator::with_identity(f.G, 0); }, "d");
  const KroneckerOperator K(f.G, f.S);
  expect_invalid([&] { K.apply(Matrix(m, d)); }, "A");
  expect_invalid([&] { K.solve(Matrix(d + 1, m)); }, "B");
  expect_invalid([&] { K.exp_apply(std::nan(""), f.A); }, "tau");
}

}  // namespace
