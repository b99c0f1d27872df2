#include "gengap/kernels/gaussian_mixture.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {

namespace {

// Points per TBB task: one point costs O(K d^2) flops plus K exp() calls
// (~50 ns for d <= 2, K = 2), so 1024 points amortise the task overhead
// (~1 us) below a few percent while still splitting 10^4 points over cores.
constexpr std::size_t grain_points = 1024;
// Dimensions up to this use stack scratch space in the per-point kernel.
constexpr std::size_t stack_dim = 16;

std::string index_text(std::size_t k) { return std::to_string(k); }

// Lower Cholesky factor of the symmetric d x d matrix S (only its lower
// triangle is read). A pivot that is not clearly positive relative to its
// diagonal entry means S is not (numerically) positive definite.
bool cholesky_lower(const Matrix& S, Matrix& L) {
  const std::size_t d = S.rows();
  L = Matrix(d, d, 0.0);
  for (std::size_t j = 0; j < d; ++j) {
    double pivot = S(j, j);
    for (std::size_t p = 0; p < j; ++p) pivot -= L(j, p) * L(j, p);
    const double floor = static_cast<double>(d) * std::numeric_limits<double>::epsilon() * std::abs(S(j, j));
    if (!(pivot > floor) || !std::isfinite(pivot)) return false;
    const double ljj = std::sqrt(pivot);
    L(j, j) = ljj;
    for (std::size_t i = j + 1; i < d; ++i) {
      double v = S(i, j);
      for (std::size_t p = 0; p < j; ++p) v -= L(i, p) * L(j, p);
      L(i, j) = v / ljj;
    }
  }
  return true;
}

std::vector<double> normalised_positive_weights(std::vector<double> weights) {
  require(!weights.empty(), "weights", "need at least one component");
  double total = 0.0;
  for (std::size_t k = 0; k < weights.size(); ++k) {
    const double w = weights[k];
    if (!(w > 0.0) || !std::isfinite(w)) {
      throw InvalidArgument("weights", "entry " + index_text(k) + " must be positive and finite, got " +
                                           std::to_string(w));
    }
    total += w;
  }
  require(std::isfinite(total), "weights", "sum overflows");
  for (double& w : weights) w /= total;
  return weights;
}

void require_means(const Matrix& means, std::size_t K) {
  require(means.rows() == K, "means",
          "expected " + index_text(K) + " rows (one per weight), got " + index_text(means.rows()));
  require(means.cols() >= 1, "means", "dimension must be at least 1");
  require_finite(means.flat(), "means");
}

}  // namespace

// ------------------------------------------------------------------ construction

GaussianMixture::GaussianMixture(std::vector<double> weights, Matrix means, std::vector<Matrix> covariances) {
  weights_ = normalised_positive_weights(std::move(weights));
  const std::size_t K = weights_.size();
  require_means(means, K);
  const std::size_t d = means.cols();
  require(covariances.size() == K, "covariances",
          "expected " + index_text(K) + " matrices (one per weight), got " + index_text(covariances.size()));
  means_ = std::move(means);
  cholesky_.resize(K);
  for (std::size_t k = 0; k < K; ++k) {
    const Matrix& S = covariances[k];
    require_shape(S, d, d, "covariances");
    require_finite(S.flat(), "covariances");
    for (std::size_t i = 0; i < d; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        // Relative tolerance: covariances computed as products (e.g. A A^T) are
        // symmetric only to rounding.
        const double scale = std::max({std::abs(S(i, j)), std::abs(S(j, i)), std::sqrt(std::abs(S(i, i) * S(j, j)))});
        if (std::abs(S(i, j) - S(j, i)) > 1e-10 * scale) {
          throw InvalidArgument("covariances", "component " + index_text(k) + " is not symmetric");
        }
      }
    }
    if (!cholesky_lower(S, cholesky_[k])) {
      throw InvalidArgument("covariances", "component " + index_text(k) + " is not positive definite");
    }
  }
  diagonal_ = false;
  finish_setup();
}

