#pragma once
// The ODE driver: integrates a batch of N independent trajectories (rows of an
// N x dim Matrix) of dy/dt = f(t, y) from the pieces beside it: the step of
// an explicit Runge-Kutta tableau (explicit_rk.hpp, rk_tableau.hpp), for
// embedded pairs the PI controller with its per-chunk sharing
// (controller.hpp) and Hairer's starting step (initial_step.hpp), and cubic
// Hermite dense output (dense_output.hpp). Every trajectory has its own time and step size; the
// vector field is evaluated once per stage on all active rows of a chunk, each
// row at its own time. Chunks of `chunk` rows run in parallel (TBB) and each
// chunk's result depends only on its own rows, so results are bitwise
// identical for any thread count.
//
// StepSharing::per_chunk instead steps all active rows of a chunk together:
// one time and one step size per chunk, the error norm the max over the
// chunk's rows, accept/reject for all at once (Hairer's hinit: the smallest of
// the rows' starting steps). A row is then at least as accurate as when
// stepped alone; the field sees every row of a call at one time, which a
// field with costly time-dependent work can share (kernels/detail/random_feature_rows.hpp).
// Statistics and failures stay per row: a row whose stage or state turns
// non-finite stops there and the others go on without it. Chunks are fixed by
// index, so results stay independent of the thread count.
//
// Failures never throw: each trajectory reports a status and the time it
// stopped (SUNDIALS-style statistics per trajectory). Misuse (bad options,
// non-finite initial state) throws InvalidArgument naming the field.
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/solvers/ode/controller.hpp"
#include "gengap/solvers/ode/rk_tableau.hpp"
#include "gengap/solvers/solve_stats.hpp"

namespace gengap {

// Evaluates dy for a batch of rows: t[r] is row r's time, y is rows x dim,
// dy is rows*dim row-major. Must be safe to call concurrently from several
// threads (different chunks) and must depend on each row only.
using VectorField = std::function<void(std::span<const double> t, MatrixView y, std::span<double> dy)>;

// One accepted step of one trajectory: from (t0, y0) with slope f0 = f(t0, y0)
// to (t1, y1) with f1 = f(t1, y1) (the cubic Hermite dense output's data).
struct AcceptedStep {
  std::size_t row = 0;  // the trajectory's index in the initial state
  double t0 = 0.0, t1 = 0.0;
  std::span<const double> y0, f0, y1, f1;
};
// Called after every accepted step, from the thread integrating that row's
// chunk (steps of one row in order; different rows concurrently): an observer
// may write per-row results without locks. It must not throw.
using StepObserver = std::function<void(const AcceptedStep& step)>;

struct IntegrateOptions {
  RkMethod method = RkMethod::dopri5;
  PiController controller;        // adaptive stepping (embedded pairs with fixed_step == 0)
  double t0 = 0.0;
  double t1 = 1.0;                // t1 < t0 integrates backwards
  double initial_step = 0.0;      // |h| of the first adaptive step; 0: Hairer's heuristic per trajectory
  double fixed_step = 0.0;        // > 0: constant |h| (last step shortened to land on t1); required for
                                  // euler/heun/rk4, optional for the embedded pairs (then no error control)
  std::size_t max_steps = 100000; // step attempts (accepted + rejected) per trajectory
  double min_step = 1e-14;        // smallest allowed |h|, relative to |t1 - t0|
  double max_step = 0.0;          // > 0: largest allowed |h| (absolute), adaptive or not; 0: none
  std::size_t chunk = 64;         // rows per parallel work item
  StepSharing sharing = StepSharing::per_trajectory;  // per_chunk: one time and step per chunk (adaptive)
  std::vector<double> save_at;    // output times in [min(t0,t1), max(t0,t1)], any order
  StepObserver on_step;           // optional: sees every accepted step (e.g. a quadrature along the path)

  // InvalidArgument naming the field (method, t0/t1, initial_step,
  // fixed_step, max_steps, min_step, chunk, save_at, controller fields).
  void validate() const;
};

// TrajectoryStats (solve_stats.hpp): rhs_evaluations counts vector-field
// evaluations of the row, the initial-step heuristic's included.
struct IntegrateResult {
  // Row i: the state at t1, or for a failed trajectory its last accepted
  // (finite) state, reached at stats[i].failure_time.
  Matrix final_state;
  // saved[k] is N x dim at save_at[k]. Dense output is cubic Hermite
  // interpolation between the endpoints of the accepted step containing the
  // time, using f at both endpoints: local interpolation error O(h^4)
  // (order 3), independent of the tableau's order. Times a failed trajectory
  // never reached are quiet NaN in its row (its status says why).
  std::vector<Matrix> saved;
  std::vector<TrajectoryStats> stats;
  std::size_t total_rhs_evaluations = 0;

  bool all_succeeded() const { return gengap::all_succeeded(stats); }
  // "" when all succeeded; otherwise the count of failures and the first
  // failing trajectory's index, status and time (solve_stats.hpp).
  std::string failure_summary() const { return gengap::failure_summary(stats); }
};

// initial_state is N x dim (N >= 1, dim >= 1), all finite.
IntegrateResult integrate(const VectorField& field, const Matrix& initial_state, const IntegrateOptions& options);

}  // namespace gengap
