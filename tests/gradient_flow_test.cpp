// GradientFlow (docs/math.md §6) against references that never use its eigenbasis:
// a synthetic least-squares loss
//   L(A) = sum_z w_z/2 || A phi_z / m - y_z ||^2
// built here from a random feature matrix Phi (N x m), weights w and targets Y,
// so that G = Phi^T diag(w) Phi, C = Phi^T diag(w) Y, L_0 = sum w |y|^2 / 2.
// The loss, its gradient and gradient descent are evaluated directly from
// (Phi, w, Y); least-squares solutions come from normal equations solved by
// Gaussian elimination or from LAPACK's SVD driver dgelsd.
// Stochastic training (solvers/stochastic_training.hpp) is tested in the last
// part against Monte Carlo references of the empirical DSM loss.
#include <gtest/gtest.h>

#include "test_support.hpp"
#include <lapacke.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/schedule.hpp"
#include "gengap/solvers/stochastic_training.hpp"

namespace {

using namespace gengap;

constexpr double eps = std::numeric_limits<double>::epsilon();

Matrix random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed, double scale = 1.0) {
  Matrix M(rows, cols);
  CounterRng(seed, 200).fill_normal(M.flat());
  for (double& v : M.flat()) v *= scale;
  return M;
}

double frobenius(const Matrix& A) {
  double s = 0.0;
  for (double v : A.flat()) s += v * v;
  return std::sqrt(s);
}

double distance(const Matrix& A, const Matrix& B) {
  double s = 0.0;
  for (std::size_t k = 0; k < A.size(); ++k) s += (A.flat()[k] - B.flat()[k]) * (A.flat()[k] - B.flat()[k]);
  return std::sqrt(s);
}

// Solves M X = R (M square) by Gaussian elimination with partial pivoting.
Matrix gauss_solve(Matrix M, Matrix R) {
  const std::size_t n = M.rows();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(M(r, c)) > std::abs(M(p, c))) p = r;
    for (std::size_t j = 0; j < n; ++j) std::swap(M(c, j), M(p, j));
    for (std::size_t j = 0; j < R.cols(); ++j) std::swap(R(c, j), R(p, j));
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = M(r, c) / M(c, c);
      for (std::size_t j = c; j < n; ++j) M(r, j) -= f * M(c, j);
      for (std::size_t j = 0; j < R.cols(); ++j) R(r, j) -= f * R(c, j);
    }
  }
  for (std::size_t c = n; c-- > 0;) {
    for (std::size_t j = 0; j < R.cols(); ++j) {
      double v = R(c, j);
      for (std::size_t k = c + 1; k < n; ++k) v -= M(c, k) * R(k, j);
      R(c, j) = v / M(c, c);
    }
  }
  return R;
}

// The synthetic least-squares problem and its direct (Gram-free) evaluations.
struct Problem {
  Matrix Phi;             // N x m
  std::vector<double> w;  // N
  Matrix Y;               // N x d

  std::size_t m() const { return Phi.cols(); }
  std::size_t d() const { return Y.cols(); }

  QuadraticLoss quadratic() const {
    const std::size_t N = Phi.rows();
    QuadraticLoss q{Matrix(m(), m()), Matrix(m(), d()), 0.0};
    for (std::size_t z = 0; z < N; ++z) {
      for (std::size_t i = 0; i < m(); ++i) {
        for (std::size_t j = 0; j < m(); ++j) q.G(i, j) += w[z] * Phi(z, i) * Phi(z, j);
        for (std::size_t l = 0; l < d(); ++l) q.C(i, l) += w[z] * Phi(z, i) * Y(z, l);
      }
      for (std::size_t l = 0; l < d(); ++l) q.L0 += 0.5 * w[z] * Y(z, l) * Y(z, l);
    }
    return q;
  }
  // Residual r_z = A phi_z / m - y_z.
  Matrix residual(const Matrix& A) const {
    Matrix R(Phi.rows(), d());
    for (std::size_t z = 0; z < Phi.rows(); ++z)
      for (std::size_t l = 0; l < d(); ++l) {
        double s = 0.0;
        for (std::size_t i = 0; i < m(); ++i) s += A(l, i) * Phi(z, i);
        R(z, l) = s / static_cast<double>(m()) - Y(z, l);
      }
    return R;
  }
  double loss(const Matrix& A) const {
    const Matrix R = residual(A);
    double s = 0.0;
    for (std::size_t z = 0; z < Phi.rows(); ++z)
      for (std::size_t l = 0; l < d(); ++l) s += 0.5 * w[z] * R(z, l) * R(z, l);
    return s;
  }
  // grad_A L = (1/m) sum_z w_z r_z phi_z^T.
  Matrix gradient(const Matrix& A) const {
    const Matrix R = residual(A);
    Matrix g(d(), m());
    for (std::size_t z = 0; z < Phi.rows(); ++z)
      for (std::size_t l = 0; l < d(); ++l)
        for (std::size_t i = 0; i < m(); ++i) g(l, i) += w[z] * R(z, l) * Phi(z, i) / static_cast<double>(m());
    return g;
  }
  Matrix gradient_descent(Matrix A, double eta, std::size_t steps) const {
    for (std::size_t k = 0; k < steps; ++k) {
      const Matrix g = gradient(A);
      for (std::size_t i = 0; i < A.size(); ++i) A.flat()[i] -= eta * g.flat()[i];
    }
    return A;
  }
};