GaussianMixture GaussianMixture::diagonal(std::vector<double> weights, Matrix means, Matrix variances) {
  GaussianMixture g;
  g.weights_ = normalised_positive_weights(std::move(weights));
  const std::size_t K = g.weights_.size();
  require_means(means, K);
  const std::size_t d = means.cols();
  require_shape(variances, K, d, "variances");
  g.cholesky_.resize(K);
  for (std::size_t k = 0; k < K; ++k) {
    g.cholesky_[k] = Matrix(d, d, 0.0);
    for (std::size_t j = 0; j < d; ++j) {
      const double v = variances(k, j);
      if (!(v > 0.0) || !std::isfinite(v)) {
        throw InvalidArgument("variances", "component " + index_text(k) + " entry " + index_text(j) +
                                               " must be positive and finite, got " + std::to_string(v));
      }
      g.cholesky_[k](j, j) = std::sqrt(v);
    }
  }
  g.means_ = std::move(means);
  g.diagonal_ = true;
  g.finish_setup();
  return g;
}

GaussianMixture GaussianMixture::two_modes(double mu, double variance) {
  require(std::isfinite(mu), "mu", "must be finite, got " + std::to_string(mu));
  require(variance > 0.0 && std::isfinite(variance), "variance",
          "must be positive and finite, got " + std::to_string(variance));
  return diagonal({0.5, 0.5}, Matrix(2, 1, std::vector<double>{-mu, mu}), Matrix(2, 1, variance));
}

void GaussianMixture::finish_setup() {
  const std::size_t K = weights_.size();
  const std::size_t d = means_.cols();
  log_norm_.assign(K, 0.0);
  inverse_diagonal_ = Matrix(K, d);
  const double half_d_log_2pi = 0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi);
  for (std::size_t k = 0; k < K; ++k) {
    // log det(2 pi S_k) / 2 = d/2 log(2 pi) + sum_i log L_ii.
    double log_det_half = 0.0;
    for (std::size_t i = 0; i < d; ++i) {
      log_det_half += std::log(cholesky_[k](i, i));
      inverse_diagonal_(k, i) = 1.0 / cholesky_[k](i, i);
    }
    log_norm_[k] = std::log(weights_[k]) - half_d_log_2pi - log_det_half;
  }
  // Eigendecompositions for diffused_evaluate (S_k = Q_k diag(lambda_k) Q_k^T).
  eigenvalues_ = Matrix(K, d);
  eigenvectors_.clear();
  if (diagonal_) {
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t i = 0; i < d; ++i) eigenvalues_(k, i) = cholesky_[k](i, i) * cholesky_[k](i, i);
    return;
  }
  eigenvectors_.reserve(K);
  for (std::size_t k = 0; k < K; ++k) {
    Matrix Q = covariance(k);
    const lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'L', static_cast<lapack_int>(d), Q.data(),
                                          static_cast<lapack_int>(d), eigenvalues_.data() + k * d);
    if (info != 0) {
      throw NumericalError("GaussianMixture: LAPACKE_dsyev failed on component " + index_text(k) +
                           " (info = " + std::to_string(info) + ")");
    }
    // The Cholesky factor exists, so S_k is positive definite; rounding can
    // still leave a tiny eigenvalue at or below 0 for an ill-conditioned S_k.
    for (std::size_t i = 0; i < d; ++i) {
      double& lambda = eigenvalues_(k, i);
      if (!(lambda > 0.0)) {
        throw InvalidArgument("covariances", "component " + index_text(k) +
                                                 " is numerically singular (eigenvalue " + std::to_string(lambda) + ")");
      }
    }
    eigenvectors_.push_back(std::move(Q));
  }
}

// ------------------------------------------------------------------ accessors

std::size_t GaussianMixture::dim() const { return means_.cols(); }
std::size_t GaussianMixture::components() const { return weights_.size(); }
const std::vector<double>& GaussianMixture::weights() const { return weights_; }
const Matrix& GaussianMixture::means() const { return means_; }
bool GaussianMixture::is_diagonal() const { return diagonal_; }

Matrix GaussianMixture::covariance(std::size_t k) const {
  require(k < components(), "k", "component index " + index_text(k) + " out of range (" +
                                     index_text(components()) + " components)");
  const std::size_t d = dim();
  const Matrix& L = cholesky_[k];
  Matrix S(d, d);
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t j = 0; j <= i; ++j) {
      double v = 0.0;
      for (std::size_t p = 0; p <= j; ++p) v += L(i, p) * L(j, p);
      S(i, j) = v;
      S(j, i) = v;
    }
  }
  return S;
}

