#pragma once
// What every sampler shares (the reverse-SDE samplers, predictor-corrector,
// the probability-flow sampler): the batched score they call, the prior
// draw they start from, the result they return and their random streams.
// The samplers: sde/reverse_sde.hpp, sde/predictor_corrector.hpp,
// sde/probability_flow_sampler.hpp; their step formulas: sde/steppers.hpp;
// the adaptive sampler's Brownian path: sde/brownian_path.hpp.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/schedule.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/solve_stats.hpp"

namespace gengap {

namespace streams {
inline constexpr std::uint64_t reverse_sde_prior = 20;  // x_T ~ pi of the reverse-SDE samplers
inline constexpr std::uint64_t reverse_sde_noise = 21;  // Brownian increments of the reverse-SDE samplers
// 22: hutchinson_probes (solvers/likelihood.hpp)
inline constexpr std::uint64_t predictor_noise = 23;  // predictor-corrector: the predictor's noise
inline constexpr std::uint64_t langevin_noise = 24;   // predictor-corrector: the Langevin corrector's noise
}  // namespace streams

// ScoreField: solvers/score_field.hpp.

// The result of every sampler. stats[i].rhs_evaluations counts the rows of
// trajectory i passed to the score (each sampler's right-hand side is one
// score evaluation); accepted/rejected count its steps (predictor steps for
// predictor-corrector, whose corrector steps are in rhs_evaluations only).
struct SampleResult {
  Matrix samples;  // n x d at t_min (a failed row: its last finite state)
  std::vector<TrajectoryStats> stats;
  std::size_t total_score_evaluations = 0;  // sum of stats[i].rhs_evaluations

  bool all_succeeded() const { return gengap::all_succeeded(stats); }
  // "" when all succeeded; otherwise the failure count and the first failing
  // trajectory's index, status and time (solve_stats.hpp).
  std::string failure_summary() const { return gengap::failure_summary(stats); }
};

// x_T ~ pi: n x d, entry (i, j) = sqrt(prior_variance) normal(i d + j) on
// streams::reverse_sde_prior under `seed`.
Matrix prior_sample(const Schedule& schedule, std::size_t n, std::size_t d, std::uint64_t seed);

}  // namespace gengap
