#include "gengap/solvers/smoothed_score.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/solvers/quadrature.hpp"

namespace gengap {
namespace {

// The 1-D rule in units of delta: nodes v_k and weights summing to 1 for
// E_{v ~ k_1}[f(v)] (box on [-1, 1] or standard normal).
QuadratureRule unit_rule(const SmoothingOptions& o) {
  if (o.kernel == SmoothingKernel::gaussian) return gauss_hermite_normal(o.hermite_nodes);
  QuadratureRule rule;
  const double width = 2.0 / static_cast<double>(o.panels);
  for (std::size_t p = 0; p < o.panels; ++p) {
    const double a = -1.0 + width * static_cast<double>(p);
    const QuadratureRule panel = gauss_legendre(o.nodes, a, p + 1 == o.panels ? 1.0 : a + width);
    for (std::size_t k = 0; k < o.nodes; ++k) {
      rule.nodes.push_back(panel.nodes[k]);
      rule.weights.push_back(0.5 * panel.weights[k]);  // density 1/2 on [-1, 1]
    }
  }
  return rule;
}

std::vector<double> unit_vector(std::span<const double> direction) {
  double norm2 = 0.0;
  for (double v : direction) norm2 += v * v;
  const double inv = 1.0 / std::sqrt(norm2);
  std::vector<double> e(direction.begin(), direction.end());
  for (double& v : e) v *= inv;
  return e;
}

// Whether the training points lie on one line along the unit vector e (see
// the header: the closed form's condition), to rounding.
bool collinear_along(const Matrix& training, std::span<const double> e) {
  const std::size_t n = training.rows(), d = training.cols();
  double scale = 0.0, off_line = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    double along = 0.0, norm2 = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      along += (training(i, k) - training(0, k)) * e[k];
      norm2 += training(i, k) * training(i, k);
    }
    double residual2 = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      const double r = training(i, k) - training(0, k) - along * e[k];
      residual2 += r * r;
    }
    scale = std::max(scale, std::sqrt(norm2));
    off_line = std::max(off_line, std::sqrt(residual2));
  }
  return off_line <= 1e-12 * (1.0 + scale);
}

std::size_t rule_size(const SmoothingOptions& o) {
  return o.kernel == SmoothingKernel::gaussian ? o.hermite_nodes : o.nodes * o.panels;
}

void require_times_size(std::span<const double> v, std::size_t q, std::string_view field) {
  require(v.size() == q || v.size() == 1, field,
          "expected " + std::to_string(q) + " entries (one per query) or 1 (shared), got " + std::to_string(v.size()));
}

}  // namespace

constexpr EnumName<SmoothingKernel> smoothing_kernel_names[] = {{SmoothingKernel::box, "box"},
                                                                {SmoothingKernel::gaussian, "gaussian"}};

SmoothingKernel parse_smoothing_kernel(std::string_view name) {
  return parse_enum_name(name, smoothing_kernel_names, "kernel", "smoothing kernel");
}

std::string_view to_string(SmoothingKernel kernel) {
  return enum_name(kernel, smoothing_kernel_names, "kernel", "SmoothingKernel");
}

void SmoothingOptions::validate(std::size_t d) const {
  require(std::isfinite(delta) && delta >= 0.0, "delta", "must be finite and >= 0, got " + std::to_string(delta));
  require(nodes >= 1, "nodes", "must be at least 1, got 0");
  require(panels >= 1, "panels", "must be at least 1, got 0");
  require(hermite_nodes >= 1, "hermite_nodes", "must be at least 1, got 0");
  require(chunk_rows >= 1, "chunk_rows", "must be at least 1, got 0");
  empirical.validate();
  if (!direction.empty()) {
    require(direction.size() == d, "direction",
            "expected " + std::to_string(d) + " entries (d), got " + std::to_string(direction.size()));
    require_finite(direction, "direction");
    double norm2 = 0.0;
    for (double v : direction) norm2 += v * v;
    require(norm2 > 0.0, "direction", "must be nonzero");
  } else if (delta > 0.0 && !(d == 1 && kernel == SmoothingKernel::box && closed_form)) {
    // Per-coordinate smoothing: a tensor grid of rule_size^d points per query.
    double grid = 1.0;
    for (std::size_t k = 0; k < d; ++k) grid *= static_cast<double>(rule_size(*this));
    require(grid <= static_cast<double>(max_grid), "max_grid",
            "per-coordinate smoothing in d = " + std::to_string(d) + " needs a grid of " + std::to_string(grid) +
                " points per query (more than " + std::to_string(max_grid) +
                "): give a direction (the data line) or fewer nodes");
  }
}

SmoothedScore::SmoothedScore(std::shared_ptr<const EmpiricalScore> empirical, SmoothingOptions options)
    : empirical_(std::move(empirical)), options_(std::move(options)) {
  require(empirical_ != nullptr, "empirical", "must not be null");
  const std::size_t d = empirical_->dim();
  options_.validate(d);
  if (options_.delta == 0.0) {
    method_ = Method::empirical;
    return;
  }
  if (options_.kernel == SmoothingKernel::box && options_.closed_form) {
    if (d == 1) {
      method_ = Method::closed_form;
      unit_ = {1.0};
      return;
    }
    if (!options_.direction.empty()) {
      std::vector<double> e = unit_vector(options_.direction);
      if (collinear_along(empirical_->training(), e)) {
        method_ = Method::closed_form;
        unit_ = std::move(e);
        return;
      }
    }
  }
  method_ = Method::quadrature;
  const QuadratureRule rule = unit_rule(options_);
  const std::size_t N = rule.nodes.size();
  const double delta = options_.delta;
  if (!options_.direction.empty()) {
    const std::vector<double> e = unit_vector(options_.direction);
    offsets_ = Matrix(N, d);
    for (std::size_t g = 0; g < N; ++g)
      for (std::size_t k = 0; k < d; ++k) offsets_(g, k) = delta * rule.nodes[g] * e[k];
    weights_ = rule.weights;
    return;
  }
  // Tensor grid: point g has digits (g_0, ..., g_{d-1}) in base N.
  std::size_t G = 1;
  for (std::size_t k = 0; k < d; ++k) G *= N;
  offsets_ = Matrix(G, d);
  weights_.assign(G, 1.0);
  for (std::size_t g = 0; g < G; ++g) {
    std::size_t rest = g;
    for (std::size_t k = 0; k < d; ++k) {
      const std::size_t digit = rest % N;
      rest /= N;
      offsets_(g, k) = delta * rule.nodes[digit];
      weights_[g] *= rule.weights[digit];
    }
  }
}