// N points, m features, d outputs; rank r < m makes G rank-deficient
// (Phi = P F with P N x r, F r x m). Phi's entries have standard deviation m,
// so G ~ m^2 (sum w) I and kappa = lambda/m^2 spans about [0.3, 2] (Marchenko-Pastur, m/N = 0.2).
Problem make_problem(std::size_t N, std::size_t m, std::size_t d, std::uint64_t seed, std::size_t rank = 0) {
  Problem p;
  if (rank == 0) {
    p.Phi = random_matrix(N, m, seed, static_cast<double>(m));
  } else {
    p.Phi = multiply(random_matrix(N, rank, seed), random_matrix(rank, m, seed + 1000, static_cast<double>(m)));
  }
  p.w.resize(N);
  CounterRng(seed, 201).fill_uniform(p.w);
  for (double& v : p.w) v = (0.5 + v) / static_cast<double>(N);
  p.Y = random_matrix(N, d, seed + 2000);
  return p;
}

constexpr std::size_t N = 40, m = 8, d = 2;

TEST(GradientFlow_Rates, AreEigenvaluesOverMSquaredAndTimescalesTheirInverses) {
  // Diagonal G: eigenvalues known exactly, flow decoupled per coordinate.
  QuadraticLoss q{Matrix(4, 4), Matrix(4, 1, std::vector<double>{1.0, 2.0, 3.0, 4.0}), 0.5};
  const std::vector<double> lambda{32.0, 0.0, 8.0, 16.0};
  for (std::size_t i = 0; i < 4; ++i) q.G(i, i) = lambda[i];
  const GradientFlow flow(q);
  const std::vector<double> expected{0.0, 0.5, 1.0, 2.0};  // sorted lambda / 16
  ASSERT_EQ(flow.rates().size(), 4u);
  for (std::size_t j = 0; j < 4; ++j) EXPECT_NEAR(flow.rates()[j], expected[j], 4 * eps);
  const auto [shortest, longest] = flow.timescale_range();
  EXPECT_NEAR(shortest, 0.5, 4 * eps);  // the zero eigenvalue is below the floor: excluded
  EXPECT_NEAR(longest, 2.0, 4 * eps);
  // Coordinate i solves a' = -(lambda_i/16) a + c_i/4 from 0: a = c_i/4 * tau phi1(lambda_i tau/16).
  const double tau = 0.7;
  const Matrix A = flow.weights(tau);
  for (std::size_t i = 0; i < 4; ++i) {
    const double k = lambda[i] / 16.0, c = q.C(i, 0) / 4.0;
    const double exact = k == 0.0 ? c * tau : c * (1.0 - std::exp(-k * tau)) / k;
    EXPECT_NEAR(A(0, i), exact, 16 * eps) << "i = " << i;
  }
}

TEST(GradientFlow_MatchesSmallStepGD, ErrorHalvesWithTheStep) {
  const Problem p = make_problem(N, m, d, 1);
  const Matrix A0 = random_matrix(d, m, 5);
  const GradientFlow flow(p.quadratic(), A0);
  // tau spans the fast time scales and part of the slow ones.
  const double tau = 2.0 * flow.timescale_range().first * 10.0;
  const Matrix exact = flow.weights(tau);
  std::vector<double> errors;
  for (std::size_t steps : {50u, 100u, 200u, 400u, 800u}) {
    errors.push_back(distance(p.gradient_descent(A0, tau / static_cast<double>(steps), steps), exact));
  }
  // GD is first order in eta: halving eta halves the error (ratio -> 2 as eta -> 0;
  // the O(eta^2) remainder leaves ~2% at the coarsest step, eta kappa_max = 0.4).
  for (std::size_t k = 1; k < errors.size(); ++k) {
    const double ratio = errors[k - 1] / errors[k];
    EXPECT_GT(ratio, 1.9) << "halving " << k;
    EXPECT_LT(ratio, 2.1) << "halving " << k;
  }
  // eta kappa_max = 0.025 at the finest step. Mode j's first-order error is
  // (eta kappa_j^2 tau / 2) e^{-kappa_j tau} |b_j(0) - b_j*| <= eta kappa_max / (2e) |...|
  // ~ 5e-3 of the start's distance to the minimiser: 1e-2 ||A|| bounds it.
  EXPECT_LT(errors.back(), 1e-2 * frobenius(exact));
}