// ------------------------------------------------------------------ sampling

Matrix GaussianMixture::sample(std::size_t n, std::uint64_t seed, std::uint64_t stream) const {
  const std::size_t d = dim(), K = components();
  Matrix X(n, d);
  // Component and noise both come from the caller's stream (uniform and normal
  // draws use distinct Philox counters), so sets drawn from different streams
  // (training vs test data) are independent, components included.
  const CounterRng noise(seed, stream);
  std::vector<double> cumulative(K);
  double running = 0.0;
  for (std::size_t k = 0; k < K; ++k) cumulative[k] = (running += weights_[k]);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain_points), [&](const tbb::blocked_range<std::size_t>& r) {
    double stack[stack_dim];
    std::vector<double> heap(d > stack_dim ? d : 0);
    double* eps = d > stack_dim ? heap.data() : stack;
    for (std::size_t i = r.begin(); i != r.end(); ++i) {
      // Inverse-CDF choice on the cumulative weights; the last component
      // absorbs the rounding of the cumulative sum (it may end below 1).
      const double u = noise.uniform(i);
      std::size_t k = 0;
      while (k + 1 < K && u >= cumulative[k]) ++k;
      for (std::size_t j = 0; j < d; ++j) eps[j] = noise.normal(i * d + j);
      const Matrix& L = cholesky_[k];
      double* x = X.data() + i * d;
      for (std::size_t a = 0; a < d; ++a) {
        double v = means_(k, a);
        if (diagonal_) {
          v += L(a, a) * eps[a];
        } else {
          for (std::size_t b = 0; b <= a; ++b) v += L(a, b) * eps[b];
        }
        x[a] = v;
      }
    }
  });
  return X;
}

// ------------------------------------------------------------------ density and score

namespace {

// One point's log p(x) and (when WithScore) grad log p(x), by a single pass
// over the components with an online log-sum-exp: the running maximum M of
// l_k = log pi_k + log N_k(x) and s = sum_k exp(l_k - M) are rescaled when a
// larger l_k arrives, so no responsibility underflows to 0/0 however far x is
// from every mean. The score is -sum_k r_k S_k^{-1}(x - m_k), accumulated with
// the same scaling. Scratch: z, u, acc, each of length d.
struct PointKernel {
  std::size_t d;
  std::size_t K;
  bool diagonal;
  const double* means;      // K x d
  const Matrix* cholesky;   // K lower factors
  const double* inv_diag;   // K x d, 1 / L_k(i, i)
  const double* log_norm;   // K

  template <bool WithScore>
  double evaluate(const double* x, double* z, double* u, double* acc, double* score_out) const {
    double M = 0.0;
    double s = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
      const double* m = means + k * d;
      const double* L = cholesky[k].data();
      const double* inv = inv_diag + k * d;
      // z = L^{-1} (x - m) by forward substitution; q = |z|^2.
      double q = 0.0;
      for (std::size_t i = 0; i < d; ++i) {
        double v = x[i] - m[i];
        if (!diagonal) {
          for (std::size_t p = 0; p < i; ++p) v -= L[i * d + p] * z[p];
        }
        v *= inv[i];
        z[i] = v;
        q += v * v;
      }
      const double l = log_norm[k] - 0.5 * q;
      if constexpr (WithScore) {
        // u = S^{-1}(x - m) = L^{-T} z by back substitution.
        for (std::size_t i = d; i-- > 0;) {
          double v = z[i];
          if (!diagonal) {
            for (std::size_t p = i + 1; p < d; ++p) v -= L[p * d + i] * u[p];
          }
          u[i] = v * inv[i];
        }
      }
      if (k == 0) {
        M = l;
        s = 1.0;
        if constexpr (WithScore) {
          for (std::size_t j = 0; j < d; ++j) acc[j] = u[j];
        }
      } else if (l > M) {
        const double scale = std::exp(M - l);
        s = s * scale + 1.0;
        if constexpr (WithScore) {
          for (std::size_t j = 0; j < d; ++j) acc[j] = acc[j] * scale + u[j];
        }
        M = l;
      } else {
        const double e = std::exp(l - M);
        s += e;
        if constexpr (WithScore) {
          for (std::size_t j = 0; j < d; ++j) acc[j] += e * u[j];
        }
      }
    }
    if constexpr (WithScore) {
      const double inv_s = 1.0 / s;
      for (std::size_t j = 0; j < d; ++j) score_out[j] = -acc[j] * inv_s;
      return 0.0;  // the log is a third of the cost: skip it when only the score is wanted
    } else {
      return M + std::log(s);
    }
  }
};