std::size_t SmoothedScore::evaluations_per_query() const {
  switch (method_) {
    case Method::empirical:
      return 1;
    case Method::closed_form:
      return 2;
    case Method::quadrature:
      return weights_.size();
  }
  return 1;
}

void SmoothedScore::evaluate(MatrixView x, std::span<const double> mu_t, std::span<const double> sigma_t,
                             std::span<double> score, std::span<double> divergence) const {
  const std::size_t d = dim(), q = x.rows;
  require(x.cols == d, "x", "expected " + std::to_string(d) + " columns (d), got " + std::to_string(x.cols));
  require_times_size(mu_t, q, "mu_t");
  require_times_size(sigma_t, q, "sigma_t");
  require(score.size() == q * d, "score",
          "expected " + std::to_string(q * d) + " entries, got " + std::to_string(score.size()));
  require(divergence.empty() || divergence.size() == q, "divergence",
          "expected 0 or " + std::to_string(q) + " entries, got " + std::to_string(divergence.size()));
  if (method_ == Method::empirical) {
    empirical_->evaluate(x, mu_t, sigma_t, score, {}, divergence, options_.empirical);
    return;
  }
  if (q == 0) return;
  const std::size_t G = evaluations_per_query();
  const std::size_t per_chunk = std::max<std::size_t>(1, options_.chunk_rows / G);
  std::vector<double> rows, mu, sigma, s, logp, div;
  for (std::size_t q0 = 0; q0 < q; q0 += per_chunk) {
    const std::size_t count = std::min(per_chunk, q - q0);
    const std::size_t R = count * G;
    rows.resize(R * d);
    mu.resize(R);
    sigma.resize(R);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t query = q0 + i;
      const double* xi = x.row(query);
      for (std::size_t g = 0; g < G; ++g) {
        const std::size_t row = i * G + g;
        for (std::size_t k = 0; k < d; ++k) {
          const double u =
              method_ == Method::closed_form ? (g == 0 ? -options_.delta : options_.delta) * unit_[k] : offsets_(g, k);
          rows[row * d + k] = xi[k] + u;
        }
        mu[row] = mu_t.size() == 1 ? mu_t[0] : mu_t[query];
        sigma[row] = sigma_t.size() == 1 ? sigma_t[0] : sigma_t[query];
      }
    }
    const MatrixView expanded{rows.data(), R, d};
    const bool want_div = !divergence.empty();
    if (method_ == Method::closed_form) {
      // Along e: (log p(x + delta e) - log p(x - delta e)) / (2 delta); across
      // e: s_n's part, the same at both points; the divergence from the
      // scores at the same two points (see the header).
      logp.resize(R);
      s.resize(R * d);
      empirical_->evaluate(expanded, mu, sigma, s, logp, {}, options_.empirical);
      const double inv = 0.5 / options_.delta;
      const double* e = unit_.data();
      for (std::size_t i = 0; i < count; ++i) {
        const double* minus = s.data() + (2 * i) * d;
        const double* plus = s.data() + (2 * i + 1) * d;
        double along_minus = 0.0, along_plus = 0.0;
        for (std::size_t k = 0; k < d; ++k) {
          along_minus += e[k] * minus[k];
          along_plus += e[k] * plus[k];
        }
        const double across_along = 0.5 * (along_minus + along_plus);
        const double along = (logp[2 * i + 1] - logp[2 * i]) * inv;
        double* out = score.data() + (q0 + i) * d;
        // The across part as the mean minus its component along e: exactly 0 in d = 1.
        for (std::size_t k = 0; k < d; ++k) out[k] = along * e[k] + (0.5 * (minus[k] + plus[k]) - across_along * e[k]);
        if (want_div) {
          const double sg = sigma[2 * i];
          divergence[q0 + i] = (along_plus - along_minus) * inv - static_cast<double>(d - 1) / (sg * sg);
        }
      }
      continue;
    }
    s.resize(R * d);
    div.resize(want_div ? R : 0);
    empirical_->evaluate(expanded, mu, sigma, s, {}, div, options_.empirical);
    for (std::size_t i = 0; i < count; ++i) {
      double* out = score.data() + (q0 + i) * d;
      std::fill_n(out, d, 0.0);
      double dv = 0.0;
      for (std::size_t g = 0; g < G; ++g) {
        const std::size_t row = i * G + g;
        const double w = weights_[g];
        for (std::size_t k = 0; k < d; ++k) out[k] += w * s[row * d + k];
        if (want_div) dv += w * div[row];
      }
      if (want_div) divergence[q0 + i] = dv;
    }
  }
}

Matrix SmoothedScore::evaluate(MatrixView x, double mu_t, double sigma_t) const {
  Matrix out(x.rows, dim());
  const double mu[1] = {mu_t}, sigma[1] = {sigma_t};
  evaluate(x, mu, sigma, out.flat(), {});
  return out;
}

}  // namespace gengap
