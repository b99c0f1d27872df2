#pragma once
// Tweedie's denoising of samples at time t with a score s:
//   x_0 = (x + sigma_t^2 s(x, t)) / mu_t  = E[x_0 | x_t = x] under the model
// whose score is s (for the empirical score the softmax-weighted mean of the
// training points; for the denoiser output scale the model's D itself). The
// samplers stop at t_min with the noise sigma_{t_min} still in every
// direction; the studies' memorisation metrics read the denoised points.
#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/schedule.hpp"
#include "gengap/solvers/score_field.hpp"

namespace gengap {

// x (N x d) is replaced row by row; one call of `field` on all rows.
void tweedie_denoise(const Schedule& schedule, const ScoreDivergenceField& field, double t, Matrix& x);

}  // namespace gengap
