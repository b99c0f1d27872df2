#include "gengap/solvers/likelihood.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/detail/likelihood_support.hpp"

namespace gengap {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
// Rows per serial block of random_feature_score (the driver's default chunk).

// One score call on the first data point before integrating: a score that
// rejects the data's width (InvalidArgument from inside a parallel solve would
// name an internal field) is reported as a problem with "data".
template <class Call>
void probe_width(const Matrix& data, Call&& call) {
  try {
    call();
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("data", "the score rejects points of dimension d = " + std::to_string(data.cols()) +
                                      " (" + e.what() + ")");
  }
}

}  // namespace

namespace detail {

double resolved_t_min(const Schedule& schedule, const LikelihoodOptions& options) {
  return options.t_min.value_or(schedule.t_min);
}

void require_data(const Matrix& data) {
  require(data.rows() >= 1 && data.cols() >= 1, "data",
          "must be at least 1x1 (N points x d), got " + std::to_string(data.rows()) + "x" +
              std::to_string(data.cols()));
  require_finite(data.flat(), "data");
}

IntegrateOptions driver_options(const Schedule& schedule, const LikelihoodOptions& options, double tolerance_scale) {
  IntegrateOptions io = options.ode;
  io.controller.rtol = options.ode.controller.rtol * tolerance_scale;
  io.controller.atol = options.ode.controller.atol * tolerance_scale;
  io.t0 = resolved_t_min(schedule, options);
  io.t1 = schedule.T;
  return io;
}

LikelihoodResult start_result(const Schedule& schedule, const LikelihoodOptions& options, const Matrix& data,
                              IntegrateResult&& solved) {
  const std::size_t N = data.rows(), d = data.cols();
  LikelihoodResult result;
  result.dim = d;
  result.t_min = resolved_t_min(schedule, options);
  result.T = schedule.T;
  result.latent = Matrix(N, d);
  for (std::size_t i = 0; i < N; ++i) std::copy_n(solved.final_state.row(i).data(), d, result.latent.row(i).data());
  result.stats = std::move(solved.stats);
  result.total_rhs_evaluations = solved.total_rhs_evaluations;
  result.log_prior.assign(N, nan);
  result.log_p.assign(N, nan);
  result.log_p_se.assign(N, nan);
  result.delta_log_p.assign(N, nan);
  if (options.terminal_log_density) {
    // Only the succeeded rows are finite, meaningful end points; the callable
    // sees those alone.
    std::vector<std::size_t> ok;
    for (std::size_t i = 0; i < N; ++i)
      if (result.stats[i].status == TrajectoryStatus::success) ok.push_back(i);
    Matrix X(ok.size(), d);
    for (std::size_t p = 0; p < ok.size(); ++p) std::copy_n(result.latent.row(ok[p]).data(), d, X.row(p).data());
    std::vector<double> out(ok.size(), nan);
    if (!ok.empty()) options.terminal_log_density(X, out);
    for (std::size_t p = 0; p < ok.size(); ++p) result.log_prior[ok[p]] = out[p];
  } else {
    for (std::size_t i = 0; i < N; ++i) {
      if (result.stats[i].status == TrajectoryStatus::success) result.log_prior[i] = schedule.log_prior(result.latent.row(i));
    }
  }
  return result;
}

}  // namespace detail

using detail::driver_options;
using detail::require_data;
using detail::resolved_t_min;
using detail::start_result;

// ------------------------------------------------------------------ options and results

void LikelihoodOptions::validate(const Schedule& schedule) const {
  schedule.validate();
  if (t_min) {
    const double t = *t_min;
    require(std::isfinite(t) && t > 0.0, "t_min", "must be finite and positive, got " + std::to_string(t));
    require(t < schedule.T, "t_min",
            "must be below the horizon T = " + std::to_string(schedule.T) + ", got " + std::to_string(t));
  }
  require(ode.save_at.empty(), "save_at", "is the likelihood's own: leave it empty");
  require(!ode.on_step, "on_step", "is the likelihood's own: leave it empty");
  IntegrateOptions io = ode;  // [t_min, T] for the driver's checks of the other fields
  io.t0 = t_min.value_or(schedule.t_min);
  io.t1 = schedule.T;
  io.validate();
}

IntegrateOptions likelihood_ode_defaults() {
  IntegrateOptions o;
  o.method = RkMethod::dopri5;
  o.controller.rtol = 1e-5;
  o.controller.atol = 1e-5;
  o.sharing = StepSharing::per_chunk;
  return o;
}

double LikelihoodResult::bits_per_dim(std::size_t i) const {
  return -log_p.at(i) / (static_cast<double>(dim) * std::numbers::ln2);
}

double LikelihoodResult::mean_log_p() const {
  double sum = 0.0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < log_p.size(); ++i) {
    if (stats[i].status != TrajectoryStatus::success) continue;
    sum += log_p[i];
    ++count;
  }
  return count == 0 ? nan : sum / static_cast<double>(count);
}

