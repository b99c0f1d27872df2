#include "gengap/solvers/dsm_design.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "gengap/kernels/error.hpp"
#include "gengap/solvers/quadrature.hpp"

namespace gengap {

void DesignTile::resize(std::size_t rows, std::size_t d) {
  // Matrix has no reshape that keeps its buffer, but every tile of a sweep
  // except possibly the last has the same shape: reallocate only on change.
  if (x.rows() != rows || x.cols() != d) x = Matrix(rows, d);
  if (y.rows() != rows || y.cols() != d) y = Matrix(rows, d);
  t.resize(rows);
  weight.resize(rows);
  loss0.resize(rows);
}

namespace {

constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();

// a * b, or InvalidArgument(field) if the product does not fit in size_t.
std::size_t checked_product(std::size_t a, std::size_t b, std::string_view field) {
  require(a == 0 || b <= size_max / a, field, "number of design points overflows size_t");
  return a * b;
}

std::size_t checked_power(std::size_t base, std::size_t exponent, std::string_view field) {
  std::size_t result = 1;
  for (std::size_t k = 0; k < exponent; ++k) result = checked_product(result, base, field);
  return result;
}

void require_data(MatrixView data) {
  require(data.data != nullptr && data.rows > 0, "data", "training set is empty");
  require(data.cols > 0, "data", "dimension d must be positive, got 0");
  require_finite(data.flat(), "data");
}

// Lower Cholesky factor of a small symmetric positive definite d x d matrix
// (row-major). d is at most a handful here: a textbook loop beats a LAPACK call.
Matrix small_cholesky(const Matrix& S, std::string_view field) {
  const std::size_t d = S.rows();
  Matrix L(d, d);
  for (std::size_t j = 0; j < d; ++j) {
    double diagonal = S(j, j);
    for (std::size_t k = 0; k < j; ++k) diagonal -= L(j, k) * L(j, k);
    require(diagonal > 0.0 && std::isfinite(diagonal), field, "covariance is not positive definite");
    L(j, j) = std::sqrt(diagonal);
    for (std::size_t i = j + 1; i < d; ++i) {
      double v = S(i, j);
      for (std::size_t k = 0; k < j; ++k) v -= L(i, k) * L(j, k);
      L(i, j) = v / L(j, j);
    }
  }
  return L;
}

// Per-time quantities of the loss at one time t.
struct TimePoint {
  double t = 0.0;
  double mu = 0.0;      // mu_t
  double sigma = 0.0;   // sigma_t
  double c = 0.0;       // c(t)
  double w = 0.0;       // lambda(t) c(t)^2
  double skip = 0.0;    // k(t)
};

TimePoint time_point(const DsmSetup& setup, double t) {
  const Schedule& s = setup.schedule;
  return {t, s.mean_scale(t), s.std_dev(t), setup.c(t), setup.gram_weight(t), setup.skip(t)};
}

// L_0 of one data point (DsmSetup::loss_constant), its time integral computed
// once: the same for every point with noise targets, proportional to |x_0|^2
// for the denoiser's targets y = x_0.
struct LossConstant {
  LossConstant(const DsmSetup& setup, std::size_t d)
      : regresses_data(setup.regresses_data()),
        value(regresses_data ? setup.loss_constant(d, 1.0) : setup.loss_constant(d)) {}
  double of(const double* x0, std::size_t d) const { return regresses_data ? value * squared_norm(x0, d) : value; }
  static double squared_norm(const double* x, std::size_t d) {
    double s = 0.0;
    for (std::size_t j = 0; j < d; ++j) s += x[j] * x[j];
    return s;
  }
  bool regresses_data;
  double value;  // noise targets: L_0; denoiser: L_0 per unit |x_0|^2
};

// Writes point `row` of the tile given (x_0, t, eps): x_t = mu x_0 + sigma eps,
// y = -(eps/sigma + k x_t)/c (-eps/(sigma c) for noise targets, x_0 itself for
// the denoiser: written as x_0, not through the formula), weight = q w
// (docs/math.md §4, §5), and loss0 = q L_0 with L_0 = DsmSetup::loss_constant
// (d/2 E_t[lambda/sigma^2], or |x_0|^2/2 E_t[w]): the A-independent constant
// is integrated over t and eps exactly instead of being estimated from the
// same draws, so neither its Monte Carlo noise (1e-3 for n K = 2.5e5 under
// sigma2, 0.04 under likelihood weighting) nor a quadrature error on its 1/t
// singularity shifts the loss curves or the generalization gap. G and C, hence
// the minimiser and the dynamics, are unchanged.
void write_point(const TimePoint& tp, double q, const LossConstant& loss_constant, const double* x0,
                 const double* eps, std::size_t d, std::size_t row, DesignTile& tile) {
  double* x = tile.x.data() + row * d;
  double* y = tile.y.data() + row * d;
  const double y_scale = -1.0 / (tp.sigma * tp.c);
  for (std::size_t j = 0; j < d; ++j) {
    x[j] = tp.mu * x0[j] + tp.sigma * eps[j];
    y[j] = loss_constant.regresses_data ? x0[j] : y_scale * eps[j];
  }
  tile.t[row] = tp.t;
  tile.weight[row] = q * tp.w;
  tile.loss0[row] = q * loss_constant.of(x0, d);
}

void require_range(std::size_t begin, std::size_t end, std::size_t size) {
  if (begin <= end && end <= size) return;
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::string problem = std::to_string(begin);
  problem += " .. ";
  problem += std::to_string(end);
  problem += " outside the ";
  problem += std::to_string(size);
  problem += " design points";
  throw InvalidArgument("range", problem);
}

// Gauss-Legendre in t on [t_min, T] as a probability rule for t ~ U[t_min, T].
struct TimeRule {
  std::vector<TimePoint> points;
  std::vector<double> mass;  // GL weight / (T - t_min)
};

TimeRule time_rule(const DsmSetup& setup, std::size_t nodes) {
  const Schedule& s = setup.schedule;
  const QuadratureRule rule = gauss_legendre(nodes, s.t_min, s.T);
  TimeRule out;
  for (std::size_t a = 0; a < nodes; ++a) {
    out.points.push_back(time_point(setup, rule.nodes[a]));
    out.mass.push_back(rule.weights[a] / (s.T - s.t_min));
  }
  return out;
}

// ---------------------------------------------------------------- empirical MC
class EmpiricalMonteCarlo final : public DesignPoints {
 public:
  EmpiricalMonteCarlo(MatrixView data, std::size_t draws, const DsmSetup& setup, std::uint64_t seed,
                      std::uint64_t time_stream, std::uint64_t noise_stream)
      : data_(data.rows, data.cols, std::vector<double>(data.data, data.data + data.rows * data.cols)),
        draws_(draws),
        setup_(setup),
        size_(checked_product(data.rows, draws, "draws_per_sample")),
        time_rng_(seed, time_stream),
        noise_rng_(seed, noise_stream),
        loss_constant_(setup, data.cols) {}

