#pragma once
// The empirical score s_n and the smoothed score s_delta (MATH.md §8) as
// fields of the samplers and the likelihood solver, under a Schedule: row r of
// a call is evaluated at mu_t = schedule.mean_scale(t[r]) and
// sigma_t = schedule.std_dev(t[r]) (MATH.md §1), with the exact divergence
// (kernels/empirical_score.hpp: Var_w(r) / sigma^4 - d / sigma^2; for s_delta
// its average over the kernel), so log_likelihood on s_n integrates an exact
// divergence and sample_reverse_sde (via score_only) reproduces training points.
//
// The fields share the packed training set (shared_ptr, no copy per field),
// accept an empty divergence span (skipped), and give NaN outputs for rows
// whose x is not finite (the solvers flag such rows non_finite) instead of
// throwing; every other row is evaluated as usual. Results per row are
// bitwise independent of the thread count and of the batching.
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/probability_flow.hpp"
#include "gengap/solvers/schedule.hpp"
#include "gengap/solvers/smoothed_score.hpp"

namespace gengap {

// s_n with its exact divergence. InvalidArgument "empirical" if null, or a
// Schedule field. Calls throw InvalidArgument("x") on a wrong width.
ScoreDivergenceField empirical_score_field(std::shared_ptr<const EmpiricalScore> empirical, const Schedule& schedule,
                                           const EmpiricalScoreOptions& options = {});
// Convenience: packs `training` (n x d) once into a shared EmpiricalScore.
ScoreDivergenceField empirical_score_field(MatrixView training, const Schedule& schedule);

// s_delta with E_u[div s_n(x + u)] as its divergence.
ScoreDivergenceField smoothed_score_field(std::shared_ptr<const SmoothedScore> smoothed, const Schedule& schedule);

// x (N x d) -> log p_t^n(x) at one time t: e.g. the exact terminal density
// log p_T^n for LikelihoodOptions::terminal_log_density, with which the
// probability-flow ODE on s_n transports p_T^n to p_{t_min}^n exactly.
std::function<void(MatrixView x, std::span<double> out)> empirical_log_density(
    std::shared_ptr<const EmpiricalScore> empirical, const Schedule& schedule, double t);

}  // namespace gengap
