// Trajectory statistics (solve_stats.hpp).
#include "gengap/solvers/solve_stats.hpp"

#include <algorithm>

namespace gengap {

const char* to_string(TrajectoryStatus status) {
  switch (status) {
    case TrajectoryStatus::success: return "success";
    case TrajectoryStatus::max_steps: return "max_steps";
    case TrajectoryStatus::step_underflow: return "step_underflow";
    case TrajectoryStatus::non_finite: return "non_finite";
  }
  return "unknown";
}

bool all_succeeded(std::span<const TrajectoryStats> stats) {
  return std::all_of(stats.begin(), stats.end(),
                     [](const TrajectoryStats& s) { return s.status == TrajectoryStatus::success; });
}

std::string failure_summary(std::span<const TrajectoryStats> stats, std::string_view singular,
                            std::string_view plural) {
  std::size_t failed = 0, first = stats.size();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    if (stats[i].status != TrajectoryStatus::success && failed++ == 0) first = i;
  }
  if (failed == 0) return "";
  return std::to_string(failed) + " of " + std::to_string(stats.size()) + " " + std::string(plural) +
         " failed; first: " + std::string(singular) + " " + std::to_string(first) + " (" +
         to_string(stats[first].status) + " at t = " + std::to_string(stats[first].failure_time) + ")";
}

std::size_t total_rhs_evaluations(std::span<const TrajectoryStats> stats) {
  std::size_t total = 0;
  for (const TrajectoryStats& s : stats) total += s.rhs_evaluations;
  return total;
}

}  // namespace gengap