TEST(GradientFlow_GradientDescentClosedForm, MatchesIteratedSteps) {
  const Problem p = make_problem(N, m, d, 2);
  const Matrix A0 = random_matrix(d, m, 6);
  const GradientFlow flow(p.quadratic(), A0);
  const double kappa_max = flow.rates().back();
  // eta kappa_max = 0.3 (monotone), 1.5 (oscillating, still convergent) and
  // 2.05 (divergent: the closed form must still reproduce the iterates).
  for (double h : {0.3, 1.5, 2.05}) {
    const double eta = h / kappa_max;
    for (std::size_t steps : {0u, 1u, 7u, 60u}) {
      const Matrix iterated = p.gradient_descent(A0, eta, steps);
      const Matrix closed = flow.gradient_descent(eta, steps);
      // Both are exact; they differ by rounding: eigendecomposition (~m eps) and
      // k steps each adding ~m eps relative, amplified by |q|^k <= 1.05^60 ~ 19.
      EXPECT_LT(distance(closed, iterated), 1e-12 * (1.0 + frobenius(iterated)))
          << "eta kappa_max = " << h << ", steps = " << steps;
    }
  }
}

TEST(GradientFlow_ConvergesToLeastSquares, FullRankNormalEquations) {
  const Problem p = make_problem(N, m, d, 3);
  const QuadraticLoss q = p.quadratic();
  const GradientFlow flow(q);
  // A* = m C^T G^{-1}: solve G X = m C, A* = X^T (G symmetric).
  Matrix mC = q.C;
  for (double& v : mC.flat()) v *= static_cast<double>(m);
  const Matrix reference = transpose(gauss_solve(q.G, mC));
  // 40 slowest time scales: exp(-40) ~ 4e-18 of the start is left.
  const double tau = 40.0 * flow.timescale_range().second;
  // cond(G) ~ 6 here: a relative error of a few cond * eps (measured ~6e-16); 1e-10 leaves margin
  // for other seeds and BLAS kernels.
  EXPECT_LT(distance(flow.weights(tau), reference), 1e-10 * frobenius(reference));
  EXPECT_LT(distance(flow.minimum_norm_minimizer(), reference), 1e-10 * frobenius(reference));
}

// Minimum-norm least squares by LAPACK's SVD driver: X = argmin ||W^{1/2}(Phi X - Y)||
// of least norm, A* = m X^T (the model predicts A phi / m).
Matrix svd_minimum_norm(const Problem& p) {
  const std::size_t n = p.Phi.rows();
  Matrix M(n, p.m()), R(std::max(n, p.m()), p.d());
  for (std::size_t z = 0; z < n; ++z) {
    const double s = std::sqrt(p.w[z]);
    for (std::size_t i = 0; i < p.m(); ++i) M(z, i) = s * p.Phi(z, i);
    for (std::size_t l = 0; l < p.d(); ++l) R(z, l) = s * p.Y(z, l);
  }
  std::vector<double> sv(p.m());
  lapack_int rank = 0;
  const lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, static_cast<lapack_int>(n), static_cast<lapack_int>(p.m()),
                                         static_cast<lapack_int>(p.d()), M.data(), static_cast<lapack_int>(p.m()),
                                         R.data(), static_cast<lapack_int>(p.d()), sv.data(), 1e-10, &rank);
  EXPECT_EQ(info, 0);
  Matrix A(p.d(), p.m());
  for (std::size_t i = 0; i < p.m(); ++i)
    for (std::size_t l = 0; l < p.d(); ++l) A(l, i) = static_cast<double>(p.m()) * R(i, l);
  return A;
}

TEST(GradientFlow_ConvergesToLeastSquares, RankDeficientMinimumNorm) {
  const Problem p = make_problem(N, m, d, 4, /*rank=*/3);
  const GradientFlow flow(p.quadratic());
  const Matrix reference = svd_minimum_norm(p);
  // Flow from 0 never leaves the row space of G, so its limit is the min-norm solution.
  const double tau = 40.0 * flow.timescale_range().second;
  // The null eigenvalues of G are rounding noise (~m eps ||G||): they were
  // classified as null by the floor, leaving cond(G restricted) * eps errors.
  EXPECT_LT(distance(flow.minimum_norm_minimizer(), reference), 1e-9 * frobenius(reference));
  EXPECT_LT(distance(flow.weights(tau), reference), 1e-9 * frobenius(reference));
}

