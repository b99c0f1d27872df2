#include "gengap/solvers/gradient_flow.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

int as_int(std::size_t n) { return static_cast<int>(n); }

// phi1(z) = (1 - e^{-z}) / z, written with expm1 so it keeps full relative
// accuracy as z -> 0 (where 1 - e^{-z} would cancel) and phi1(0) = 1 exactly.
double phi1(double z) { return z == 0.0 ? 1.0 : -std::expm1(-z) / z; }

void require_tau(double tau) {
  require(std::isfinite(tau) && tau >= 0.0, "tau", "must be finite and >= 0, got " + std::to_string(tau));
}

// Shapes and finiteness of a quadratic loss in (m, d); checked here rather than
// through QuadraticLoss::validate() so the message says which loss is wrong.
void require_loss(const QuadraticLoss& loss, std::size_t m, std::size_t d, const std::string& prefix) {
  require_shape(loss.G, m, m, prefix + "G");
  require_shape(loss.C, m, d, prefix + "C");
  require_finite(loss.G.flat(), prefix + "G");
  require_finite(loss.C.flat(), prefix + "C");
  require(std::isfinite(loss.L0), prefix + "L0", "must be finite, got " + std::to_string(loss.L0));
}

// A (d x m) = B Q^T.
Matrix rotate_back(const Matrix& B, const Matrix& Q) {
  const std::size_t d = B.rows(), m = B.cols();
  Matrix A(d, m);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, as_int(d), as_int(m), as_int(m), 1.0, B.data(), as_int(m),
              Q.data(), as_int(m), 0.0, A.data(), as_int(m));
  return A;
}

}  // namespace

GradientFlow::GradientFlow(const QuadraticLoss& train, Matrix A0, GradientFlowOptions options)
    : train_L0_(train.L0), options_(options), A0_(std::move(A0)) {
  // G_n is read here only (its eigendecomposition): not kept, so that the
  // caller can free it (at m = 16384 every m x m matrix is 2 GiB).
  const std::size_t m = train.G.rows();
  require(m > 0, "G", "must be non-empty");
  require(train.C.cols() > 0, "C", "dimension d must be positive");
  const std::size_t d = train.C.cols();
  require_loss(train, m, d, "");
  require(std::isfinite(options_.eigen_floor) && options_.eigen_floor >= 0.0 && options_.eigen_floor < 1.0,
          "eigen_floor", "must be in [0, 1), got " + std::to_string(options_.eigen_floor));
  if (A0_.empty()) A0_ = Matrix(d, m);
  require_shape(A0_, d, m, "A0");
  require_finite(A0_.flat(), "A0");

  eigen_ = symmetric_eigen(train.G);
  const double lambda_max = std::max(0.0, eigen_.values.back());
  // G is a Gram matrix, PSD up to rounding (dsyevd's backward error is about
  // m eps ||G||): clip that noise to 0. A clearly negative eigenvalue means G is
  // not a Gram matrix and the flow would blow up; clipping it would hide that.
  if (eigen_.values.front() < -1e-8 * lambda_max) {
    throw InvalidArgument("G", "is not positive semidefinite (eigenvalue " + std::to_string(eigen_.values.front()) +
                                   " against largest " + std::to_string(lambda_max) + ")");
  }
  const double m2 = static_cast<double>(m) * static_cast<double>(m);
  kappa_.resize(m);
  for (std::size_t j = 0; j < m; ++j) kappa_[j] = std::max(0.0, eigen_.values[j]) / m2;

  const Matrix& Q = eigen_.vectors;
  B0_ = Matrix(d, m);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(d), as_int(m), as_int(m), 1.0, A0_.data(), as_int(m),
              Q.data(), as_int(m), 0.0, B0_.data(), as_int(m));
  // R = (1/m) C^T Q: C is m x d, read transposed.
  R_ = Matrix(d, m);
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_int(d), as_int(m), as_int(m), 1.0 / static_cast<double>(m),
              train.C.data(), as_int(d), Q.data(), as_int(m), 0.0, R_.data(), as_int(m));
}

std::size_t GradientFlow::num_features() const { return kappa_.size(); }
std::size_t GradientFlow::dim() const { return R_.rows(); }
const SymmetricEigen& GradientFlow::eigen() const { return eigen_; }
const std::vector<double>& GradientFlow::rates() const { return kappa_; }

std::pair<double, double> GradientFlow::timescale_range() const {
  const double floor = options_.eigen_floor * kappa_.back();
  // kappa_ is ascending: the first rate above the floor is the slowest direction.
  const auto slowest = std::find_if(kappa_.begin(), kappa_.end(), [&](double k) { return k > floor && k > 0.0; });
  if (slowest == kappa_.end()) {
    throw InvalidArgument("G", "has no eigenvalue above eigen_floor * lambda_max: the flow has no time scale");
  }
  return {1.0 / kappa_.back(), 1.0 / *slowest};
}