template <bool WithScore>
void evaluate_all(const PointKernel& kernel, MatrixView X, double* log_out, double* score_out) {
  const std::size_t d = kernel.d;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, X.rows, grain_points),
                    [&](const tbb::blocked_range<std::size_t>& r) {
                      // Per-task scratch: on the stack for small d, one heap
                      // block per task (never per point) otherwise.
                      double stack[3 * stack_dim];
                      std::vector<double> heap(d > stack_dim ? 3 * d : 0);
                      double* z = d > stack_dim ? heap.data() : stack;
                      double* u = z + d;
                      double* acc = u + d;
                      for (std::size_t i = r.begin(); i != r.end(); ++i) {
                        const double lp = kernel.evaluate<WithScore>(X.row(i), z, u, acc,
                                                                     WithScore ? score_out + i * d : nullptr);
                        if constexpr (!WithScore) log_out[i] = lp;
                      }
                    });
}

}  // namespace

void GaussianMixture::log_density(MatrixView X, std::span<double> out) const {
  require(X.cols == dim(), "X", "expected " + index_text(dim()) + " columns, got " + index_text(X.cols));
  require(out.size() == X.rows, "out", "expected " + index_text(X.rows) + " entries, got " + index_text(out.size()));
  require_finite(X.flat(), "X");
  const PointKernel kernel{dim(), components(), diagonal_, means_.data(), cholesky_.data(),
                           inverse_diagonal_.data(), log_norm_.data()};
  evaluate_all<false>(kernel, X, out.data(), nullptr);
}

void GaussianMixture::score(MatrixView X, std::span<double> out) const {
  require(X.cols == dim(), "X", "expected " + index_text(dim()) + " columns, got " + index_text(X.cols));
  require(out.size() == X.rows * X.cols, "out",
          "expected " + index_text(X.rows * X.cols) + " entries, got " + index_text(out.size()));
  require_finite(X.flat(), "X");
  const PointKernel kernel{dim(), components(), diagonal_, means_.data(), cholesky_.data(),
                           inverse_diagonal_.data(), log_norm_.data()};
  evaluate_all<true>(kernel, X, nullptr, out.data());
}

std::vector<double> GaussianMixture::log_density(MatrixView X) const {
  std::vector<double> out(X.rows);
  log_density(X, out);
  return out;
}

Matrix GaussianMixture::score(MatrixView X) const {
  Matrix out(X.rows, dim());
  score(X, out.flat());
  return out;
}

// ------------------------------------------------------------------ diffused score and divergence

namespace {

// One row under C_k = mu^2 S_k + sigma^2 I, in each component's eigenbasis:
// z = Q^T (x - mu m), c_j = mu^2 lambda_j + sigma^2, u = Q (z / c). Online
// log-sum-exp over components as in PointKernel, accumulating
// sum r_k u_k and sum r_k (|u_k|^2 - tr C_k^{-1}). Scratch: 3 d doubles.
struct DiffusedKernel {
  std::size_t d;
  std::size_t K;
  bool diagonal;
  const double* means;            // K x d
  const double* eigenvalues;      // K x d
  const Matrix* eigenvectors;     // K (unused when diagonal)
  const double* log_weights;      // K
  double half_d_log_2pi;