TEST(GradientFlow_NullDirections, StayPut) {
  const std::size_t rank = 3;
  const Problem p = make_problem(N, m, d, 5, rank);
  const Matrix A0 = random_matrix(d, m, 7);
  const GradientFlow flow(p.quadratic(), A0);
  // Null space of G = null space of F (Phi = P F): v = u - F^T (F F^T)^{-1} F u.
  const Matrix F = random_matrix(rank, m, 5 + 1000, static_cast<double>(m));
  const Matrix u = random_matrix(m, 1, 8);
  const Matrix coefficients = gauss_solve(multiply(F, transpose(F)), multiply(F, u));
  Matrix v = u;
  const Matrix back = multiply(transpose(F), coefficients);
  for (std::size_t i = 0; i < m; ++i) v(i, 0) -= back(i, 0);
  for (double tau : {0.1, 10.0, 1e4}) {
    Matrix delta = flow.weights(tau);
    for (std::size_t k = 0; k < delta.size(); ++k) delta.flat()[k] -= A0.flat()[k];
    // (A(tau) - A0) v = 0 up to rounding of the motion in the row space.
    EXPECT_LT(frobenius(multiply(delta, v)), 1e-10 * (1.0 + frobenius(delta)) * frobenius(v)) << "tau = " << tau;
    // And the motion is real: the row-space part moves.
    EXPECT_GT(frobenius(delta), 1e-3) << "tau = " << tau;
  }
}

TEST(GradientFlow_TrainLoss, MatchesDirectLossAtWeights) {
  const Problem p = make_problem(N, m, d, 6);
  const Matrix A0 = random_matrix(d, m, 9);
  const GradientFlow flow(p.quadratic(), A0);
  for (double tau : {0.0, 0.3, 3.0, 30.0, 3e3}) {
    const double direct = p.loss(flow.weights(tau));
    // Expanded quadratic vs sum of squared residuals: the expansion cancels
    // terms of size ~L(0); 1e-12 relative to that scale.
    EXPECT_NEAR(flow.train_loss(tau), direct, 1e-12 * p.loss(A0)) << "tau = " << tau;
  }
}

TEST(GradientFlow_ProjectedLoss, MatchesDirectLossOfAnotherProblem) {
  const Problem train = make_problem(N, m, d, 7);
  const Problem other = make_problem(2 * N, m, d, 8);
  const Matrix A0 = random_matrix(d, m, 10);
  const GradientFlow flow(train.quadratic(), A0);
  const ProjectedLoss projected = flow.project(other.quadratic());
  for (double tau : {0.0, 1.0, 10.0, 1e3}) {
    const double direct = other.loss(flow.weights(tau));
    EXPECT_NEAR(flow.loss(projected, tau), direct, 1e-12 * other.loss(A0)) << "tau = " << tau;  // as above
  }
  // The batched version over a grid longer than one block of 64 taus.
  const auto taus = log_spaced(1e-2, 1e4, 150);
  const std::vector<double> batched = flow.losses(projected, taus);
  ASSERT_EQ(batched.size(), taus.size());
  for (std::size_t k = 0; k < taus.size(); k += 7) {
    EXPECT_NEAR(batched[k], other.loss(flow.weights(taus[k])), 1e-12 * other.loss(A0)) << "tau = " << taus[k];
  }
  EXPECT_NEAR(batched.back(), other.loss(flow.weights(taus.back())), 1e-12 * other.loss(A0));
  expect_invalid([&] { flow.losses(projected, std::vector<double>{1.0, -1.0}); }, "tau");
}

TEST(GradientFlow_Trajectory, LossDecreasesAndDistanceGrows) {
  const Problem p = make_problem(N, m, d, 9);
  const Matrix A0 = random_matrix(d, m, 11);
  const GradientFlow flow(p.quadratic(), A0);
  const auto taus = log_spaced(1e-3, 1e4, 50);
  double previous_loss = flow.train_loss(0.0), previous_distance = 0.0;
  EXPECT_EQ(flow.distance_from_start(0.0), 0.0);
  for (double tau : taus) {
    const double loss = flow.train_loss(tau), dist = flow.distance_from_start(tau);
    // Gradient flow never increases the loss; allow rounding of the sum (~m eps L).
    EXPECT_LE(loss, previous_loss + 64 * eps * std::abs(previous_loss)) << "tau = " << tau;
    EXPECT_GE(dist, previous_distance * (1.0 - 64 * eps)) << "tau = " << tau;
    // Distance vs ||A(tau) - A0||_F computed from the rotated weights.
    EXPECT_NEAR(dist, distance(flow.weights(tau), A0), 1e-12 * (1.0 + dist)) << "tau = " << tau;
    previous_loss = loss;
    previous_distance = dist;
  }
  // and the trajectory really trains: most of the excess loss is gone at tau = 1e4.
  const double floor_loss = p.loss(flow.minimum_norm_minimizer());
  EXPECT_LT(previous_loss - floor_loss, 1e-3 * (flow.train_loss(0.0) - floor_loss));
}