Matrix GradientFlow::eigen_weights(double tau) const {
  require_tau(tau);
  const std::size_t d = dim(), m = num_features();
  Matrix B(d, m);
  for (std::size_t j = 0; j < m; ++j) {
    const double z = kappa_[j] * tau;
    const double decay = std::exp(-z), drive = tau * phi1(z);
    for (std::size_t l = 0; l < d; ++l) B(l, j) = decay * B0_(l, j) + drive * R_(l, j);
  }
  return B;
}

Matrix GradientFlow::weights(double tau) const { return rotate_back(eigen_weights(tau), eigen_.vectors); }

double GradientFlow::train_loss(double tau) const {
  const Matrix B = eigen_weights(tau);
  const std::size_t d = dim(), m = num_features();
  double sum = 0.0;
  for (std::size_t l = 0; l < d; ++l) {
    for (std::size_t j = 0; j < m; ++j) sum += B(l, j) * (0.5 * kappa_[j] * B(l, j) - R_(l, j));
  }
  return sum + train_L0_;
}

ProjectedLoss GradientFlow::project(const QuadraticLoss& other) const {
  const std::size_t d = dim(), m = num_features();
  require_loss(other, m, d, "other.");
  const Matrix& Q = eigen_.vectors;
  ProjectedLoss p{Matrix(m, m), Matrix(m, d), other.L0};
  // Q^T (G Q) a block of columns at a time: the work space is m x 1024
  // instead of a third m x m matrix (2 GiB at m = 16384); dgemm is as fast.
  constexpr std::size_t block = 1024;
  Matrix GQ(m, std::min(block, m));
  for (std::size_t c0 = 0; c0 < m; c0 += block) {
    const std::size_t width = std::min(block, m - c0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(m), as_int(width), as_int(m), 1.0, other.G.data(),
                as_int(m), Q.data() + c0, as_int(m), 0.0, GQ.data(), as_int(GQ.cols()));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_int(m), as_int(width), as_int(m), 1.0, Q.data(), as_int(m),
                GQ.data(), as_int(GQ.cols()), 0.0, p.G_tilde.data() + c0, as_int(m));
  }
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_int(m), as_int(d), as_int(m), 1.0, Q.data(), as_int(m),
              other.C.data(), as_int(d), 0.0, p.C_tilde.data(), as_int(d));
  return p;
}

double GradientFlow::loss(const ProjectedLoss& other, double tau) const {
  const std::size_t d = dim(), m = num_features();
  require_shape(other.G_tilde, m, m, "other.G_tilde");
  require_shape(other.C_tilde, m, d, "other.C_tilde");
  const Matrix B = eigen_weights(tau);
  Matrix BG(d, m);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(d), as_int(m), as_int(m), 1.0, B.data(), as_int(m),
              other.G_tilde.data(), as_int(m), 0.0, BG.data(), as_int(m));
  double quadratic = 0.0, linear = 0.0;
  for (std::size_t l = 0; l < d; ++l) {
    for (std::size_t j = 0; j < m; ++j) {
      quadratic += BG(l, j) * B(l, j);
      linear += B(l, j) * other.C_tilde(j, l);
    }
  }
  const double md = static_cast<double>(m);
  return quadratic / (2.0 * md * md) - linear / md + other.L0;
}

std::vector<double> GradientFlow::losses(const ProjectedLoss& other, std::span<const double> taus) const {
  const std::size_t d = dim(), m = num_features();
  require_shape(other.G_tilde, m, m, "other.G_tilde");
  require_shape(other.C_tilde, m, d, "other.C_tilde");
  for (double tau : taus) require_tau(tau);
  // Blocks of 64 taus: 64 d m doubles per stacked B, enough rows for dgemm to
  // reuse each cache-resident panel of G~ instead of streaming it per tau.
  constexpr std::size_t block = 64;
  const double md = static_cast<double>(m);
  std::vector<double> out(taus.size());
  Matrix stacked, product;
  for (std::size_t first = 0; first < taus.size(); first += block) {
    const std::size_t count = std::min(block, taus.size() - first), rows = count * d;
    stacked = Matrix(rows, m);
    product = Matrix(rows, m);
    for (std::size_t k = 0; k < count; ++k) {
      const Matrix B = eigen_weights(taus[first + k]);
      std::copy(B.flat().begin(), B.flat().end(), stacked.data() + k * d * m);
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(rows), as_int(m), as_int(m), 1.0, stacked.data(),
                as_int(m), other.G_tilde.data(), as_int(m), 0.0, product.data(), as_int(m));
    for (std::size_t k = 0; k < count; ++k) {
      double quadratic = 0.0, linear = 0.0;
      for (std::size_t l = 0; l < d; ++l) {
        const std::size_t r = k * d + l;
        for (std::size_t j = 0; j < m; ++j) {
          quadratic += product(r, j) * stacked(r, j);
          linear += stacked(r, j) * other.C_tilde(j, l);
        }
      }
      out[first + k] = quadratic / (2.0 * md * md) - linear / md + other.L0;
    }
  }
  return out;
}

