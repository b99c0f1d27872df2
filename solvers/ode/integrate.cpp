// The ODE driver (integrate.hpp): the loop over steps of each chunk of rows.
#include "gengap/solvers/ode/integrate.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/solvers/ode/dense_output.hpp"
#include "gengap/solvers/ode/explicit_rk.hpp"
#include "gengap/solvers/ode/initial_step.hpp"
#include "gengap/solvers/detail/finite_rows.hpp"

namespace gengap {

void IntegrateOptions::validate() const {
  const RungeKuttaTableau tableau = gengap::tableau(method);
  controller.validate();
  require(std::isfinite(t0), "t0", "must be finite, got " + std::to_string(t0));
  require(std::isfinite(t1), "t1", "must be finite, got " + std::to_string(t1));
  require(t1 != t0, "t1", "must differ from t0 (" + std::to_string(t0) + ")");
  require(std::isfinite(initial_step) && initial_step >= 0.0, "initial_step",
          "must be finite and >= 0 (0: automatic), got " + std::to_string(initial_step));
  require(std::isfinite(fixed_step) && fixed_step >= 0.0, "fixed_step",
          "must be finite and >= 0, got " + std::to_string(fixed_step));
  require(tableau.adaptive() || fixed_step > 0.0, "fixed_step",
          "must be positive for the fixed-step method '" + std::string(to_string(method)) + "'");
  require(max_steps >= 1, "max_steps", "must be at least 1");
  require(std::isfinite(min_step) && min_step >= 0.0 && min_step < 1.0, "min_step",
          "must be in [0, 1) (relative to |t1 - t0|), got " + std::to_string(min_step));
  require(std::isfinite(max_step) && max_step >= 0.0, "max_step",
          "must be finite and >= 0 (0: no limit), got " + std::to_string(max_step));
  require(chunk >= 1, "chunk", "must be at least 1");
  const double lo = std::min(t0, t1), hi = std::max(t0, t1);
  for (std::size_t k = 0; k < save_at.size(); ++k) {
    require(std::isfinite(save_at[k]) && save_at[k] >= lo && save_at[k] <= hi, "save_at",
            "entry " + std::to_string(k) + " (" + std::to_string(save_at[k]) + ") outside [" + std::to_string(lo) +
                ", " + std::to_string(hi) + "]");
  }
}

namespace {

using detail::all_finite;

// Integrates rows [begin, end) of the batch; touches only those rows of `out`.
// Per iteration: the rows that may step -> their step sizes (limits, the
// last step onto t1) -> the explicit RK step on the packed rows -> the
// controller's accept/reject (shared across the chunk for per_chunk) -> f at
// the new states when the tableau is not FSAL -> dense output, observer,
// next step size.
class ChunkSolver {
 public:
  ChunkSolver(const VectorField& field, const RungeKuttaTableau& tableau, const IntegrateOptions& options,
              const std::vector<double>& save_times, const std::vector<std::size_t>& save_index, std::size_t dim,
              IntegrateResult& out)
      : field_(field), step_(tableau, dim), tab_(step_.tableau()), opt_(options), save_times_(save_times),
        save_index_(save_index), dim_(dim), out_(out), adaptive_(tableau.adaptive() && options.fixed_step == 0.0),
        dir_(options.t1 > options.t0 ? 1.0 : -1.0), span_(std::abs(options.t1 - options.t0)) {}

  void run(const Matrix& initial, std::size_t begin, std::size_t end);

 private:
  // dy for rows `rows` (positions into the gathered buffer y, times t): one
  // field call; counts an evaluation for each row.
  void evaluate(const std::vector<std::size_t>& local_rows, const std::vector<double>& t, const std::vector<double>& y,
                std::vector<double>& dy) {
    const std::size_t m = local_rows.size();
    dy.assign(m * dim_, 0.0);
    if (m == 0) return;
    field_(std::span<const double>(t.data(), m), MatrixView{y.data(), m, dim_}, std::span<double>(dy.data(), m * dim_));
    for (std::size_t r : local_rows) ++stats(r).rhs_evaluations;
  }

  TrajectoryStats& stats(std::size_t local) { return out_.stats[begin_ + local]; }

  void stop(std::size_t local, TrajectoryStatus status, double time) {
    stats(local).status = status;
    stats(local).failure_time = time;
  }

