// The empirical and smoothed score fields (score_field.hpp).
#include "gengap/solvers/score_field.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/solvers/detail/finite_rows.hpp"

namespace gengap {
namespace {

using detail::on_finite_rows;

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