double GradientFlow::distance_from_start(double tau) const {
  // Q is orthogonal, so ||A(tau) - A0||_F = ||B(tau) - B0||_F: O(d m), no rotation.
  const Matrix B = eigen_weights(tau);
  double sum = 0.0;
  for (std::size_t k = 0; k < B.size(); ++k) {
    const double diff = B.flat()[k] - B0_.flat()[k];
    sum += diff * diff;
  }
  return std::sqrt(sum);
}

Matrix GradientFlow::minimum_norm_minimizer() const {
  // A* = m C^T G^+ = m C^T Q Lambda^+ Q^T; with R = C^T Q / m its eigen-
  // coordinates are b*_j = m^2 r_j / lambda_j = r_j / kappa_j above the floor.
  const std::size_t d = dim(), m = num_features();
  const double floor = options_.eigen_floor * kappa_.back();
  Matrix B(d, m);
  for (std::size_t j = 0; j < m; ++j) {
    if (!(kappa_[j] > floor) || kappa_[j] == 0.0) continue;
    for (std::size_t l = 0; l < d; ++l) B(l, j) = R_(l, j) / kappa_[j];
  }
  return rotate_back(B, eigen_.vectors);
}

double GradientFlow::optimality_gap(double tau) const {
  require_tau(tau);
  return sum_over_minimizer_offsets(
      [&](double kappa, double offset) { return 0.5 * kappa * std::exp(-2.0 * kappa * tau) * offset * offset; });
}

double GradientFlow::distance_to_minimizer_squared() const {
  return sum_over_minimizer_offsets([](double, double offset) { return offset * offset; });
}

Matrix GradientFlow::gradient_descent(double eta, std::size_t steps) const {
  require(std::isfinite(eta) && eta > 0.0, "eta", "must be finite and > 0, got " + std::to_string(eta));
  const std::size_t d = dim(), m = num_features();
  if (steps == 0) return A0_;
  const double k = static_cast<double>(steps);
  const bool odd = steps % 2 == 1;
  Matrix B(d, m);
  for (std::size_t j = 0; j < m; ++j) {
    const double kappa = kappa_[j], h = eta * kappa;
    // b(k) = q^k b(0) + g r with q = 1 - eta kappa, g = eta sum_{i<k} q^i = (1 - q^k) / kappa.
    // q^k and 1 - q^k through exp/expm1 of k log|q|, so neither cancels when
    // eta kappa is tiny (q^k ~ 1) or k is large.
    double power, geometric;
    if (kappa == 0.0) {
      power = 1.0;
      geometric = k * eta;
    } else if (h < 1.0) {
      const double log_power = k * std::log1p(-h);
      power = std::exp(log_power);
      geometric = -std::expm1(log_power) / kappa;
    } else if (h == 1.0) {
      power = 0.0;
      geometric = 1.0 / kappa;
    } else {
      // eta kappa > 1: q < 0 oscillates; for eta kappa > 2 it diverges (the
      // caller's choice of step; the closed form still gives GD's iterates).
      const double log_power = k * std::log(h - 1.0);
      power = odd ? -std::exp(log_power) : std::exp(log_power);
      geometric = odd ? (1.0 + std::exp(log_power)) / kappa : -std::expm1(log_power) / kappa;
    }
    for (std::size_t l = 0; l < d; ++l) B(l, j) = power * B0_(l, j) + geometric * R_(l, j);
  }
  return rotate_back(B, eigen_.vectors);
}

std::vector<double> log_spaced(double lo, double hi, std::size_t n) {
  require(n >= 2, "n", "must be >= 2, got " + std::to_string(n));
  require(std::isfinite(lo) && lo > 0.0, "lo", "must be finite and > 0, got " + std::to_string(lo));
  require(std::isfinite(hi) && hi > lo, "hi", "must be finite and > lo, got " + std::to_string(hi));
  std::vector<double> out(n);
  const double log_lo = std::log(lo), step = (std::log(hi) - log_lo) / static_cast<double>(n - 1);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::exp(log_lo + step * static_cast<double>(i));
  // Exact endpoints: callers compare against lo and hi.
  out.front() = lo;
  out.back() = hi;
  return out;
}

}  // namespace gengap
