#include "gengap/solvers/probability_flow_sampler.hpp"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

IntegrateOptions driver_options(const Schedule& schedule, const ProbabilityFlowSamplingOptions& o) {
  IntegrateOptions io;
  io.method = o.method;
  io.controller.rtol = o.rtol;
  io.controller.atol = o.atol;
  io.t0 = schedule.T;
  io.t1 = schedule.t_min;
  io.fixed_step = o.fixed_step;
  io.max_steps = o.max_steps;
  io.chunk = o.chunk;
  return io;
}

}  // namespace

void ProbabilityFlowSamplingOptions::validate() const {
  require(std::isfinite(rtol) && rtol > 0.0, "rtol", "must be positive and finite, got " + std::to_string(rtol));
  require(std::isfinite(atol) && atol > 0.0, "atol", "must be positive and finite, got " + std::to_string(atol));
  driver_options(Schedule{}, *this).validate();  // method, fixed_step, max_steps, chunk
}

VectorField probability_flow_velocity(const Schedule& schedule, ScoreField score) {
  return [schedule, score = std::move(score)](std::span<const double> t, MatrixView x, std::span<double> dx) {
    const std::size_t rows = t.size(), d = x.cols;
    std::vector<char> finite(rows, 1);
    bool all = true;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < d; ++j)
        if (!std::isfinite(x(r, j))) finite[r] = 0;
    for (char f : finite) all = all && f;
    if (all) {
      score(t, x, dx);
    } else {
      // The score sees finite rows only: non-finite ones are replaced by 0 here
      // and get NaN derivatives below.
      std::vector<double> safe(x.data, x.data + rows * d);
      for (std::size_t r = 0; r < rows; ++r)
        if (!finite[r]) std::fill(safe.begin() + r * d, safe.begin() + (r + 1) * d, 0.0);
      score(t, MatrixView{safe.data(), rows, d}, dx);
    }
    for (std::size_t r = 0; r < rows; ++r) {
      const double f = schedule.drift(t[r]), half_g2 = 0.5 * schedule.diffusion_squared(t[r]);
      for (std::size_t j = 0; j < d; ++j)
        dx[r * d + j] = finite[r] ? f * x(r, j) - half_g2 * dx[r * d + j] : std::numeric_limits<double>::quiet_NaN();
    }
  };
}

SampleResult sample_probability_flow(const Schedule& schedule, const ScoreField& score, const Matrix& latents,
                                     const ProbabilityFlowSamplingOptions& options) {
  schedule.validate();
  options.validate();
  require(static_cast<bool>(score), "score", "is empty");
  require(latents.rows() >= 1 && latents.cols() >= 1, "latents", "must be non-empty");
  for (std::size_t k = 0; k < latents.size(); ++k)
    require(std::isfinite(latents.flat()[k]), "latents", "entry " + std::to_string(k) + " is not finite");
  IntegrateResult ode = integrate(probability_flow_velocity(schedule, score), latents, driver_options(schedule, options));
  SampleResult result;
  result.samples = std::move(ode.final_state);
  result.stats = std::move(ode.stats);
  result.total_score_evaluations = ode.total_rhs_evaluations;
  return result;
}

SampleResult sample_probability_flow(const Schedule& schedule, const ScoreField& score, std::size_t n, std::size_t d,
                                     const ProbabilityFlowSamplingOptions& options) {
  require(n >= 1, "n", "must be at least 1, got 0");
  require(d >= 1, "d", "must be at least 1, got 0");
  schedule.validate();
  options.validate();
  return sample_probability_flow(schedule, score, prior_sample(schedule, n, d, options.seed), options);
}

}  // namespace gengap