  std::size_t size() const override { return size_; }
  std::size_t dim() const override { return data_.cols(); }

  void fill(std::size_t begin, std::size_t end, DesignTile& tile) const override {
    require_range(begin, end, size_);
    const std::size_t d = dim();
    tile.resize(end - begin, d);
    const Schedule& s = setup_.schedule;
    const double q = 1.0 / static_cast<double>(size_);
    std::vector<double> e(d);
    for (std::size_t p = begin; p < end; ++p) {
      const std::size_t i = p / draws_;
      const double t = s.t_min + (s.T - s.t_min) * time_rng_.uniform(p);
      for (std::size_t j = 0; j < d; ++j) e[j] = noise_rng_.normal(p * d + j);
      write_point(time_point(setup_, t), q, loss_constant_, data_.data() + i * d, e.data(), d, p - begin, tile);
    }
  }

 private:
  Matrix data_;
  std::size_t draws_;
  DsmSetup setup_;
  std::size_t size_;
  CounterRng time_rng_;
  CounterRng noise_rng_;
  LossConstant loss_constant_;
};

// -------------------------------------------------------- empirical quadrature
class EmpiricalQuadrature final : public DesignPoints {
 public:
  EmpiricalQuadrature(MatrixView data, std::size_t time_nodes, std::size_t noise_nodes, const DsmSetup& setup)
      : data_(data.rows, data.cols, std::vector<double>(data.data, data.data + data.rows * data.cols)),
        time_(time_rule(setup, time_nodes)),
        noise_(gauss_hermite_normal(noise_nodes)),
        noise_points_(checked_power(noise_nodes, data.cols, "noise_nodes")),
        size_(checked_product(checked_product(data.rows, time_nodes, "time_nodes"), noise_points_, "noise_nodes")),
        loss_constant_(setup, data.cols) {}

