#pragma once
// The term of the likelihood solve (docs/math.md §9, STYLE.md "term"): the
// probability-flow vector field v(x, t) = f(t) x - 1/2 g(t)^2 s(x, t)
// augmented with its divergence, as a VectorField for the ODE driver
// (solvers/ode/integrate.hpp). The driver owns stepping, error control and
// failure reporting; these fields only evaluate derivatives.
//
// Exact divergence, state row [x (d), ell] (width d + 1):
//   dx/dt   = f(t) x - 1/2 g(t)^2 s(x, t)
//   dell/dt = d f(t) - 1/2 g(t)^2 div_x s(x, t)
//
// Hutchinson's estimator, state row [x (d), ell_1 .. ell_k, i] (width d + k + 1):
//   dell_p/dt = d f(t) - 1/2 g(t)^2 eps_{i,p}^T (ds/dx) eps_{i,p},   d i/dt = 0,
// where i is the point's index, carried as a constant state entry so the
// probes are addressed by (point, probe, coordinate) only, independent of
// chunking, active-row compaction and thread count:
//   eps_{i,p,j} = probe((i k + p) d + j) on streams::hutchinson_probes,
// Rademacher (sign of uniform - 1/2) or standard Gaussian. The directional
// derivative is the central difference
//   (ds/dx) eps ~ [s(x + h eps, t) - s(x - h eps, t)] / (2 h),
// with h = difference_step, or h = cbrt(machine eps) * max(1, |x|_inf) per
// row when difference_step = 0 (balances the O(h^2) truncation error against
// the O(eps |s| / h) rounding error: ~1e-11 relative for smooth scores).
// The index entry has zero derivative, so it is carried exactly by any
// explicit Runge-Kutta step and contributes zero to the error estimate.
//
// Rows whose x is not finite (a stage of a diverging step) get NaN
// derivatives without calling the score, so the driver flags them
// non_finite; the score only ever sees finite rows.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/ode/integrate.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

namespace streams {
inline constexpr std::uint64_t hutchinson_probes = 22;  // probe vectors of Hutchinson's estimator
}  // namespace streams

// ScoreField, ScoreDivergenceField and score_only: solvers/score_field.hpp.

enum class ProbeDistribution { rademacher, gaussian };
ProbeDistribution parse_probe_distribution(std::string_view name);  // "rademacher" | "gaussian"
std::string_view to_string(ProbeDistribution distribution);

struct HutchinsonOptions {
  std::size_t probes = 1;                                   // k
  ProbeDistribution distribution = ProbeDistribution::rademacher;
  std::uint64_t seed = 0;                                   // probes on streams::hutchinson_probes
  double difference_step = 0.0;                             // h; 0: cbrt(machine eps) * max(1, |x|_inf) per point

  void validate() const;  // InvalidArgument naming "probes", "difference_step", "distribution"
};

// Entry `index` of the probe stream: +-1 (Rademacher) or N(0, 1) (Gaussian).
double hutchinson_probe(const CounterRng& rng, ProbeDistribution distribution, std::uint64_t index);

// The exact-divergence field for d-dimensional data (state width d + 1).
// Copies the schedule and the score callable.
VectorField probability_flow_field(const Schedule& schedule, ScoreDivergenceField score, std::size_t d);

// Hutchinson's field (state width d + k + 1, k = hutchinson.probes; the last
// entry of each row must hold its point index as a double). One score call per
// evaluation on rows * (1 + 2k) points: x and x +- h eps_p.
VectorField hutchinson_flow_field(const Schedule& schedule, ScoreField score, std::size_t d,
                                  const HutchinsonOptions& hutchinson);

}  // namespace gengap