TEST(GradientFlow_Derivative, EqualsMinusGradient) {
  const Problem p = make_problem(N, m, d, 10);
  const Matrix A0 = random_matrix(d, m, 12);
  const GradientFlow flow(p.quadratic(), A0);
  const double h = 1e-4;
  for (double tau : {0.5, 5.0, 50.0}) {
    const Matrix plus = flow.weights(tau + h), minus = flow.weights(tau - h);
    Matrix derivative(d, m);
    for (std::size_t k = 0; k < derivative.size(); ++k)
      derivative.flat()[k] = (plus.flat()[k] - minus.flat()[k]) / (2 * h);
    Matrix expected = p.gradient(flow.weights(tau));
    for (double& v : expected.flat()) v = -v;
    // Central difference: truncation h^2 kappa_max^3 ||A - A*|| / 6 with
    // kappa_max ~ 2 is ~1e-8 ||A - A*||; rounding eps ||A|| / h ~ 2e-12 ||A||.
    EXPECT_LT(distance(derivative, expected), 1e-7 * (frobenius(expected) + frobenius(A0))) << "tau = " << tau;
  }
}

TEST(GradientFlow_LogSpaced, EndpointsAndConstantRatio) {
  const auto v = log_spaced(1e-2, 1e3, 6);
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v.front(), 1e-2);
  EXPECT_EQ(v.back(), 1e3);
  for (std::size_t i = 1; i < v.size(); ++i) EXPECT_NEAR(v[i] / v[i - 1], 10.0, 1e-13);  // 1e5^(1/5) = 10
  expect_invalid([] { log_spaced(1.0, 2.0, 1); }, "n");
  expect_invalid([] { log_spaced(0.0, 2.0, 3); }, "lo");
  expect_invalid([] { log_spaced(2.0, 2.0, 3); }, "hi");
}

TEST(GradientFlow_RejectsBadInput, NamesTheField) {
  const Problem p = make_problem(N, m, d, 11);
  const QuadraticLoss q = p.quadratic();
  expect_invalid([&] { GradientFlow(q, Matrix(d + 1, m)); }, "A0");
  expect_invalid([&] { GradientFlow(QuadraticLoss{Matrix(m, m + 1), q.C, 0.0}); }, "G");
  expect_invalid([&] { GradientFlow(QuadraticLoss{q.G, Matrix(m + 1, d), 0.0}); }, "C");
  QuadraticLoss negative = q;
  for (std::size_t i = 0; i < m; ++i) negative.G(i, i) -= 1e3;  // shifts the spectrum well below 0
  expect_invalid([&] { GradientFlow flow(negative); }, "G");
  expect_invalid([&] { GradientFlow(q, {}, GradientFlowOptions{-1.0}); }, "eigen_floor");
  const GradientFlow flow(q);
  expect_invalid([&] { flow.weights(-1.0); }, "tau");
  expect_invalid([&] { flow.train_loss(std::nan("")); }, "tau");
  expect_invalid([&] { flow.eigen_weights(std::numeric_limits<double>::infinity()); }, "tau");
  expect_invalid([&] { flow.gradient_descent(0.0, 3); }, "eta");
  expect_invalid([&] { flow.project(QuadraticLoss{Matrix(m + 1, m + 1), q.C, 0.0}); }, "other.G");
}

// ------------------------------------------------------------- stochastic training
// A tiny DSM problem: n = 8 training points in d = 1 (two clusters at +-2),
// m = 32 ReLU features with a smooth Fourier time embedding, OU schedule on
// [1e-3, 1], lambda = sigma_t^2, c = 1.
struct DsmProblem {
  Matrix data;
  RandomFeatures rf;
  DsmSetup setup;
};

DsmProblem make_dsm_problem(std::size_t m = 32, std::size_t d = 1) {
  DsmProblem p;
  const std::size_t n = 8;
  p.data = Matrix(n, d);
  CounterRng(3, streams::training_data).fill_normal(p.data.flat());
  for (std::size_t i = 0; i < n; ++i) p.data(i, 0) += (i % 2 == 1 ? 2.0 : -2.0);
  p.rf = draw_random_features(m, d, fourier_embedding(8, 1.0, 4), Activation::relu, FeatureInit::sphere, 5);
  p.setup.schedule = default_schedule(ScheduleKind::ou);
  p.setup.schedule.T = 1.0;
  return p;
}

