#include "gengap/solvers/score_integral_density.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "gengap/kernels/error.hpp"
#include "gengap/solvers/quadrature.hpp"

namespace gengap {

namespace {

// One batched score call at time t on the points y; throws on non-finite values.
std::vector<double> score_at(const ScoreField& score, double t, const std::vector<double>& y) {
  std::vector<double> s(y.size()), ts(y.size(), t);
  if (y.empty()) return s;
  score(ts, MatrixView{y.data(), y.size(), 1}, s);
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (!std::isfinite(s[i])) {
      throw NumericalError("score-integral density: non-finite score (" + std::to_string(s[i]) + ") at x = " +
                           std::to_string(y[i]) + ", t = " + std::to_string(t));
    }
  }
  return s;
}

}  // namespace

void ScoreIntegralOptions::validate() const {
  require(std::isfinite(lower), "lower", "must be finite, got " + std::to_string(lower));
  require(std::isfinite(upper) && upper > lower, "upper",
          "must be finite and above lower (" + std::to_string(lower) + "), got " + std::to_string(upper));
  require(panels >= 1, "panels", "must be at least 1");
  require(order >= 1 && order <= 64, "order", "must be in [1, 64], got " + std::to_string(order));
}

ScoreIntegralDensity::ScoreIntegralDensity(ScoreField score, double t, const ScoreIntegralOptions& options)
    : score_(std::move(score)), t_(t), options_(options) {
  options_.validate();
  require(static_cast<bool>(score_), "score", "must be callable");
  require(std::isfinite(t) && t > 0.0, "t", "must be finite and positive, got " + std::to_string(t));
  const std::size_t P = options_.panels, n = options_.order;
  width_ = (options_.upper - options_.lower) / static_cast<double>(P);

  // Gauss-Legendre on [0, 1], ascending.
  const QuadratureRule rule = gauss_legendre(n, 0.0, 1.0);
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  std::sort(perm.begin(), perm.end(), [&](std::size_t a, std::size_t b) { return rule.nodes[a] < rule.nodes[b]; });
  unit_nodes_.resize(n);
  unit_weights_.resize(n);
  for (std::size_t q = 0; q < n; ++q) {
    unit_nodes_[q] = rule.nodes[perm[q]];
    unit_weights_[q] = rule.weights[perm[q]];
  }
  // Spectral integration matrix S[q][r] = int_0^{xi_q} l_r(u) du for the
  // Lagrange basis l_r through the nodes (degree n - 1: the n-point rule on
  // [0, xi_q] integrates it exactly).
  std::vector<double> S(n * n, 0.0);
  for (std::size_t q = 0; q < n; ++q) {
    for (std::size_t k = 0; k < n; ++k) {
      const double u = unit_nodes_[q] * unit_nodes_[k];
      for (std::size_t r = 0; r < n; ++r) {
        double l = 1.0;
        for (std::size_t j = 0; j < n; ++j)
          if (j != r) l *= (u - unit_nodes_[j]) / (unit_nodes_[r] - unit_nodes_[j]);
        S[q * n + r] += unit_nodes_[q] * unit_weights_[k] * l;
      }
    }
  }

  nodes_.resize(P * n);
  for (std::size_t p = 0; p < P; ++p) {
    const double a = options_.lower + static_cast<double>(p) * width_;
    for (std::size_t q = 0; q < n; ++q) nodes_[p * n + q] = a + width_ * unit_nodes_[q];
  }
  const std::vector<double> s = score_at(score_, t_, nodes_);
  evaluations_ = nodes_.size();

  // F at the edges (running sum in panel order) and at the nodes.
  edge_F_.assign(P + 1, 0.0);
  std::vector<double> F(P * n);
  for (std::size_t p = 0; p < P; ++p) {
    const double* sp = &s[p * n];
    double panel = 0.0;
    for (std::size_t r = 0; r < n; ++r) panel += unit_weights_[r] * sp[r];
    for (std::size_t q = 0; q < n; ++q) {
      double inner = 0.0;
      for (std::size_t r = 0; r < n; ++r) inner += S[q * n + r] * sp[r];
      F[p * n + q] = edge_F_[p] + width_ * inner;
    }
    edge_F_[p + 1] = edge_F_[p] + width_ * panel;
  }
  // log Z by log-sum-exp over the nodes.
  node_weights_.resize(P * n);
  double M = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < P * n; ++i) {
    node_weights_[i] = width_ * unit_weights_[i % n];
    M = std::max(M, F[i] + std::log(node_weights_[i]));
  }
  double sum = 0.0;
  for (std::size_t i = 0; i < P * n; ++i) sum += std::exp(F[i] + std::log(node_weights_[i]) - M);
  log_z_ = M + std::log(sum);
  node_log_density_.resize(P * n);
  for (std::size_t i = 0; i < P * n; ++i) node_log_density_[i] = F[i] - log_z_;
}

std::vector<double> ScoreIntegralDensity::log_density(std::span<const double> x) const {
  require_finite(x, "x");
  // Far queries would cost (distance / panel width) evaluations each, and the
  // normaliser knows nothing of the mass out there anyway.
  const double reach = options_.upper - options_.lower;
  for (const double xi : x) {
    require(xi >= options_.lower - reach && xi <= options_.upper + reach, "x",
            fmt::format("{} is more than one window width outside the window [{}, {}]", xi, options_.lower,
                        options_.upper));
  }
  const std::size_t P = options_.panels, n = options_.order;
  // Per query: start edge e (0..P), then sub-panels of width <= width_ from
  // the edge to x, n nodes each.
  std::vector<std::size_t> edge(x.size()), first(x.size() + 1, 0), pieces(x.size());
  std::vector<double> y;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double rel = (x[i] - options_.lower) / width_;
    const double clamped = std::clamp(std::floor(rel), 0.0, static_cast<double>(P));
    edge[i] = static_cast<std::size_t>(clamped);
    const double a = options_.lower + static_cast<double>(edge[i]) * width_;
    const double length = x[i] - a;
    pieces[i] = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(std::abs(length) / width_)));
    const double piece = length / static_cast<double>(pieces[i]);
    first[i] = y.size();
    for (std::size_t k = 0; k < pieces[i]; ++k)
      for (std::size_t q = 0; q < n; ++q) y.push_back(a + piece * (static_cast<double>(k) + unit_nodes_[q]));
  }
  const std::vector<double> s = score_at(score_, t_, y);
  std::vector<double> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double a = options_.lower + static_cast<double>(edge[i]) * width_;
    const double piece = (x[i] - a) / static_cast<double>(pieces[i]);
    double integral = 0.0;
    for (std::size_t k = 0; k < pieces[i]; ++k) {
      double sum = 0.0;
      for (std::size_t q = 0; q < n; ++q) sum += unit_weights_[q] * s[first[i] + k * n + q];
      integral += piece * sum;
    }
    out[i] = edge_F_[edge[i]] + integral - log_z_;
  }
  return out;
}

}  // namespace gengap