  // Returns log p; writes score[d] and *divergence when asked (non-null).
  // No inlining or cloning (noipa): one compiled body for every combination
  // of requested outputs, so the compiler's floating-point contraction
  // choices cannot make the divergence depend on whether the score was asked for.
  [[gnu::noipa]] double evaluate(const double* x, double mu, double sigma, double* scratch, double* score, double* divergence) const {
    double* z = scratch;
    double* u = z + d;
    double* acc = u + d;
    const double mu2 = mu * mu, s2 = sigma * sigma;
    double M = 0.0, s = 0.0, acc_div = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
      const double* m = means + k * d;
      const double* lambda = eigenvalues + k * d;
      if (diagonal) {
        for (std::size_t j = 0; j < d; ++j) z[j] = x[j] - mu * m[j];
      } else {
        const double* Q = eigenvectors[k].data();  // row-major, column j is eigenvector j
        for (std::size_t j = 0; j < d; ++j) u[j] = x[j] - mu * m[j];
        for (std::size_t j = 0; j < d; ++j) {
          double v = 0.0;
          for (std::size_t a = 0; a < d; ++a) v += Q[a * d + j] * u[a];
          z[j] = v;
        }
      }
      double q = 0.0, log_det = 0.0, u2 = 0.0, trace = 0.0;
      for (std::size_t j = 0; j < d; ++j) {
        const double c = mu2 * lambda[j] + s2;
        const double inv = 1.0 / c;
        const double w = z[j] * inv;  // u in the eigenbasis
        q += z[j] * w;
        u2 += w * w;
        trace += inv;
        log_det += std::log(c);
        z[j] = w;
      }
      if (diagonal) {
        for (std::size_t j = 0; j < d; ++j) u[j] = z[j];
      } else {
        const double* Q = eigenvectors[k].data();
        for (std::size_t a = 0; a < d; ++a) {
          double v = 0.0;
          for (std::size_t j = 0; j < d; ++j) v += Q[a * d + j] * z[j];
          u[a] = v;
        }
      }
      const double l = log_weights[k] - half_d_log_2pi - 0.5 * log_det - 0.5 * q;
      const double local_div = u2 - trace;
      if (k == 0) {
        M = l;
        s = 1.0;
        acc_div = local_div;
        for (std::size_t j = 0; j < d; ++j) acc[j] = u[j];
      } else if (l > M) {
        const double scale = std::exp(M - l);
        s = s * scale + 1.0;
        acc_div = acc_div * scale + local_div;
        for (std::size_t j = 0; j < d; ++j) acc[j] = acc[j] * scale + u[j];
        M = l;
      } else {
        const double e = std::exp(l - M);
        s += e;
        acc_div += e * local_div;
        for (std::size_t j = 0; j < d; ++j) acc[j] += e * u[j];
      }
    }
    // The score lands in acc first and is copied out after: no store
    // conditional on the output inside the arithmetic (loop unswitching could
    // otherwise compile the two variants with different fma contraction).
    const double inv_s = 1.0 / s;
    for (std::size_t j = 0; j < d; ++j) acc[j] = -acc[j] * inv_s;
    double s_norm2 = 0.0;
    for (std::size_t j = 0; j < d; ++j) s_norm2 = std::fma(acc[j], acc[j], s_norm2);
    if (score != nullptr) std::copy_n(acc, d, score);
    if (divergence != nullptr) *divergence = acc_div * inv_s - s_norm2;
    return M + std::log(s);
  }
};

}  // namespace