double LikelihoodResult::mean_bits_per_dim() const {
  return -mean_log_p() / (static_cast<double>(dim) * std::numbers::ln2);
}

double LikelihoodResult::mean_evaluations_per_point() const {
  return stats.empty() ? 0.0 : static_cast<double>(total_rhs_evaluations) / static_cast<double>(stats.size());
}

bool LikelihoodResult::all_succeeded() const { return gengap::all_succeeded(stats); }

std::string LikelihoodResult::failure_summary() const { return gengap::failure_summary(stats, "point", "points"); }

// ------------------------------------------------------------------ solves

LikelihoodResult log_likelihood(const Schedule& schedule, const ScoreDivergenceField& score, const Matrix& data,
                                const LikelihoodOptions& options) {
  options.validate(schedule);
  require(static_cast<bool>(score), "score", "must be callable");
  require_data(data);
  const std::size_t N = data.rows(), d = data.cols();
  const double t0 = resolved_t_min(schedule, options);
  probe_width(data, [&] {
    std::vector<double> s(d), div(1);
    const double t[1] = {t0};
    score(t, MatrixView{data.data(), 1, d}, s, div);
  });

  Matrix initial(N, d + 1, 0.0);
  for (std::size_t i = 0; i < N; ++i) std::copy_n(data.row(i).data(), d, initial.row(i).data());
  // Scores that call BLAS inside the driver's TBB tasks run it single-threaded;
  // set once here so concurrent inner scopes all restore 1.
  const ScopedBlasThreads single_threaded_blas(1);
  IntegrateResult solved = integrate(probability_flow_field(schedule, score, d), initial,
                                     driver_options(schedule, options, 1.0));
  Matrix final_state = solved.final_state;
  LikelihoodResult result = start_result(schedule, options, data, std::move(solved));
  for (std::size_t i = 0; i < N; ++i) {
    if (result.stats[i].status != TrajectoryStatus::success) continue;
    const double ell = final_state(i, d);
    result.delta_log_p[i] = ell;
    result.log_p[i] = result.log_prior[i] + ell;
    result.log_p_se[i] = 0.0;
  }
  return result;
}

LikelihoodResult log_likelihood_hutchinson(const Schedule& schedule, const ScoreField& score, const Matrix& data,
                                           const LikelihoodOptions& options, const HutchinsonOptions& hutchinson) {
  options.validate(schedule);
  hutchinson.validate();
  require(static_cast<bool>(score), "score", "must be callable");
  require_data(data);
  const std::size_t N = data.rows(), d = data.cols(), k = hutchinson.probes;
  require(N <= (std::uint64_t{1} << 53) && static_cast<long double>(N) * k * d < 1.8e19L, "data",
          "too many points for the probe index (N k d must fit in 64 bits)");
  const double t0 = resolved_t_min(schedule, options);
  probe_width(data, [&] {
    std::vector<double> s(d);
    const double t[1] = {t0};
    score(t, MatrixView{data.data(), 1, d}, s);
  });

  // State [x, ell_1..ell_k, i]. The controller's RMS norm averages over all
  // d + k + 1 entries and the index entry's error is exactly 0: scaling both
  // tolerances by sqrt((d + k) / (d + k + 1)) makes the norm that of [x, ell]
  // alone, so the requested rtol/atol mean the same as in log_likelihood.
  const std::size_t width = d + k + 1;
  Matrix initial(N, width, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    std::copy_n(data.row(i).data(), d, initial.row(i).data());
    initial(i, d + k) = static_cast<double>(i);
  }
  const double scale = std::sqrt(static_cast<double>(d + k) / static_cast<double>(d + k + 1));
  const ScopedBlasThreads single_threaded_blas(1);
  IntegrateResult solved = integrate(hutchinson_flow_field(schedule, score, d, hutchinson), initial,
                                     driver_options(schedule, options, scale));
  Matrix final_state = solved.final_state;
  LikelihoodResult result = start_result(schedule, options, data, std::move(solved));
  for (std::size_t i = 0; i < N; ++i) {
    if (result.stats[i].status != TrajectoryStatus::success) continue;
    // Mean and sample standard deviation over probes (two-pass, fixed order).
    double mean = 0.0;
    for (std::size_t p = 0; p < k; ++p) mean += final_state(i, d + p);
    mean /= static_cast<double>(k);
    double ss = 0.0;
    for (std::size_t p = 0; p < k; ++p) {
      const double e = final_state(i, d + p) - mean;
      ss += e * e;
    }
    result.delta_log_p[i] = mean;
    result.log_p[i] = result.log_prior[i] + mean;
    result.log_p_se[i] = k >= 2 ? std::sqrt(ss / static_cast<double>(k - 1) / static_cast<double>(k)) : 0.0;
  }
  return result;
}

}  // namespace gengap