// DSM design points (x_t, t, y, w) for the empirical loss L_n, drawn with the
// documented protocol: slot p picks sample sample_of(p), t = t_min + (T - t_min) u_p,
// eps from normal draws p d + l; w = lambda c^2 * mass. Returned as a Problem
// (features, weights, targets) so its loss and gradient are evaluated directly.
template <class SampleOf>
Problem dsm_points(const DsmProblem& dsm, std::size_t count, SampleOf sample_of, const CounterRng& time_rng,
                   const CounterRng& noise_rng, double mass, std::uint64_t first = 0) {
  const std::size_t d = dsm.rf.dim();
  const Schedule& S = dsm.setup.schedule;
  Matrix X(count, d), Y(count, d);
  std::vector<double> t(count), w(count);
  for (std::size_t p = 0; p < count; ++p) {
    const std::uint64_t slot = first + p;
    const std::size_t i = sample_of(slot);
    t[p] = S.t_min + (S.T - S.t_min) * time_rng.uniform(slot);
    const double mu = S.mean_scale(t[p]), sigma = S.std_dev(t[p]), c = dsm.setup.c(t[p]);
    for (std::size_t l = 0; l < d; ++l) {
      const double e = noise_rng.normal(slot * d + l);
      X(p, l) = mu * dsm.data(i, l) + sigma * e;
      Y(p, l) = -e / (sigma * c);
    }
    w[p] = dsm.setup.lambda(t[p]) * c * c * mass;
  }
  return Problem{features(dsm.rf, X, t), w, Y};
}

// The empirical loss L_n by Monte Carlo with 40000 draws on streams the
// training never uses; samples are stratified (p mod n), so x_0 is exactly uniform.
Problem empirical_reference(const DsmProblem& dsm) {
  const std::size_t count = 40000, n = dsm.data.rows();
  return dsm_points(
      dsm, count, [n](std::uint64_t p) { return static_cast<std::size_t>(p % n); },
      CounterRng(77, streams::second_draws), CounterRng(78, streams::second_draws), 1.0 / count);
}

double mean(std::span<const double> v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }
double standard_error(std::span<const double> v) {
  const double mu = mean(v);
  double s = 0.0;
  for (double x : v) s += (x - mu) * (x - mu);
  return std::sqrt(s / (v.size() - 1) / v.size());
}

TEST(DsmLossAndGradient, MatchesDirectLossAndFiniteDifferences) {
  const DsmProblem dsm = make_dsm_problem(12, 2);
  const std::size_t B = 7;
  Matrix x = random_matrix(B, 2, 20), y = random_matrix(B, 2, 21);
  std::vector<double> t(B), w(B);
  CounterRng(22, 0).fill_uniform(t);
  CounterRng(23, 0).fill_uniform(w);
  const Matrix A = random_matrix(2, 12, 24, 5.0);
  Matrix gradient;
  const double loss = dsm_loss_and_gradient(dsm.rf, A, x, t, y, w, gradient);
  const Problem direct{features(dsm.rf, x, t), w, y};
  // Same sum of squares in another order: rounding only.
  EXPECT_NEAR(loss, direct.loss(A), 1e-13 * direct.loss(A));
  ASSERT_EQ(gradient.rows(), 2u);
  ASSERT_EQ(gradient.cols(), 12u);
  // The loss is quadratic in A, so central differences are exact up to
  // rounding: eps * loss / h ~ 1e-11 with h = 1e-4.
  const double h = 1e-4;
  for (std::size_t k = 0; k < A.size(); ++k) {
    Matrix plus = A, minus = A;
    plus.flat()[k] += h;
    minus.flat()[k] -= h;
    Matrix ignored;
    const double fd = (dsm_loss_and_gradient(dsm.rf, plus, x, t, y, w, ignored) -
                       dsm_loss_and_gradient(dsm.rf, minus, x, t, y, w, ignored)) / (2 * h);
    EXPECT_NEAR(gradient.flat()[k], fd, 1e-9 * (1.0 + loss)) << "entry " << k;
  }
  expect_invalid([&] { dsm_loss_and_gradient(dsm.rf, Matrix(1, 12), x, t, y, w, gradient); }, "A");
  expect_invalid([&] { dsm_loss_and_gradient(dsm.rf, A, x, t, Matrix(B, 3), w, gradient); }, "y");
  expect_invalid([&] { dsm_loss_and_gradient(dsm.rf, A, x, t, y, std::vector<double>(B - 1), gradient); }, "weight");
}

TEST(StochasticTraining_FirstStep, FollowsTheDocumentedDraws) {
  const DsmProblem dsm = make_dsm_problem();
  const std::size_t B = 16, n = dsm.data.rows();
  const Matrix A0 = random_matrix(1, 32, 30, 3.0);
  StochasticTrainingOptions options;
  options.batch_size = B;
  options.steps = 1;
  options.seed = 31;
  options.learning_rate = 50.0;
  // Step 0's minibatch rebuilt here from the documented streams.
  const CounterRng pick(31, streams::minibatch);
  const Problem batch = dsm_points(
      dsm, B, [&](std::uint64_t slot) { return static_cast<std::size_t>(pick.below(slot, n)); },
      CounterRng(31, streams::sgd_time), CounterRng(31, streams::sgd_noise), 1.0 / B);
  const Matrix g = batch.gradient(A0);

  const auto sgd = train_stochastic(dsm.rf, dsm.setup, dsm.data, A0, options);
  ASSERT_EQ(sgd.batch_losses.size(), 1u);
  EXPECT_NEAR(sgd.batch_losses[0], batch.loss(A0), 1e-13 * batch.loss(A0));  // rounding only
  Matrix expected = A0;
  for (std::size_t k = 0; k < g.size(); ++k) expected.flat()[k] -= 50.0 * g.flat()[k];
  EXPECT_LT(distance(sgd.final_weights, expected), 1e-12 * frobenius(expected));

  // Adam's first step is bias-corrected to lr * g / (|g| + epsilon) per entry.
  options.optimizer = Optimizer::adam;
  options.learning_rate = 0.1;
  const auto adam = train_stochastic(dsm.rf, dsm.setup, dsm.data, A0, options);
  for (std::size_t k = 0; k < g.size(); ++k) {
    const double step = 0.1 * g.flat()[k] / (std::abs(g.flat()[k]) + options.adam_epsilon);
    EXPECT_NEAR(adam.final_weights.flat()[k], A0.flat()[k] - step, 1e-12) << "entry " << k;
  }
}

