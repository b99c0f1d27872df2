#pragma once
// Sampling by the probability-flow ODE (docs/math.md §2): x_T ~ pi (prior_sample,
// the same draw as the SDE samplers for a seed), then integrate
//   dx/dt = v(x, t) = f(t) x - 1/2 g(t)^2 s(x, t)
// from t = T down to t_min with the ODE driver (solvers/ode/integrate.hpp: any
// tableau, PI control with rtol/atol, or a fixed step). The map x_T -> x_{t_min}
// is deterministic; its pushforward of pi is p_{t_min} when s is the exact
// score (the ODE shares the SDE's marginals).
//
// Per-trajectory statistics are the driver's (rhs_evaluations = score
// evaluations, accepted/rejected steps, status, failure time). Rows with a
// non-finite state (a stage of a diverging step) get NaN derivatives without
// calling the score, so the driver flags them non_finite; a failed row keeps
// its last accepted state. Misuse throws InvalidArgument naming the field.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/ode/integrate.hpp"
#include "gengap/solvers/sde/sample.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

// dopri5 with rtol = atol = 1e-5.
IntegrateOptions probability_flow_ode_defaults();

struct ProbabilityFlowSamplingOptions {
  // The ODE driver's options (solvers/ode/integrate.hpp): method (dopri5 |
  // tsit5 | bosh3 adaptive, or any with fixed_step), controller (rtol, atol
  // 1e-5 by default), fixed_step, max_steps (step attempts per trajectory),
  // chunk, sharing. t0 = T and t1 = t_min are the sampler's; leave save_at
  // and on_step empty.
  IntegrateOptions ode = probability_flow_ode_defaults();
  std::uint64_t seed = 0;          // the prior draw (streams::reverse_sde_prior)

  // InvalidArgument naming the field: the ode fields by their names, save_at / on_step when set.
  void validate() const;
};

// v(x, t) = f(t) x - 1/2 g(t)^2 s(x, t) as a VectorField on d-dimensional rows.
// Copies the schedule and the score callable.
VectorField probability_flow_velocity(const Schedule& schedule, ScoreField score);

// n >= 1 samples in d >= 1 dimensions from x_T = prior_sample(schedule, n, d, seed).
SampleResult sample_probability_flow(const Schedule& schedule, const ScoreField& score, std::size_t n, std::size_t d,
                                     const ProbabilityFlowSamplingOptions& options);
// The same map applied to given latents x_T (N x d, finite; InvalidArgument
// "latents" otherwise); options.seed is unused.
SampleResult sample_probability_flow(const Schedule& schedule, const ScoreField& score, const Matrix& latents,
                                     const ProbabilityFlowSamplingOptions& options);

}  // namespace gengap
