#pragma once
// Log-likelihood by the instantaneous change of variables (docs/math.md §9).
// For each data point x_i, integrate from t_min to T the augmented
// probability-flow ODE (the term: solvers/probability_flow.hpp)
//   dx/dt   = v(x, t) = f(t) x - 1/2 g(t)^2 s(x, t)
//   dell/dt = div_x v = d f(t) - 1/2 g(t)^2 div_x s(x, t),     ell(t_min) = 0
// with the ODE driver (solvers/ode/integrate.hpp), then
//   log p_{t_min}(x_i) = log pi(x_i(T)) + ell_i(T),   bits/dim = -log p / (d ln 2).
//
// The divergence is either exact (a ScoreDivergenceField: the random-feature
// model's closed form, the Gaussian mixture's analytic one) or Hutchinson's
// estimator for any ScoreField: k probes eps_{i,1..k} per point, fixed along
// the trajectory (FFJORD), each with its own accumulator
//   dell_{i,p}/dt = d f(t) - 1/2 g(t)^2 eps_p^T (ds/dx) eps_p,
// the directional derivative (ds/dx) eps by a central difference
//   [s(x + h eps) - s(x - h eps)] / (2 h).
// The estimate is the mean over probes and its standard error the sample
// standard deviation over probes / sqrt(k) (k >= 2; 0 reported for k = 1).
// The error controller sees x and every accumulator: the state is
// [x, ell_1..ell_k, i] (solvers/probability_flow.hpp carries the point index
// i so probes never depend on chunking or threads), and rtol/atol are scaled
// by sqrt((d + k) / (d + k + 1)) so the RMS error norm is that of
// [x, ell_1..ell_k] alone. Evaluation counts (stats, total_rhs_evaluations)
// are vector-field evaluations per point; for Hutchinson each costs 1 + 2k
// score evaluations.
//
// Failures never throw: a point whose trajectory fails (max steps, step
// underflow, non-finite score) gets log_p = NaN and its status; misuse
// (bad options, t_min >= T, non-finite data, wrong shapes) throws
// InvalidArgument naming the field.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/ode/integrate.hpp"
#include "gengap/solvers/probability_flow.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"
#include "gengap/solvers/schedule.hpp"
#include "gengap/solvers/score_field.hpp"

namespace gengap {

class GaussianMixture;
struct RandomFeatures;

// ScoreDivergenceField, ProbeDistribution, HutchinsonOptions and
// streams::hutchinson_probes are declared with the term, in
// solvers/probability_flow.hpp (included above).

// The fields to pass (random_feature_score, mixture_score, empirical_score_field, ...): solvers/score_field.hpp.

// The ODE driver's defaults for a likelihood: dopri5, rtol = atol = 1e-5,
// per_chunk step sharing. per_chunk: the chunk's points share time and step
// (error norm the max over the chunk), so random_feature_score computes
// b + U e(t) once per stage and chunk. On the S1-type random-feature model
// (m = 1024, relu, d = 1, 2; 64-point chunks) it takes ~2.5x the evaluations
// of per-point steps at the same rtol, each ~2.8x cheaper, and is ~2.5x more
// accurate: 2.6-3x faster at matched accuracy
// (benchmarks/likelihood_benchmark.cpp). Chunks of 8-32 points take fewer
// evaluations but share b + U e(t) less: slower.
IntegrateOptions likelihood_ode_defaults();

struct LikelihoodOptions {
  std::optional<double> t_min;      // lower end of [t_min, T]; empty: schedule.t_min
  // The ODE driver's options (solvers/ode/integrate.hpp): method (an
  // embedded pair, or euler/heun/rk4 with fixed_step), controller (rtol,
  // atol, ...), fixed_step, max_steps (step attempts per point), chunk
  // (points per parallel work item), sharing. t0 and t1 are the likelihood's
  // ([t_min, T]) and save_at / on_step its own: leave them at their defaults.
  IntegrateOptions ode = likelihood_ode_defaults();
  // The density at T the trajectories end in: empty means the prior pi
  // (Schedule::log_prior), the definition of the model's likelihood. A test
  // or a reference computation may pass the exact log p_T instead (e.g. the
  // diffused target's): with the exact score of p_t the ODE transports p_T to
  // p_{t_min} exactly, so log p_T(x(T)) + ell(T) = log p_{t_min}(x) with no
  // prior-mismatch term KL(p_T || pi). Called once on all N x d end points
  // (out has N entries); it may run in parallel internally.
  std::function<void(MatrixView x, std::span<double> out)> terminal_log_density;

  // InvalidArgument naming the field: t_min (<= 0, >= T, non-finite), the
  // ode fields by their names (method, rtol, atol, fixed_step, max_steps,
  // chunk, ...), save_at / on_step when set.
  void validate(const Schedule& schedule) const;
};

struct LikelihoodResult {
  std::size_t dim = 0;                 // d
  double t_min = 0.0;                  // the interval actually used
  double T = 0.0;
  std::vector<double> log_p;           // log p_{t_min}(x_i); NaN where the trajectory failed
  std::vector<double> log_p_se;        // Hutchinson: standard error over probes; exact: 0
  std::vector<double> log_prior;       // log pi(x_i(T)) (or options.terminal_log_density)
  std::vector<double> delta_log_p;     // ell_i(T) (mean over probes for Hutchinson)
  Matrix latent;                       // x_i(T), N x d
  std::vector<TrajectoryStats> stats;  // per point (evaluations, steps, status, failure time)
  std::size_t total_rhs_evaluations = 0;

  double bits_per_dim(std::size_t i) const;  // -log_p[i] / (d ln 2)
  // Mean over the points that succeeded; NaN if none did.
  double mean_log_p() const;
  double mean_bits_per_dim() const;
  double mean_evaluations_per_point() const;
  bool all_succeeded() const;
  std::string failure_summary() const;  // "" when all succeeded
};

// data is N x d (N >= 1, finite).
LikelihoodResult log_likelihood(const Schedule& schedule, const ScoreDivergenceField& score, const Matrix& data,
                                const LikelihoodOptions& options);
LikelihoodResult log_likelihood_hutchinson(const Schedule& schedule, const ScoreField& score, const Matrix& data,
                                           const LikelihoodOptions& options, const HutchinsonOptions& hutchinson);

}  // namespace gengap