void GaussianMixture::diffused_evaluate(std::span<const double> mu_t, std::span<const double> sigma_t, MatrixView X,
                                        std::span<double> log_density, std::span<double> score,
                                        std::span<double> divergence) const {
  const std::size_t N = X.rows, d = dim(), K = components();
  require(X.cols == d, "X", "expected " + index_text(d) + " columns, got " + index_text(X.cols));
  require(mu_t.size() == N, "mu_t", "expected " + index_text(N) + " entries, got " + index_text(mu_t.size()));
  require(sigma_t.size() == N, "sigma_t", "expected " + index_text(N) + " entries, got " + index_text(sigma_t.size()));
  require(log_density.empty() || log_density.size() == N, "log_density",
          "expected 0 or " + index_text(N) + " entries, got " + index_text(log_density.size()));
  require(score.empty() || score.size() == N * d, "score",
          "expected 0 or " + index_text(N * d) + " entries, got " + index_text(score.size()));
  require(divergence.empty() || divergence.size() == N, "divergence",
          "expected 0 or " + index_text(N) + " entries, got " + index_text(divergence.size()));
  require_finite(X.flat(), "X");
  for (std::size_t i = 0; i < N; ++i) {
    const double mu = mu_t[i], sigma = sigma_t[i];
    if (!(std::isfinite(mu) && mu >= 0.0)) {
      throw InvalidArgument("mu_t", "entry " + index_text(i) + " must be finite and non-negative, got " +
                                        std::to_string(mu));
    }
    if (!(std::isfinite(sigma) && sigma >= 0.0)) {
      throw InvalidArgument("sigma_t", "entry " + index_text(i) + " must be finite and non-negative, got " +
                                           std::to_string(sigma));
    }
    require(mu > 0.0 || sigma > 0.0, "sigma_t", "entry " + index_text(i) + ": mu_t and sigma_t cannot both be zero");
  }
  std::vector<double> log_weights(K);
  for (std::size_t k = 0; k < K; ++k) log_weights[k] = std::log(weights_[k]);
  const DiffusedKernel kernel{d,
                              K,
                              diagonal_,
                              means_.data(),
                              eigenvalues_.data(),
                              eigenvectors_.data(),
                              log_weights.data(),
                              0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi)};
  const auto body = [&](std::size_t begin, std::size_t end) {
    double stack[3 * stack_dim];
    std::vector<double> heap(d > stack_dim ? 3 * d : 0);
    double* scratch = d > stack_dim ? heap.data() : stack;
    for (std::size_t i = begin; i != end; ++i) {
      const double lp = kernel.evaluate(X.row(i), mu_t[i], sigma_t[i], scratch,
                                        score.empty() ? nullptr : score.data() + i * d,
                                        divergence.empty() ? nullptr : divergence.data() + i);
      if (!log_density.empty()) log_density[i] = lp;
    }
  };
  // Small batches (the ODE driver's chunks) stay on the caller's thread: no
  // task is spawned from inside the caller's own TBB task.
  if (N <= grain_points) {
    body(0, N);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, N, grain_points),
                    [&](const tbb::blocked_range<std::size_t>& r) { body(r.begin(), r.end()); });
}

void GaussianMixture::score_divergence(MatrixView X, std::span<double> divergence) const {
  require(divergence.size() == X.rows, "divergence",
          "expected " + index_text(X.rows) + " entries, got " + index_text(divergence.size()));
  const std::vector<double> mu(X.rows, 1.0), sigma(X.rows, 0.0);
  diffused_evaluate(mu, sigma, X, {}, {}, divergence);
}

// ------------------------------------------------------------------ forward process

GaussianMixture GaussianMixture::diffused(double mu_t, double sigma_t) const {
  require(std::isfinite(mu_t) && mu_t >= 0.0, "mu_t", "must be finite and non-negative, got " + std::to_string(mu_t));
  require(std::isfinite(sigma_t) && sigma_t >= 0.0, "sigma_t",
          "must be finite and non-negative, got " + std::to_string(sigma_t));
  require(mu_t > 0.0 || sigma_t > 0.0, "sigma_t", "mu_t and sigma_t cannot both be zero (degenerate distribution)");
  const std::size_t d = dim(), K = components();
  Matrix means(K, d);
  for (std::size_t i = 0; i < means.size(); ++i) means.data()[i] = mu_t * means_.data()[i];
  const double mu2 = mu_t * mu_t, s2 = sigma_t * sigma_t;
  if (diagonal_) {
    Matrix variances(K, d);
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t j = 0; j < d; ++j) {
        const double l = cholesky_[k](j, j);
        variances(k, j) = mu2 * l * l + s2;
      }
    }
    return diagonal(weights_, std::move(means), std::move(variances));
  }
  std::vector<Matrix> covariances;
  covariances.reserve(K);
  for (std::size_t k = 0; k < K; ++k) {
    Matrix S = covariance(k);
    for (std::size_t i = 0; i < d; ++i) {
      for (std::size_t j = 0; j < d; ++j) S(i, j) *= mu2;
      S(i, i) += s2;
    }
    covariances.push_back(std::move(S));
  }
  return GaussianMixture(weights_, std::move(means), std::move(covariances));
}

}  // namespace gengap