  std::size_t size() const override { return size_; }
  std::size_t dim() const override { return data_.cols(); }

  // p = (i * time_nodes + a) * H^d + l, with l the base-H digits of the noise
  // node per coordinate (coordinate 0 most significant).
  void fill(std::size_t begin, std::size_t end, DesignTile& tile) const override {
    require_range(begin, end, size_);
    const std::size_t d = dim(), H = noise_.nodes.size(), A = time_.points.size();
    tile.resize(end - begin, d);
    const double inv_n = 1.0 / static_cast<double>(data_.rows());
    std::vector<double> eps(d);
    for (std::size_t p = begin; p < end; ++p) {
      std::size_t l = p % noise_points_;
      const std::size_t ia = p / noise_points_;
      const std::size_t a = ia % A, i = ia / A;
      double mass = inv_n * time_.mass[a];
      for (std::size_t j = d; j-- > 0;) {
        const std::size_t digit = l % H;
        l /= H;
        eps[j] = noise_.nodes[digit];
        mass *= noise_.weights[digit];
      }
      write_point(time_.points[a], mass, loss_constant_, data_.data() + i * d, eps.data(), d, p - begin, tile);
    }
  }

 private:
  Matrix data_;
  TimeRule time_;
  QuadratureRule noise_;
  std::size_t noise_points_;
  std::size_t size_;
  LossConstant loss_constant_;
};

// Mixture weights pi_k normalised here too, so the design does not depend on
// whether the mixture already normalised them.
std::vector<double> normalised_weights(const GaussianMixture& target) {
  std::vector<double> pi = target.weights();
  const double total = std::accumulate(pi.begin(), pi.end(), 0.0);
  require(total > 0.0 && std::isfinite(total), "target", "mixture weights must sum to a positive finite value");
  for (double& v : pi) v /= total;
  return pi;
}

// ------------------------------------------------------ population quadrature
class PopulationQuadrature final : public DesignPoints {
 public:
  PopulationQuadrature(const GaussianMixture& target, std::size_t time_nodes, std::size_t space_nodes,
                       const DsmSetup& setup)
      : d_(target.dim()),
        pi_(normalised_weights(target)),
        means_(target.means()),
        time_(time_rule(setup, time_nodes)),
        space_(gauss_hermite_normal(space_nodes)),
        space_points_(checked_power(space_nodes, d_, "space_nodes")),
        size_(checked_product(checked_product(time_nodes, pi_.size(), "time_nodes"), space_points_, "space_nodes")),
        loss_constant_(setup, d_) {
    const std::size_t K = pi_.size();
    // L_0 per component: E|x_0|^2 = |m_k|^2 + tr S_k under the denoiser's targets.
    for (std::size_t k = 0; k < K; ++k) {
      double second_moment = LossConstant::squared_norm(means_.row(k).data(), d_);
      const Matrix S = target.covariance(k);
      for (std::size_t i = 0; i < d_; ++i) second_moment += S(i, i);
      component_loss_constant_.push_back(loss_constant_.regresses_data ? loss_constant_.value * second_moment
                                                                       : loss_constant_.value);
    }
    for (const TimePoint& tp : time_.points) {
      diffused_.push_back(target.diffused(tp.mu, tp.sigma));
      // Component k of p_t is N(mu m_k, mu^2 S_k + sigma^2 I): x = mu m_k + L xi.
      for (std::size_t k = 0; k < K; ++k) {
        Matrix S = target.covariance(k);
        for (std::size_t i = 0; i < d_; ++i) {
          for (std::size_t j = 0; j < d_; ++j) S(i, j) *= tp.mu * tp.mu;
          S(i, i) += tp.sigma * tp.sigma;
        }
        cholesky_.push_back(small_cholesky(S, "target"));
      }
    }
  }