  // Writes save_at values in (t_old, t_new] (integration direction) for row `local`.
  void emit_saves(std::size_t local, double t_old, double h, double t_new, const double* y0, const double* f0,
                  const double* y1, const double* f1) {
    std::size_t& next = next_save_[local];
    while (next < save_times_.size() && dir_ * (save_times_[next] - t_new) <= 0.0) {
      double* dst = out_.saved[save_index_[next]].row(begin_ + local).data();
      hermite_interpolate(save_times_[next], t_old, h, y0, f0, y1, f1, dim_, dst);
      ++next;
    }
  }

  void initial_steps(const std::vector<std::size_t>& rows);

  const VectorField& field_;
  ExplicitRkStep step_;
  const RungeKuttaTableau& tab_;
  const IntegrateOptions& opt_;
  const std::vector<double>& save_times_;
  const std::vector<std::size_t>& save_index_;
  std::size_t dim_;
  IntegrateResult& out_;
  bool adaptive_;
  double dir_, span_;

  std::size_t begin_ = 0;
  std::vector<double> y_, k1_, t_, h_, err_prev_;
  std::vector<std::size_t> next_save_;
};

// Hairer's starting step per row (initial_step.hpp), its probe evaluation
// batched over the rows; per_chunk: the most cautious row's for all.
void ChunkSolver::initial_steps(const std::vector<std::size_t>& rows) {
  const std::size_t m = rows.size();
  std::vector<double> ts(m), ys(m * dim_), dy;
  std::vector<InitialStepProbe> probes(m);
  for (std::size_t p = 0; p < m; ++p) {
    const std::size_t r = rows[p];
    probes[p] = initial_step_probe({&y_[r * dim_], dim_}, {&k1_[r * dim_], dim_}, opt_.controller, span_, dir_,
                                   {&ys[p * dim_], dim_});
    ts[p] = t_[r] + dir_ * probes[p].h0;
  }
  evaluate(rows, ts, ys, dy);
  std::vector<double> steps(m);
  for (std::size_t p = 0; p < m; ++p) {
    const std::size_t r = rows[p];
    steps[p] = initial_step(probes[p], {&y_[r * dim_], dim_}, {&k1_[r * dim_], dim_}, {&dy[p * dim_], dim_},
                            opt_.controller, tab_.order, span_, dir_);
  }
  share_steps(opt_.sharing, steps, dir_);
  for (std::size_t p = 0; p < m; ++p) h_[rows[p]] = steps[p];
}

void ChunkSolver::run(const Matrix& initial, std::size_t begin, std::size_t end) {
  begin_ = begin;
  const std::size_t n = end - begin, s = tab_.stages;
  y_.assign(initial.data() + begin * dim_, initial.data() + end * dim_);
  t_.assign(n, opt_.t0);
  h_.assign(n, dir_ * opt_.fixed_step);
  err_prev_.assign(n, 1.0);
  next_save_.assign(n, 0);

  std::vector<std::size_t> active(n);
  std::iota(active.begin(), active.end(), std::size_t{0});
  for (std::size_t r = 0; r < n; ++r) {  // save_at == t0: the initial state itself
    std::size_t& next = next_save_[r];
    while (next < save_times_.size() && save_times_[next] == opt_.t0) {
      std::copy_n(&y_[r * dim_], dim_, out_.saved[save_index_[next]].row(begin + r).data());
      ++next;
    }
  }

  // k1_ invariant: f(t_r, y_r) for every active row at the top of each iteration.
  evaluate(active, t_, y_, k1_);
  {
    std::vector<std::size_t> ok;
    for (std::size_t r : active) {
      if (all_finite(&k1_[r * dim_], dim_)) ok.push_back(r);
      else stop(r, TrajectoryStatus::non_finite, opt_.t0);
    }
    active.swap(ok);
  }
  if (adaptive_) {
    if (opt_.initial_step > 0.0) {
      for (std::size_t r : active) h_[r] = dir_ * std::min(opt_.initial_step, span_);
    } else {
      initial_steps(active);
    }
  }

  const double min_h = opt_.min_step * span_;
  std::vector<double> Y0, T0, Y1, H, errv(dim_);
  std::vector<char> last;
  std::vector<std::size_t> running, needs_f;
  while (!active.empty()) {
    check_interrupt();
    // The rows that step this iteration and their steps: per-row limits first.
    running.clear();
    H.clear();
    last.clear();
    for (std::size_t r : active) {
      const TrajectoryStats& st = stats(r);
      if (st.accepted + st.rejected >= opt_.max_steps) {
        stop(r, TrajectoryStatus::max_steps, t_[r]);
        continue;
      }
      const double remaining = opt_.t1 - t_[r];
      double h = h_[r];
      if (opt_.max_step > 0.0 && std::abs(h) > opt_.max_step) h = dir_ * opt_.max_step;
      char lands = 0;
      if (std::abs(remaining) <= std::abs(h) * (1.0 + 1e-9)) {
        h = remaining;
        lands = 1;
      } else if (adaptive_ && std::abs(h) < min_h) {
        stop(r, TrajectoryStatus::step_underflow, t_[r]);
        continue;
      }
      running.push_back(r);
      H.push_back(h);
      last.push_back(lands);
    }
    const std::size_t mm = running.size();
    if (mm == 0) break;
    Y0.resize(mm * dim_);
    T0.resize(mm);
    std::vector<double>& K0 = step_.first_slope(mm);
    for (std::size_t p = 0; p < mm; ++p) {
      const std::size_t r = running[p];
      T0[p] = t_[r];
      std::copy_n(&y_[r * dim_], dim_, &Y0[p * dim_]);
      std::copy_n(&k1_[r * dim_], dim_, &K0[p * dim_]);
    }
    // Stages 2..s: one batched field call each, every row at its own time.
    step_.stages(T0, H, Y0, [&](const std::vector<double>& t, const std::vector<double>& y, std::vector<double>& dy) {
      evaluate(running, t, y, dy);
    });
    // Combine, estimate the error; then accept or reject per row.
    Y1.resize(mm * dim_);
    std::vector<double> err(mm, 0.0);
    std::vector<char> accepted(mm, 0), ok(mm, 0);
    needs_f.clear();
    std::vector<std::size_t> needs_pos;
    std::vector<std::size_t> keep;
    for (std::size_t p = 0; p < mm; ++p) {
      double* y1 = &Y1[p * dim_];
      bool finite = step_.propagate(p, H[p], &Y0[p * dim_], y1);
      if (adaptive_ && finite) {
        step_.error_estimate(p, H[p], errv.data());
        err[p] = opt_.controller.error_norm({&Y0[p * dim_], dim_}, {y1, dim_}, errv);
        finite = std::isfinite(err[p]);
      }
      if (!finite) {
        stop(running[p], TrajectoryStatus::non_finite, t_[running[p]]);
        continue;
      }
      ok[p] = 1;
    }
    // per_chunk: every row is judged by the chunk's largest error (rows
    // that went non-finite are out already).
    if (adaptive_) share_errors(opt_.sharing, err, ok);
    for (std::size_t p = 0; p < mm; ++p) {
      if (!ok[p]) continue;
      const std::size_t r = running[p];
      if (adaptive_ && !PiController::accept(err[p])) {
        ++stats(r).rejected;
        h_[r] = H[p] * std::min(1.0, opt_.controller.factor(err[p], err_prev_[r], tab_.error_order));
        keep.push_back(r);
        continue;
      }
      accepted[p] = 1;
      if (!tab_.first_same_as_last && (!last[p] || next_save_[r] < save_times_.size() || opt_.on_step)) {
        needs_f.push_back(r);
        needs_pos.push_back(p);
      }
    }
    // Non-FSAL methods: f at the new states (the next step's first stage, and
    // the Hermite end slope), one batched call.
    std::vector<double> fnew_buf;
    std::vector<std::size_t> fnew_of(mm, 0);
    if (!needs_f.empty()) {
      std::vector<double> tn(needs_f.size()), yn(needs_f.size() * dim_);
      for (std::size_t u = 0; u < needs_f.size(); ++u) {
        const std::size_t p = needs_pos[u];
        tn[u] = last[p] ? opt_.t1 : t_[needs_f[u]] + H[p];
        std::copy_n(&Y1[p * dim_], dim_, &yn[u * dim_]);
        fnew_of[p] = u;
      }
      evaluate(needs_f, tn, yn, fnew_buf);
    }
    for (std::size_t p = 0; p < mm; ++p) {
      if (!accepted[p]) continue;
      const std::size_t r = running[p];
      const double t_old = t_[r];
      const double t_new = last[p] ? opt_.t1 : t_old + H[p];
      const double* fnew = nullptr;
      bool have_f = true;
      if (tab_.first_same_as_last) {
        fnew = step_.slope(s - 1, p);
      } else if (!last[p] || next_save_[r] < save_times_.size() || opt_.on_step) {
        fnew = &fnew_buf[fnew_of[p] * dim_];
      } else {
        have_f = false;  // finished, nothing to interpolate: f at t1 not needed
      }
      ++stats(r).accepted;
      if (have_f && !all_finite(fnew, dim_)) {
        // The new state is finite but the field is not there: stop at t_new.
        std::copy_n(&Y1[p * dim_], dim_, &y_[r * dim_]);
        t_[r] = t_new;
        stop(r, TrajectoryStatus::non_finite, t_new);
        continue;
      }
      const double* f0 = step_.slope(0, p);
      if (have_f) emit_saves(r, t_old, H[p], t_new, &Y0[p * dim_], f0, &Y1[p * dim_], fnew);
      if (opt_.on_step) {
        opt_.on_step(AcceptedStep{begin_ + r, t_old, t_new, {&Y0[p * dim_], dim_}, {f0, dim_},
                                  {&Y1[p * dim_], dim_}, {fnew, dim_}});
      }
      std::copy_n(&Y1[p * dim_], dim_, &y_[r * dim_]);
      if (have_f) std::copy_n(fnew, dim_, &k1_[r * dim_]);
      t_[r] = t_new;
      if (adaptive_) {
        h_[r] = H[p] * opt_.controller.factor(err[p], err_prev_[r], tab_.error_order);
        err_prev_[r] = std::max(err[p], 1e-4);
      }
      if (!last[p]) keep.push_back(r);
    }
    // Preserve local-row order so the work is independent of which rows finished.
    std::sort(keep.begin(), keep.end());
    active.swap(keep);
  }

  for (std::size_t r = 0; r < n; ++r) {
    std::copy_n(&y_[r * dim_], dim_, out_.final_state.row(begin + r).data());
    if (stats(r).status == TrajectoryStatus::success) stats(r).failure_time = opt_.t1;
  }
}

}  // namespace

IntegrateResult integrate(const VectorField& field, const Matrix& initial_state, const IntegrateOptions& options) {
  options.validate();
  require(static_cast<bool>(field), "field", "must be callable");
  require(initial_state.rows() >= 1 && initial_state.cols() >= 1, "initial_state",
          "must be at least 1x1, got " + std::to_string(initial_state.rows()) + "x" +
              std::to_string(initial_state.cols()));
  require_finite(initial_state.flat(), "initial_state");
  const RungeKuttaTableau tableau = gengap::tableau(options.method);
  const std::size_t N = initial_state.rows(), dim = initial_state.cols();
  const double dir = options.t1 > options.t0 ? 1.0 : -1.0;

  // save_at in integration order, remembering each time's output slot.
  std::vector<std::size_t> save_index(options.save_at.size());
  std::iota(save_index.begin(), save_index.end(), std::size_t{0});
  std::stable_sort(save_index.begin(), save_index.end(), [&](std::size_t a, std::size_t b) {
    return dir * options.save_at[a] < dir * options.save_at[b];
  });
  std::vector<double> save_times(save_index.size());
  for (std::size_t k = 0; k < save_index.size(); ++k) save_times[k] = options.save_at[save_index[k]];

  IntegrateResult result;
  result.final_state = initial_state;
  result.saved.assign(options.save_at.size(), Matrix(N, dim, std::numeric_limits<double>::quiet_NaN()));
  result.stats.assign(N, TrajectoryStats{});

  const std::size_t chunks = (N + options.chunk - 1) / options.chunk;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks, 1), [&](const tbb::blocked_range<std::size_t>& range) {
    for (std::size_t c = range.begin(); c != range.end(); ++c) {
      ChunkSolver solver(field, tableau, options, save_times, save_index, dim, result);
      solver.run(initial_state, c * options.chunk, std::min(N, (c + 1) * options.chunk));
    }
  });
  result.total_rhs_evaluations = total_rhs_evaluations(result.stats);
  return result;
}

}  // namespace gengap
