// The probability-flow sampler (probability_flow_sampler.hpp).
#include "gengap/solvers/sde/probability_flow_sampler.hpp"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/solvers/detail/finite_rows.hpp"

namespace gengap {
namespace {

IntegrateOptions driver_options(const Schedule& schedule, const ProbabilityFlowSamplingOptions& o) {
  IntegrateOptions io = o.ode;
  io.t0 = schedule.T;
  io.t1 = schedule.t_min;
  return io;
}

}  // namespace

IntegrateOptions probability_flow_ode_defaults() {
  IntegrateOptions o;
  o.controller.rtol = 1e-5;
  o.controller.atol = 1e-5;
  return o;
}

void ProbabilityFlowSamplingOptions::validate() const {
  require(ode.save_at.empty(), "save_at", "is the sampler's own: leave it empty");
  require(!ode.on_step, "on_step", "is the sampler's own: leave it empty");
  driver_options(Schedule{}, *this).validate();  // method, rtol, atol, fixed_step, max_steps, chunk
}

VectorField probability_flow_velocity(const Schedule& schedule, ScoreField score) {
  return [schedule, score = std::move(score)](std::span<const double> t, MatrixView x, std::span<double> dx) {
    const std::size_t rows = t.size(), d = x.cols;
    // The score sees the finite rows only; the others get NaN derivatives.
    detail::on_finite_rows(t, x, dx, {}, d,
                           [&](std::span<const double> tt, MatrixView xx, std::span<double> s, std::span<double>) {
                             score(tt, xx, s);
                           });
    for (std::size_t r = 0; r < rows; ++r) {
      const double f = schedule.drift(t[r]), half_g2 = 0.5 * schedule.diffusion_squared(t[r]);
      for (std::size_t j = 0; j < d; ++j) dx[r * d + j] = f * x(r, j) - half_g2 * dx[r * d + j];
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