  std::size_t size() const override { return size_; }
  std::size_t dim() const override { return d_; }

  // p = (a * K + k) * H^d + l (time node a, component k, space node digits l).
  void fill(std::size_t begin, std::size_t end, DesignTile& tile) const override {
    require_range(begin, end, size_);
    const std::size_t d = d_, H = space_.nodes.size(), K = pi_.size();
    tile.resize(end - begin, d);
    double xi[2];
    for (std::size_t p = begin; p < end; ++p) {
      std::size_t l = p % space_points_;
      const std::size_t ak = p / space_points_;
      const std::size_t k = ak % K, a = ak / K;
      const TimePoint& tp = time_.points[a];
      double mass = time_.mass[a] * pi_[k];
      for (std::size_t j = d; j-- > 0;) {
        const std::size_t digit = l % H;
        l /= H;
        xi[j] = space_.nodes[digit];
        mass *= space_.weights[digit];
      }
      const Matrix& L = cholesky_[a * K + k];
      const std::size_t row = p - begin;
      double* x = tile.x.data() + row * d;
      for (std::size_t i = 0; i < d; ++i) {
        double v = tp.mu * means_(k, i);
        for (std::size_t j = 0; j <= i; ++j) v += L(i, j) * xi[j];
        x[i] = v;
      }
      tile.t[row] = tp.t;
      tile.weight[row] = mass * tp.w;
      tile.loss0[row] = mass * component_loss_constant_[k];  // L_0 exact, as in write_point
    }
    // Tweedie: E[y | x_t] = (grad log p_t(x_t) - k(t) x_t) / c(t) (for the
    // denoiser E[x_0 | x_t] = (x_t + sigma^2 grad log p_t) / mu). Rows of one
    // time node are contiguous (a is the slowest index), so score them run by run.
    const std::size_t rows = end - begin;
    std::size_t first = 0;
    while (first < rows) {
      const std::size_t a = (begin + first) / space_points_ / K;
      const std::size_t run_end = std::min(rows, (a + 1) * K * space_points_ - begin);
      const std::size_t count = run_end - first;
      const MatrixView X{tile.x.data() + first * d, count, d};
      const std::span<double> Y(tile.y.data() + first * d, count * d);
      diffused_[a].score(X, Y);
      const double inv_c = 1.0 / time_.points[a].c, skip = time_.points[a].skip;
      for (std::size_t k = 0; k < Y.size(); ++k) Y[k] = (Y[k] - skip * X.data[k]) * inv_c;
      first = run_end;
    }
  }

 private:
  std::size_t d_;
  std::vector<double> pi_;
  Matrix means_;
  TimeRule time_;
  QuadratureRule space_;
  std::size_t space_points_;
  std::size_t size_;
  LossConstant loss_constant_;
  std::vector<double> component_loss_constant_;  // L_0 of component k's points
  std::vector<GaussianMixture> diffused_;  // p_t at each time node
  std::vector<Matrix> cholesky_;           // [a * K + k]: Cholesky of mu^2 S_k + sigma^2 I
};

// ---------------------------------------------------------- population MC
class PopulationMonteCarlo final : public DesignPoints {
 public:
  PopulationMonteCarlo(const GaussianMixture& target, std::size_t samples, const DsmSetup& setup,
                       std::uint64_t seed)
      : d_(target.dim()),
        means_(target.means()),
        setup_(setup),
        size_(samples),
        data_rng_(seed, streams::population_data),
        time_rng_(seed, streams::population_time),
        noise_rng_(seed, streams::population_noise),
        loss_constant_(setup, d_) {
    const std::vector<double> pi = normalised_weights(target);
    cumulative_.resize(pi.size());
    std::partial_sum(pi.begin(), pi.end(), cumulative_.begin());
    cumulative_.back() = 1.0;  // rounding must never leave a uniform draw unassigned
    for (std::size_t k = 0; k < pi.size(); ++k) cholesky_.push_back(small_cholesky(target.covariance(k), "target"));
  }

  std::size_t size() const override { return size_; }
  std::size_t dim() const override { return d_; }

