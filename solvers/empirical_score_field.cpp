#include "gengap/solvers/empirical_score_field.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

bool row_finite(MatrixView x, std::size_t r) {
  const double* v = x.row(r);
  for (std::size_t k = 0; k < x.cols; ++k)
    if (!std::isfinite(v[k])) return false;
  return true;
}

// Calls evaluate(t, x, score, divergence) on the finite rows only (compacted
// when some are not) and writes NaN for the others. The evaluation of a row
// does not depend on the other rows, so compaction changes no bits.
template <class Evaluate>
void on_finite_rows(std::span<const double> t, MatrixView x, std::span<double> score, std::span<double> divergence,
                    std::size_t d, const Evaluate& evaluate) {
  require(x.cols == d, "x", "expected " + std::to_string(d) + " columns (d), got " + std::to_string(x.cols));
  require(t.size() == x.rows, "t",
          "expected " + std::to_string(x.rows) + " entries (one per row), got " + std::to_string(t.size()));
  std::vector<std::size_t> keep;
  for (std::size_t r = 0; r < x.rows; ++r)
    if (row_finite(x, r) && std::isfinite(t[r])) keep.push_back(r);
  if (keep.size() == x.rows) {
    evaluate(t, x, score, divergence);
    return;
  }
  const std::size_t m = keep.size();
  std::vector<double> tk(m), xk(m * d), sk(score.empty() ? 0 : m * d), dk(divergence.empty() ? 0 : m);
  for (std::size_t i = 0; i < m; ++i) {
    tk[i] = t[keep[i]];
    std::copy_n(x.row(keep[i]), d, xk.data() + i * d);
  }
  if (m > 0) evaluate(tk, MatrixView{xk.data(), m, d}, std::span<double>(sk), std::span<double>(dk));
  if (!score.empty()) std::fill(score.begin(), score.end(), nan);
  if (!divergence.empty()) std::fill(divergence.begin(), divergence.end(), nan);
  for (std::size_t i = 0; i < m; ++i) {
    if (!score.empty()) std::copy_n(sk.data() + i * d, d, score.data() + keep[i] * d);
    if (!divergence.empty()) divergence[keep[i]] = dk[i];
  }
}

void schedule_values(const Schedule& schedule, std::span<const double> t, std::vector<double>& mu,
                     std::vector<double>& sigma) {
  mu.resize(t.size());
  sigma.resize(t.size());
  for (std::size_t r = 0; r < t.size(); ++r) {
    mu[r] = schedule.mean_scale(t[r]);
    sigma[r] = schedule.std_dev(t[r]);
  }
}

}  // namespace

ScoreDivergenceField empirical_score_field(std::shared_ptr<const EmpiricalScore> empirical, const Schedule& schedule,
                                           const EmpiricalScoreOptions& options) {
  require(empirical != nullptr, "empirical", "must not be null");
  schedule.validate();
  options.validate();
  return [empirical = std::move(empirical), schedule, options](std::span<const double> t, MatrixView x,
                                                               std::span<double> score, std::span<double> divergence) {
    on_finite_rows(t, x, score, divergence, empirical->dim(),
                   [&](std::span<const double> tt, MatrixView xx, std::span<double> s, std::span<double> dv) {
                     std::vector<double> mu, sigma;
                     schedule_values(schedule, tt, mu, sigma);
                     empirical->evaluate(xx, mu, sigma, s, {}, dv, options);
                   });
  };
}

ScoreDivergenceField empirical_score_field(MatrixView training, const Schedule& schedule) {
  return empirical_score_field(std::make_shared<const EmpiricalScore>(training), schedule);
}

ScoreDivergenceField smoothed_score_field(std::shared_ptr<const SmoothedScore> smoothed, const Schedule& schedule) {
  require(smoothed != nullptr, "smoothed", "must not be null");
  schedule.validate();
  return [smoothed = std::move(smoothed), schedule](std::span<const double> t, MatrixView x, std::span<double> score,
                                                    std::span<double> divergence) {
    on_finite_rows(t, x, score, divergence, smoothed->dim(),
                   [&](std::span<const double> tt, MatrixView xx, std::span<double> s, std::span<double> dv) {
                     std::vector<double> mu, sigma;
                     schedule_values(schedule, tt, mu, sigma);
                     smoothed->evaluate(xx, mu, sigma, s, dv);
                   });
  };
}

std::function<void(MatrixView x, std::span<double> out)> empirical_log_density(
    std::shared_ptr<const EmpiricalScore> empirical, const Schedule& schedule, double t) {
  require(empirical != nullptr, "empirical", "must not be null");
  schedule.validate();
  require(std::isfinite(t) && t > 0.0, "t", "must be positive and finite, got " + std::to_string(t));
  const double mu = schedule.mean_scale(t), sigma = schedule.std_dev(t);
  return [empirical = std::move(empirical), mu, sigma](MatrixView x, std::span<double> out) {
    const double m[1] = {mu}, s[1] = {sigma};
    empirical->evaluate(x, m, s, {}, out, {});
  };
}

}  // namespace gengap
