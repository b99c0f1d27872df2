#pragma once
// Score fields: the batched callables every solver takes (the samplers, the
// likelihood, the probability-flow ODE), and the library's fields.
//
// A call evaluates a batch of rows, each at its own time: t[r] is row r's
// time, x is rows x d, score is rows*d row-major and (ScoreDivergenceField)
// divergence has `rows` entries, div_x s. A field must be safe to call
// concurrently from several threads (different chunks) and must depend on
// each row only, so results never depend on the batching or the thread count.
// The library's fields accept an empty divergence span (then skipped) and
// give NaN for rows whose x or t is not finite (the solvers flag such rows
// non_finite) instead of throwing; a call with x of the wrong width throws
// InvalidArgument("x").
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/schedule.hpp"
#include "gengap/solvers/smoothed_score.hpp"

namespace gengap {

class GaussianMixture;

using ScoreField = std::function<void(std::span<const double> t, MatrixView x, std::span<double> score)>;
using ScoreDivergenceField = std::function<void(std::span<const double> t, MatrixView x, std::span<double> score,
                                                std::span<double> divergence)>;

// The score part of a ScoreDivergenceField (its divergence computed into
// scratch and dropped): e.g. Hutchinson's estimator or a sampler on a model
// that also has an exact divergence.
ScoreField score_only(ScoreDivergenceField field);

// The random-feature score s_A = c(t)/m A act(W x + U e(t) + b) with its exact
// divergence (docs/math.md §3, §9), c(t) = setup.c(t). A is d x m. Packs copies of
// rf and A once (kernels/random_feature_score.hpp), so neither needs to
// outlive the field. Calls of up to 64 rows (the driver's chunks) run serially
// on the caller's thread with no BLAS and no allocation; larger calls split
// into 64-row blocks over TBB. Each row's result is independent of the
// batching and the thread count (bitwise). Runs of rows at one time
// (StepSharing::per_chunk) compute b + U e(t) and c(t) once.
ScoreDivergenceField random_feature_score(const RandomFeatures& rf, const Matrix& A, const DsmSetup& setup);

// The exact score of the target diffused to time t, p_t = mixture.diffused(mu_t, sigma_t),
// with its analytic divergence (GaussianMixture::diffused_evaluate: each row
// at its own time in O(K d^2), no mixture built per row; batches over 1024
// rows run in parallel). Copies the mixture and schedule.
ScoreDivergenceField mixture_score(const GaussianMixture& target, const Schedule& schedule);

// The empirical score s_n and the smoothed score s_delta (docs/math.md §8) under a
// Schedule: row r at mu_t = schedule.mean_scale(t[r]), sigma_t =
// schedule.std_dev(t[r]) (docs/math.md §1), with the exact divergence
// (kernels/empirical_score.hpp: Var_w(r) / sigma^4 - d / sigma^2; for s_delta
// its average over the kernel), so log_likelihood on s_n integrates an exact
// divergence and sample_reverse_sde (via score_only) reproduces training
// points. The fields share the packed training set (shared_ptr, no copy).
// InvalidArgument "empirical" / "smoothed" if null, or a Schedule field.
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
