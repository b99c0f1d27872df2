#pragma once
// Per-trajectory statistics and status shared by every solver that follows
// independent trajectories (the ODE driver, the likelihood, the samplers):
// SUNDIALS-style counts per trajectory, and a failure is a status and the
// time it happened, never an exception.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace gengap {

enum class TrajectoryStatus { success, max_steps, step_underflow, non_finite };
const char* to_string(TrajectoryStatus status);

struct TrajectoryStats {
  std::size_t rhs_evaluations = 0;  // right-hand-side (vector field or score) evaluations of this trajectory
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  TrajectoryStatus status = TrajectoryStatus::success;
  double failure_time = 0.0;        // the time it stopped at (meaningful when status != success)
};

bool all_succeeded(std::span<const TrajectoryStats> stats);
// "" when all succeeded; otherwise "<failed> of <N> <plural> failed; first:
// <singular> <i> (<status> at t = <time>)", e.g. "2 of 5 points failed;
// first: point 3 (max_steps at t = 0.500000)".
std::string failure_summary(std::span<const TrajectoryStats> stats, std::string_view singular = "trajectory",
                            std::string_view plural = "trajectories");
std::size_t total_rhs_evaluations(std::span<const TrajectoryStats> stats);

}  // namespace gengap
