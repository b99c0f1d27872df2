#pragma once
// Exact gradient flow on the empirical loss (docs/math.md §6):
//   dA/dtau = -grad_A L_n(A),  A(0) = A_0
// With G_n = Q Lambda Q^T, B = A Q, R = (1/m) C_n^T Q, kappa_j = lambda_j / m^2:
//   b_j(tau) = exp(-kappa_j tau) b_j(0) + tau phi1(kappa_j tau) r_j,
//   phi1(z) = -expm1(-z)/z, phi1(0) = 1
// exact for every tau and stable as kappa_j -> 0. Along the trajectory
//   L_n(tau) = sum_j [kappa_j/2 |b_j|^2 - b_j . r_j] + L_{0,n}
//   L(tau)   = 1/(2 m^2) tr(B G~ B^T) - 1/m tr(B C~) + L_0,  G~ = Q^T G Q, C~ = Q^T C
// Gradient descent with step eta is closed form in the same basis:
//   b_j(k) = (1 - eta kappa_j)^k b_j(0) + eta sum_{i<k} (1 - eta kappa_j)^i r_j.
#include <cstddef>
#include <span>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/kronecker.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace gengap {

struct GradientFlowOptions {
  // Eigenvalues below eigen_floor * lambda_max are treated as zero (null
  // directions) by the minimum-norm minimiser and the time-scale grid.
  double eigen_floor = 1e-10;
};

// Another quadratic loss (e.g. the population loss) projected on the flow's
// eigenbasis once, so it can be evaluated along the trajectory for O(d m^2) per tau.
struct ProjectedLoss {
  Matrix G_tilde;  // Q^T G Q (m x m)
  Matrix C_tilde;  // Q^T C (m x d)
  double L0 = 0.0;
};

class GradientFlow {
 public:
  // train: the empirical loss (G_n, C_n, L_{0,n}); A0: d x m (empty = zeros).
  // Throws InvalidArgument naming the field on bad shapes or non-finite entries,
  // and naming "G" if G has an eigenvalue below -1e-8 lambda_max (not a Gram
  // matrix: smaller negative eigenvalues are rounding and are clipped to 0).
  GradientFlow(const QuadraticLoss& train, Matrix A0 = {}, GradientFlowOptions options = {});

  std::size_t num_features() const;  // m
  std::size_t dim() const;           // d
  const SymmetricEigen& eigen() const;  // of G_n
  // kappa_j = lambda_j / m^2 (ascending); negative rounding noise clipped to 0.
  const std::vector<double>& rates() const;
  // The eigen-timescales 1/kappa_j = m^2/lambda_j of the directions above the floor: [shortest, longest].
  std::pair<double, double> timescale_range() const;

  Matrix weights(double tau) const;          // A(tau), d x m
  Matrix eigen_weights(double tau) const;    // B(tau) = A(tau) Q, d x m
  double train_loss(double tau) const;       // L_n(A(tau))
  double loss(const ProjectedLoss& other, double tau) const;  // other loss at A(tau)
  // loss(other, tau) for every tau of a grid. The taus' B(tau) are stacked so
  // that G~ is read once per block of taus by one dgemm instead of once per
  // tau (for d = 1 the per-tau product is a memory-bound matrix-vector product).
  std::vector<double> losses(const ProjectedLoss& other, std::span<const double> taus) const;
  ProjectedLoss project(const QuadraticLoss& other) const;
  double distance_from_start(double tau) const;  // ||A(tau) - A_0||_F

  // A* = m C_n^T G_n^+ (pseudo-inverse with the eigen floor): the tau -> infinity
  // limit when A_0 = 0.
  Matrix minimum_norm_minimizer() const;
  // The optimisation error L_n(A(tau)) - min L_n and its gradient-flow bound
  // (docs/math.md §10), over the directions above the eigen floor (the others are
  // null directions: the loss does not depend on them). With b*_j = r_j/kappa_j
  // the minimiser closest to A_0 (the flow's limit, A* + the null part of A_0),
  //   L_n(A(tau)) - L_n* = sum_j kappa_j/2 e^{-2 kappa_j tau} |b_j(0) - b*_j|^2
  // computed in this form (no cancellation between L_n(tau) and L_n*), and
  //   ||A_0 - A*||_F^2 = sum_j |b_j(0) - b*_j|^2, so that for tau > 0
  //   L_n(A(tau)) - L_n* <= ||A_0 - A*||_F^2 / (2 tau)
  // (x e^{-2x} <= 1/(2e) < 1 per direction: the bound holds with room 2e).
  double optimality_gap(double tau) const;
  double distance_to_minimizer_squared() const;
  // A after `steps` steps of gradient descent with step eta (closed form).
  // Agrees with the flow at tau = eta * steps as eta -> 0 (first order in eta).
  // Stable for eta kappa_max < 2; beyond, GD itself diverges and so does the
  // result (the step is the caller's choice: the iterates are still reproduced).
  Matrix gradient_descent(double eta, std::size_t steps) const;

 private:
  // sum over the directions above the eigen floor and the d coordinates of
  // term(kappa_j, b_j(0) - r_j / kappa_j): the offsets from the closest minimiser.
  template <class Term>
  double sum_over_minimizer_offsets(Term term) const {
    const double floor = options_.eigen_floor * kappa_.back();
    double sum = 0.0;
    for (std::size_t j = 0; j < kappa_.size(); ++j) {
      if (!(kappa_[j] > floor) || kappa_[j] == 0.0) continue;
      for (std::size_t l = 0; l < R_.rows(); ++l) sum += term(kappa_[j], B0_(l, j) - R_(l, j) / kappa_[j]);
    }
    return sum;
  }

  double train_L0_ = 0.0;  // L_{0,n}
  GradientFlowOptions options_;
  Matrix A0_;
  SymmetricEigen eigen_;
  std::vector<double> kappa_;
  Matrix B0_;  // A_0 Q
  Matrix R_;   // (1/m) C_n^T Q  (d x m)
};

// n log-spaced values from lo to hi inclusive (n >= 2, 0 < lo < hi).
std::vector<double> log_spaced(double lo, double hi, std::size_t n);

}  // namespace gengap