TEST(StochasticTraining_MinibatchLoss, IsUnbiasedForTheEmpiricalLoss) {
  // At A = 0 the DSM loss is L_0 = 1/2 E[lambda c^2 |eps|^2 / (sigma^2 c^2)] = d/2
  // exactly for lambda = sigma^2, whatever c: an exact reference for the mean
  // of the minibatch losses (the weights lambda c^2 / B and targets -eps/(sigma c)).
  for (OutputScale scale : {OutputScale::one, OutputScale::inv_sigma}) {
    DsmProblem dsm = make_dsm_problem(32, 2);
    dsm.setup.output_scale = scale;
    StochasticTrainingOptions options;
    options.batch_size = 32;
    options.steps = 2000;
    // A moves by ~1e-12 * steps * |grad|: the loss stays d/2 to ~1e-8.
    options.learning_rate = 1e-12;
    const auto r = train_stochastic(dsm.rf, dsm.setup, dsm.data, {}, options);
    // Independent minibatches: the mean is within 4 standard errors of d/2
    // (a false alarm once in ~16000 seeds).
    EXPECT_NEAR(mean(r.batch_losses), 1.0, 4 * standard_error(r.batch_losses)) << to_string(scale);
    EXPECT_LT(standard_error(r.batch_losses), 0.01);  // the check resolves a 4% bias
  }
}

// The denoiser's targets are x_0 (y = x_0, weight lambda mu^2 / sigma^4): at
// A = 0 the minibatch loss is w |x_0|^2 / 2 per draw, whose mean over the
// uniform picks of x_0 and t is L_0 = mean_i |x_i|^2 / 2 E_t[w]
// (DsmSetup::loss_constant). w ~ 1/(2t) near t_min has a heavy tail: the
// 64000 draws resolve a ~5% bias; 4 standard errors as above.
TEST(StochasticTraining_MinibatchLoss, IsUnbiasedForTheDenoisersLoss) {
  DsmProblem dsm = make_dsm_problem(32, 2);
  dsm.setup.output_scale = OutputScale::denoiser;
  StochasticTrainingOptions options;
  options.batch_size = 32;
  options.steps = 2000;
  options.learning_rate = 1e-14;  // A stays ~0: the loss is the constant's estimate
  const auto r = train_stochastic(dsm.rf, dsm.setup, dsm.data, {}, options);
  double mean_squared_norm = 0.0;
  for (std::size_t i = 0; i < dsm.data.rows(); ++i)
    for (std::size_t j = 0; j < dsm.data.cols(); ++j) mean_squared_norm += dsm.data(i, j) * dsm.data(i, j);
  mean_squared_norm /= static_cast<double>(dsm.data.rows());
  const double expected = dsm.setup.loss_constant(2, mean_squared_norm);
  EXPECT_NEAR(mean(r.batch_losses), expected, 4 * standard_error(r.batch_losses));
  EXPECT_LT(standard_error(r.batch_losses), 0.05 * expected);
}

