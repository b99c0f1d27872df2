#include "gengap/solvers/integrate.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/solvers/rk_tableau.hpp"

namespace gengap {

void IntegrateOptions::validate() const {
  const RungeKuttaTableau tableau = tableau_by_name(method);  // throws naming "method"
  controller.validate();
  require(std::isfinite(t0), "t0", "must be finite, got " + std::to_string(t0));
  require(std::isfinite(t1), "t1", "must be finite, got " + std::to_string(t1));
  require(t1 != t0, "t1", "must differ from t0 (" + std::to_string(t0) + ")");
  require(std::isfinite(initial_step) && initial_step >= 0.0, "initial_step",
          "must be finite and >= 0 (0: automatic), got " + std::to_string(initial_step));
  require(std::isfinite(fixed_step) && fixed_step >= 0.0, "fixed_step",
          "must be finite and >= 0, got " + std::to_string(fixed_step));
  require(tableau.adaptive() || fixed_step > 0.0, "fixed_step",
          "must be positive for the fixed-step method '" + method + "'");
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

const char* to_string(TrajectoryStatus status) {
  switch (status) {
    case TrajectoryStatus::success: return "success";
    case TrajectoryStatus::max_steps: return "max_steps";
    case TrajectoryStatus::step_underflow: return "step_underflow";
    case TrajectoryStatus::non_finite: return "non_finite";
  }
  return "unknown";
}

const char* to_string(StepSharing sharing) {
  switch (sharing) {
    case StepSharing::per_trajectory: return "per_trajectory";
    case StepSharing::per_chunk: return "per_chunk";
  }
  return "unknown";
}

StepSharing parse_step_sharing(const std::string& name) {
  if (name == "per_trajectory") return StepSharing::per_trajectory;
  if (name == "per_chunk") return StepSharing::per_chunk;
  throw InvalidArgument("sharing", "expected per_trajectory or per_chunk, got '" + name + "'");
}

bool IntegrateResult::all_succeeded() const {
  return std::all_of(stats.begin(), stats.end(),
                     [](const TrajectoryStats& s) { return s.status == TrajectoryStatus::success; });
}

std::string IntegrateResult::failure_summary() const {
  std::size_t failed = 0, first = stats.size();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    if (stats[i].status != TrajectoryStatus::success) {
      if (failed++ == 0) first = i;
    }
  }
  if (failed == 0) return "";
  return std::to_string(failed) + " of " + std::to_string(stats.size()) + " trajectories failed; first: trajectory " +
         std::to_string(first) + " " + to_string(stats[first].status) + " at t = " +
         std::to_string(stats[first].failure_time);
}

namespace {

bool all_finite(const double* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

// Integrates rows [begin, end) of the batch; touches only those rows of `out`.
class ChunkSolver {
 public:
  ChunkSolver(const VectorField& field, const RungeKuttaTableau& tableau, const IntegrateOptions& options,
              const std::vector<double>& save_times, const std::vector<std::size_t>& save_index, std::size_t dim,
              IntegrateResult& out)
      : field_(field), tab_(tableau), opt_(options), save_times_(save_times), save_index_(save_index), dim_(dim),
        out_(out), adaptive_(tableau.adaptive() && options.fixed_step == 0.0),
        shared_(options.sharing == StepSharing::per_chunk),
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

  // Writes save_at values in (t_old, t_new] (integration direction) for row
  // `local` by cubic Hermite interpolation on [t_old, t_old + h].
  void emit_saves(std::size_t local, double t_old, double h, double t_new, const double* y0, const double* f0,
                  const double* y1, const double* f1) {
    std::size_t& next = next_save_[local];
    while (next < save_times_.size() && dir_ * (save_times_[next] - t_new) <= 0.0) {
      const double s = (save_times_[next] - t_old) / h;
      const double s2 = s * s, s3 = s2 * s;
      const double h00 = 2 * s3 - 3 * s2 + 1, h10 = s3 - 2 * s2 + s, h01 = -2 * s3 + 3 * s2, h11 = s3 - s2;
      double* dst = out_.saved[save_index_[next]].row(begin_ + local).data();
      for (std::size_t j = 0; j < dim_; ++j) dst[j] = h00 * y0[j] + h10 * h * f0[j] + h01 * y1[j] + h11 * h * f1[j];
      ++next;
    }
  }

  void initial_steps(const std::vector<std::size_t>& rows);

  const VectorField& field_;
  const RungeKuttaTableau& tab_;
  const IntegrateOptions& opt_;
  const std::vector<double>& save_times_;
  const std::vector<std::size_t>& save_index_;
  std::size_t dim_;
  IntegrateResult& out_;
  bool adaptive_;
  bool shared_;  // StepSharing::per_chunk
  double dir_, span_;

  std::size_t begin_ = 0;
  std::vector<double> y_, k1_, t_, h_, err_prev_;
  std::vector<std::size_t> next_save_;
};

// Hairer, Norsett & Wanner, Solving ODEs I, II.4 (the starting step of
// DOPRI5's hinit), per row with one extra batched evaluation.
void ChunkSolver::initial_steps(const std::vector<std::size_t>& rows) {
  const std::size_t m = rows.size();
  const PiController& c = opt_.controller;
  std::vector<double> ts(m), ys(m * dim_), dy, h0(m), d1(m);
  for (std::size_t p = 0; p < m; ++p) {
    const std::size_t r = rows[p];
    const double* y = &y_[r * dim_];
    const double* f = &k1_[r * dim_];
    double s0 = 0.0, s1 = 0.0;
    for (std::size_t j = 0; j < dim_; ++j) {
      const double sc = c.atol + c.rtol * std::abs(y[j]);
      s0 += (y[j] / sc) * (y[j] / sc);
      s1 += (f[j] / sc) * (f[j] / sc);
    }
    const double d0 = std::sqrt(s0 / static_cast<double>(dim_));
    d1[p] = std::sqrt(s1 / static_cast<double>(dim_));
    h0[p] = std::min((d0 < 1e-5 || d1[p] < 1e-5) ? 1e-6 : 0.01 * d0 / d1[p], span_);
    ts[p] = t_[r] + dir_ * h0[p];
    for (std::size_t j = 0; j < dim_; ++j) ys[p * dim_ + j] = y[j] + dir_ * h0[p] * f[j];
  }
  evaluate(rows, ts, ys, dy);
  for (std::size_t p = 0; p < m; ++p) {
    const std::size_t r = rows[p];
    const double* y = &y_[r * dim_];
    const double* f = &k1_[r * dim_];
    double s2 = 0.0;
    for (std::size_t j = 0; j < dim_; ++j) {
      const double sc = c.atol + c.rtol * std::abs(y[j]);
      const double d = (dy[p * dim_ + j] - f[j]) / sc;
      s2 += d * d;
    }
    const double d2 = std::sqrt(s2 / static_cast<double>(dim_)) / h0[p];
    const double dmax = std::max(d1[p], d2);
    double h = h0[p];
    if (std::isfinite(dmax)) {
      const double h1 = dmax <= 1e-15 ? std::max(1e-6, h0[p] * 1e-3)
                                      : std::pow(0.01 / dmax, 1.0 / static_cast<double>(tab_.order + 1));
      h = std::min(100.0 * h0[p], h1);
    }
    h_[r] = dir_ * std::min(h, span_);
  }
  if (shared_ && m > 0) {  // one step for the chunk: the most cautious row's
    double h = h_[rows[0]];
    for (std::size_t r : rows) h = dir_ * std::min(dir_ * h, dir_ * h_[r]);
    for (std::size_t r : rows) h_[r] = h;
  }
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
  std::vector<std::vector<double>> K(s);
  std::vector<double> Y0, Ys, Ts, Y1, H, errv(dim_), dy;
  std::vector<char> last;
  std::vector<std::size_t> running, needs_f;
  while (!active.empty()) {
    // Per-row limits before attempting a step.
    running.clear();
    for (std::size_t r : active) {
      const TrajectoryStats& st = stats(r);
      if (st.accepted + st.rejected >= opt_.max_steps) {
        stop(r, TrajectoryStatus::max_steps, t_[r]);
        continue;
      }
      running.push_back(r);
    }
    const std::size_t m = running.size();
    H.assign(m, 0.0);
    last.assign(m, 0);
    std::vector<std::size_t> stepping;
    stepping.reserve(m);
    for (std::size_t p = 0; p < m; ++p) {
      const std::size_t r = running[p];
      const double remaining = opt_.t1 - t_[r];
      double h = h_[r];
      if (opt_.max_step > 0.0 && std::abs(h) > opt_.max_step) h = dir_ * opt_.max_step;
      if (std::abs(remaining) <= std::abs(h) * (1.0 + 1e-9)) {
        h = remaining;
        last[p] = 1;
      } else if (adaptive_ && std::abs(h) < min_h) {
        stop(r, TrajectoryStatus::step_underflow, t_[r]);
        continue;
      }
      H[p] = h;
      stepping.push_back(p);
    }
    // Compact to the rows that actually step this iteration.
    {
      std::vector<std::size_t> rows;
      std::vector<double> Hc;
      std::vector<char> lastc;
      for (std::size_t p : stepping) {
        rows.push_back(running[p]);
        Hc.push_back(H[p]);
        lastc.push_back(last[p]);
      }
      running.swap(rows);
      H.swap(Hc);
      last.swap(lastc);
    }
    const std::size_t mm = running.size();
    if (mm == 0) break;
    Y0.resize(mm * dim_);
    K[0].resize(mm * dim_);
    for (std::size_t p = 0; p < mm; ++p) {
      const std::size_t r = running[p];
      std::copy_n(&y_[r * dim_], dim_, &Y0[p * dim_]);
      std::copy_n(&k1_[r * dim_], dim_, &K[0][p * dim_]);
    }
    // Stages 2..s: one batched field call each, every row at its own time.
    Ts.resize(mm);
    Ys.resize(mm * dim_);
    for (std::size_t i = 1; i < s; ++i) {
      for (std::size_t p = 0; p < mm; ++p) {
        const std::size_t r = running[p];
        Ts[p] = t_[r] + tab_.c[i] * H[p];
        double* yi = &Ys[p * dim_];
        std::copy_n(&Y0[p * dim_], dim_, yi);
        for (std::size_t j = 0; j < i; ++j) {
          const double a = tab_.a_at(i, j) * H[p];
          if (a == 0.0) continue;
          const double* kj = &K[j][p * dim_];
          for (std::size_t q = 0; q < dim_; ++q) yi[q] += a * kj[q];
        }
      }
      evaluate(running, Ts, Ys, K[i]);
    }
    // Combine, estimate error, accept or reject per row.
    Y1.resize(mm * dim_);
    std::vector<double> err(mm, 0.0);
    std::vector<char> accepted(mm, 0), ok(mm, 0);
    needs_f.clear();
    std::vector<std::size_t> needs_pos;
    std::vector<std::size_t> keep;
    for (std::size_t p = 0; p < mm; ++p) {
      const std::size_t r = running[p];
      bool finite = true;
      for (std::size_t i = 1; i < s && finite; ++i) finite = all_finite(&K[i][p * dim_], dim_);
      double* y1 = &Y1[p * dim_];
      std::copy_n(&Y0[p * dim_], dim_, y1);
      for (std::size_t i = 0; i < s; ++i) {
        const double b = tab_.b[i] * H[p];
        if (b == 0.0) continue;
        for (std::size_t q = 0; q < dim_; ++q) y1[q] += b * K[i][p * dim_ + q];
      }
      finite = finite && all_finite(y1, dim_);
      if (adaptive_ && finite) {
        std::fill(errv.begin(), errv.end(), 0.0);
        for (std::size_t i = 0; i < s; ++i) {
          const double e = tab_.b_error[i] * H[p];
          if (e == 0.0) continue;
          for (std::size_t q = 0; q < dim_; ++q) errv[q] += e * K[i][p * dim_ + q];
        }
        err[p] = opt_.controller.error_norm({&Y0[p * dim_], dim_}, {y1, dim_}, errv);
        finite = std::isfinite(err[p]);
      }
      if (!finite) {
        stop(r, TrajectoryStatus::non_finite, t_[r]);
        continue;
      }
      ok[p] = 1;
    }
    // per_chunk: every row is judged by the chunk's largest error (rows
    // that went non-finite are out already).
    if (adaptive_ && shared_) {
      double worst = 0.0;
      for (std::size_t p = 0; p < mm; ++p)
        if (ok[p]) worst = std::max(worst, err[p]);
      for (std::size_t p = 0; p < mm; ++p) err[p] = worst;
    }
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
        fnew = &K[s - 1][p * dim_];
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
      if (have_f) emit_saves(r, t_old, H[p], t_new, &Y0[p * dim_], &K[0][p * dim_], &Y1[p * dim_], fnew);
      if (opt_.on_step) {
        opt_.on_step(AcceptedStep{begin_ + r, t_old, t_new, {&Y0[p * dim_], dim_}, {&K[0][p * dim_], dim_},
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
  const RungeKuttaTableau tableau = tableau_by_name(options.method);
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
  for (const TrajectoryStats& s : result.stats) result.total_rhs_evaluations += s.rhs_evaluations;
  return result;
}

}  // namespace gengap