  // Point p: component by inversion of uniform(p) of streams::population_data,
  // x_0 = m_k + L_k z with z_j = normal(p d + j) of the same stream (uniform and
  // normal draws use distinct Philox counters), t and eps as in the empirical MC.
  void fill(std::size_t begin, std::size_t end, DesignTile& tile) const override {
    require_range(begin, end, size_);
    const std::size_t d = d_;
    tile.resize(end - begin, d);
    const Schedule& s = setup_.schedule;
    const double q = 1.0 / static_cast<double>(size_);
    std::vector<double> z(d), x0(d), eps(d);
    for (std::size_t p = begin; p < end; ++p) {
      const double u = data_rng_.uniform(p);
      const std::size_t k = static_cast<std::size_t>(
          std::upper_bound(cumulative_.begin(), cumulative_.end() - 1, u) - cumulative_.begin());
      const Matrix& L = cholesky_[k];
      for (std::size_t j = 0; j < d; ++j) z[j] = data_rng_.normal(p * d + j);
      for (std::size_t i = 0; i < d; ++i) {
        double v = means_(k, i);
        for (std::size_t j = 0; j <= i; ++j) v += L(i, j) * z[j];
        x0[i] = v;
      }
      const double t = s.t_min + (s.T - s.t_min) * time_rng_.uniform(p);
      for (std::size_t j = 0; j < d; ++j) eps[j] = noise_rng_.normal(p * d + j);
      write_point(time_point(setup_, t), q, loss_constant_, x0.data(), eps.data(), d, p - begin, tile);
    }
  }

 private:
  std::size_t d_;
  Matrix means_;
  DsmSetup setup_;
  std::size_t size_;
  CounterRng data_rng_;
  CounterRng time_rng_;
  CounterRng noise_rng_;
  LossConstant loss_constant_;
  std::vector<double> cumulative_;  // cumulative mixture weights
  std::vector<Matrix> cholesky_;    // Cholesky factors of S_k
};

}  // namespace

std::unique_ptr<DesignPoints> empirical_monte_carlo(MatrixView data, std::size_t draws_per_sample,
                                                    const DsmSetup& setup, std::uint64_t seed,
                                                    std::uint64_t time_stream, std::uint64_t noise_stream) {
  setup.validate();
  require_data(data);
  require(draws_per_sample >= 1, "draws_per_sample", "must be at least 1, got 0");
  return std::make_unique<EmpiricalMonteCarlo>(data, draws_per_sample, setup, seed, time_stream, noise_stream);
}

std::unique_ptr<DesignPoints> empirical_quadrature(MatrixView data, std::size_t time_nodes, std::size_t noise_nodes,
                                                   const DsmSetup& setup) {
  setup.validate();
  require_data(data);
  require(time_nodes >= 1, "time_nodes", "must be at least 1, got 0");
  require(noise_nodes >= 1, "noise_nodes", "must be at least 1, got 0");
  return std::make_unique<EmpiricalQuadrature>(data, time_nodes, noise_nodes, setup);
}

std::unique_ptr<DesignPoints> population_quadrature(const GaussianMixture& target, std::size_t time_nodes,
                                                    std::size_t space_nodes, const DsmSetup& setup) {
  setup.validate();
  require(target.dim() >= 1 && target.dim() <= 2, "target",
          "population quadrature needs d <= 2 (got d = " + std::to_string(target.dim()) +
              "); use population_monte_carlo");
  require(time_nodes >= 1, "time_nodes", "must be at least 1, got 0");
  require(space_nodes >= 1, "space_nodes", "must be at least 1, got 0");
  return std::make_unique<PopulationQuadrature>(target, time_nodes, space_nodes, setup);
}

std::unique_ptr<DesignPoints> population_monte_carlo(const GaussianMixture& target, std::size_t samples,
                                                     const DsmSetup& setup, std::uint64_t seed) {
  setup.validate();
  require(target.dim() >= 1, "target", "dimension must be positive");
  require(samples >= 1, "samples", "must be at least 1, got 0");
  return std::make_unique<PopulationMonteCarlo>(target, samples, setup, seed);
}

}  // namespace gengap