TEST(StochasticTraining_Sgd, FollowsTheGradientFlowAtTauEqualsLrTimesSteps) {
  const DsmProblem dsm = make_dsm_problem();
  const Problem reference = empirical_reference(dsm);
  const GradientFlow flow(reference.quadratic());
  StochasticTrainingOptions options;
  options.batch_size = 32;
  options.steps = 4000;
  options.seed = 40;
  // eta kappa_max = 0.2: small against the stability limit 2.
  options.learning_rate = 0.2 / flow.rates().back();
  const auto r = train_stochastic(dsm.rf, dsm.setup, dsm.data, {}, options);
  const double tau = options.learning_rate * options.steps;
  const double start = reference.loss(Matrix(1, 32)), along_flow = flow.train_loss(tau);
  const double reached = reference.loss(r.final_weights);
  // SGD = GD (the flow to O(eta)) plus gradient noise, whose stationary excess
  // loss is O(eta tr(H Sigma) / B): measured 2% of the decrease; 5% bounds it.
  EXPECT_LT(std::abs(reached - along_flow), 0.05 * (start - along_flow));
  EXPECT_GT(start - along_flow, 0.1);  // the flow really trains on this problem
  // The last 1000 minibatch losses estimate L_n at the (slowly moving) weights:
  // within 4 combined standard errors (theirs and the 40000-draw reference's).
  const std::span<const double> last(r.batch_losses.end() - 1000, r.batch_losses.end());
  const Matrix residual = reference.residual(r.final_weights);
  std::vector<double> per_point(reference.w.size());
  for (std::size_t z = 0; z < per_point.size(); ++z)
    per_point[z] = 0.5 * reference.w[z] * residual(z, 0) * residual(z, 0) * static_cast<double>(per_point.size());
  const double combined = std::hypot(standard_error(last), standard_error(per_point));
  EXPECT_NEAR(mean(last), reached, 4 * combined);
}

TEST(StochasticTraining_Adam, DecreasesTheLoss) {
  const DsmProblem dsm = make_dsm_problem();
  const Problem reference = empirical_reference(dsm);
  const GradientFlow flow(reference.quadratic());
  StochasticTrainingOptions options;
  options.optimizer = Optimizer::adam;
  options.learning_rate = 0.1;
  options.batch_size = 32;
  options.steps = 4000;
  const auto r = train_stochastic(dsm.rf, dsm.setup, dsm.data, {}, options);
  const double start = reference.loss(Matrix(1, 32)), best = reference.loss(flow.minimum_norm_minimizer());
  // Adam closes most of the gap to the minimum (measured 85%); half is a safe floor.
  EXPECT_LT(reference.loss(r.final_weights), start - 0.5 * (start - best));
}

TEST(StochasticTraining_Reproducible, SameSeedSameRunAnyThreadCount) {
  // m = 256 features and batches of 300 span three feature tiles, so the two
  // threads really split the work.
  const DsmProblem dsm = make_dsm_problem(256, 1);
  StochasticTrainingOptions options;
  options.batch_size = 300;
  options.steps = 12;
  options.learning_rate = 100.0;
  options.record_steps = {0, 5, 12};
  const Matrix A0 = random_matrix(1, 256, 50);
  const auto run = [&](int threads, std::uint64_t seed, std::size_t steps) {
    StochasticTrainingOptions o = options;
    o.seed = seed;
    o.steps = steps;
    if (steps < 12) o.record_steps = {};
    const ScopedBlasThreads blas(threads);
    tbb::task_arena arena(threads);
    return arena.execute([&] { return train_stochastic(dsm.rf, dsm.setup, dsm.data, A0, o); });
  };
  const auto one = run(1, 7, 12), two = run(2, 7, 12), other = run(2, 8, 12), prefix = run(2, 7, 5);
  EXPECT_EQ(one.final_weights, two.final_weights);
  EXPECT_EQ(one.batch_losses, two.batch_losses);
  EXPECT_NE(one.final_weights, other.final_weights);
  ASSERT_EQ(one.recorded_steps, (std::vector<std::size_t>{0, 5, 12}));
  EXPECT_EQ(one.recorded_weights[0], A0);
  EXPECT_EQ(one.recorded_weights[1], prefix.final_weights);  // draws are addressed by (step, slot)
  EXPECT_EQ(one.recorded_weights[2], one.final_weights);
}

TEST(StochasticTraining_RejectsBadOptions, NamesTheField) {
  const DsmProblem dsm = make_dsm_problem();
  const auto bad = [&](auto edit, const std::string& field) {
    StochasticTrainingOptions o;
    o.steps = 3;
    edit(o);
    expect_invalid([&] { o.validate(); }, field);
    expect_invalid([&] { train_stochastic(dsm.rf, dsm.setup, dsm.data, {}, o); }, field);
  };
  bad([](auto& o) { o.learning_rate = 0.0; }, "learning_rate");
  bad([](auto& o) { o.batch_size = 0; }, "batch_size");
  bad([](auto& o) { o.steps = 0; }, "steps");
  bad([](auto& o) { o.adam_beta1 = 1.0; }, "adam_beta1");
  bad([](auto& o) { o.adam_beta2 = -0.1; }, "adam_beta2");
  bad([](auto& o) { o.adam_epsilon = 0.0; }, "adam_epsilon");
  bad([](auto& o) { o.record_steps = {2, 1}; }, "record_steps");
  bad([](auto& o) { o.record_steps = {4}; }, "record_steps");
  expect_invalid([&] { train_stochastic(dsm.rf, dsm.setup, dsm.data, Matrix(2, 32), {}); }, "A0");
  expect_invalid([&] { train_stochastic(dsm.rf, dsm.setup, Matrix(3, 2), {}, {}); }, "data");
}

}  // namespace
