#pragma once
// Pieces every likelihood solve shares (solvers/likelihood.cpp,
// solvers/random_feature_likelihood.cpp): the driver's options, the data
// checks, and the result filled from the driver's output.
#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/ode/integrate.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap::detail {

double resolved_t_min(const Schedule& schedule, const LikelihoodOptions& options);
// N >= 1 points of d >= 1, all finite; InvalidArgument("data") otherwise.
void require_data(const Matrix& data);
// [t_min, T] with the options' method, tolerances (times tolerance_scale), steps and chunks.
IntegrateOptions driver_options(const Schedule& schedule, const LikelihoodOptions& options, double tolerance_scale);
// Everything but log_p / log_p_se / delta_log_p from the driver's result: the
// latent points (the first d columns of the final state), stats and log pi
// (or options.terminal_log_density) at the succeeded end points.
LikelihoodResult start_result(const Schedule& schedule, const LikelihoodOptions& options, const Matrix& data,
                              IntegrateResult&& solved);

}  // namespace gengap::detail
