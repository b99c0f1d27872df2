// The reverse-SDE samplers (reverse_sde.hpp): the fixed-step and the
// adaptive loop over a chunk of rows.
#include "gengap/solvers/sde/reverse_sde.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/sde/brownian_path.hpp"
#include "gengap/solvers/sde/steppers.hpp"
#include "gengap/solvers/detail/finite_rows.hpp"

namespace gengap {
namespace {

using detail::all_finite;

using Method = ReverseSdeMethod;

// Gotta Go Fast's step-size exponent (their r = 0.9, between the 1/2 of an
// order-1/2 local error and the 1 of an order-1 one).
constexpr double step_exponent = 0.9;
// Their default initial step 0.01 for T = 1, taken relative to T - t_min.
constexpr double initial_step_fraction = 0.01;
// An adaptive step below this fraction of T - t_min cannot make progress in
// double precision on t ~ T.
constexpr double min_step_fraction = 1e-12;

struct Setup {
  const Schedule& schedule;
  const ScoreField& score;
  std::size_t d;
  Method method;
  const ReverseSdeOptions& options;
  std::uint64_t stride;  // K of the noise index (i K + k) d + j
  CounterRng noise;
};

// The fixed-step methods on rows [first, last): all rows share the grid
// t_k = T - k h; each step evaluates the score on the chunk's active rows in
// one call per stage. Buffers are allocated once per chunk.
void fixed_step_chunk(const Setup& s, std::size_t first, std::size_t last, SampleResult& result) {
  const std::size_t d = s.d;
  const std::size_t rows = last - first;
  const double t_min = s.schedule.t_min;
  const std::size_t steps = s.options.steps;
  const bool heun = s.method == Method::stochastic_heun;
  const double h = (s.schedule.T - t_min) / static_cast<double>(steps);

  std::vector<char> active(rows, 1);
  std::vector<std::size_t> index;                  // chunk-local row of each packed active row
  std::vector<double> ta(rows), tb(rows);          // stage times of the packed rows
  std::vector<double> xa(rows * d), xb(rows * d);  // stage states (x, x')
  std::vector<double> sa(rows * d), sb(rows * d);  // scores at them
  index.reserve(rows);

  auto fail = [&](std::size_t r, double time) {
    auto& st = result.stats[first + r];
    st.status = TrajectoryStatus::non_finite;
    st.failure_time = time;
    active[r] = 0;
  };

  for (std::size_t k = 0; k < steps; ++k) {
    check_interrupt();
    const double t = s.schedule.T - static_cast<double>(k) * h;
    const bool last_step = k + 1 == steps;
    const double next = last_step ? t_min : t - h;  // the grid lands exactly on t_min
    const double step = last_step ? t - t_min : h;
    const bool quiet = last_step && s.options.denoise_last_step;
    const double f0 = s.schedule.drift(t), g20 = s.schedule.diffusion_squared(t);
    const double f1 = s.schedule.drift(next), g21 = s.schedule.diffusion_squared(next);
    const double em_noise = quiet ? 0.0 : std::sqrt(g20 * step);
    const double heun_noise = quiet ? 0.0 : 0.5 * (std::sqrt(g20) + std::sqrt(g21)) * std::sqrt(step);

    index.clear();
    for (std::size_t r = 0; r < rows; ++r)
      if (active[r]) index.push_back(r);
    const std::size_t na = index.size();
    if (na == 0) break;
    for (std::size_t a = 0; a < na; ++a) {
      ta[a] = t;
      const double* x = result.samples.row(first + index[a]).data();
      std::copy(x, x + d, xa.data() + a * d);
    }
    s.score({ta.data(), na}, MatrixView{xa.data(), na, d}, {sa.data(), na * d});

    // Stage 1: the Euler-Maruyama step x' (Heun: its predictor, same z).
    std::size_t nb = 0;
    for (std::size_t a = 0; a < na; ++a) {
      const std::size_t r = index[a];
      const std::size_t i = first + r;
      ++result.stats[i].rhs_evaluations;
      if (!all_finite(sa.data() + a * d, d)) {
        fail(r, t);
        continue;
      }
      const std::uint64_t base = (static_cast<std::uint64_t>(i) * s.stride + k) * d;
      const double* x = xa.data() + a * d;
      const double* sc = sa.data() + a * d;
      double* xp = xb.data() + nb * d;
      for (std::size_t j = 0; j < d; ++j) {
        const double zj = quiet ? 0.0 : s.noise.normal(base + j);
        xp[j] = sde::euler_maruyama_step(x[j], sc[j], f0, g20, step, em_noise * zj);
      }
      if (!all_finite(xp, d)) {
        fail(r, next);
        continue;
      }
      if (!heun) {
        std::copy(xp, xp + d, result.samples.row(i).data());
        ++result.stats[i].accepted;
        continue;
      }
      if (nb != a) {  // pack the healthy rows for stage 2
        std::copy(xa.data() + a * d, xa.data() + (a + 1) * d, xa.data() + nb * d);
        std::copy(sa.data() + a * d, sa.data() + (a + 1) * d, sa.data() + nb * d);
        index[nb] = r;
      }
      tb[nb++] = next;
    }
    if (!heun || nb == 0) continue;

    // Stage 2: x'' = x - 1/2 [D(x, t) + D(x', t - h)] h + 1/2 [g(t) + g(t - h)] sqrt(h) z.
    s.score({tb.data(), nb}, MatrixView{xb.data(), nb, d}, {sb.data(), nb * d});
    for (std::size_t a = 0; a < nb; ++a) {
      const std::size_t r = index[a];
      const std::size_t i = first + r;
      ++result.stats[i].rhs_evaluations;
      if (!all_finite(sb.data() + a * d, d)) {
        fail(r, next);
        continue;
      }
      const std::uint64_t base = (static_cast<std::uint64_t>(i) * s.stride + k) * d;
      const double* x = xa.data() + a * d;
      const double* xp = xb.data() + a * d;
      const double* s0 = sa.data() + a * d;
      const double* s1 = sb.data() + a * d;
      double* out = result.samples.row(i).data();
      double* xpp = xb.data() + a * d;  // overwrites x' in place: each j reads xp[j] before writing it
      bool finite = true;
      for (std::size_t j = 0; j < d; ++j) {
        const double zj = quiet ? 0.0 : s.noise.normal(base + j);
        xpp[j] = sde::stochastic_heun_step(x[j], s0[j], f0, g20, xp[j], s1[j], f1, g21, step, heun_noise * zj);
        finite = finite && std::isfinite(xpp[j]);
      }
      if (!finite) {
        fail(r, next);
        continue;
      }
      std::copy(xpp, xpp + d, out);
      ++result.stats[i].accepted;
    }
  }
}

// The adaptive sampler on rows [first, last) (see the header): Gotta Go
// Fast's EM / improved-Euler pair with its error norm and step update, on
// Brownian paths kept consistent across rejections (sde/brownian_path.hpp).
void adaptive_chunk(const Setup& s, std::size_t first, std::size_t last, SampleResult& result) {
  const std::size_t d = s.d;
  const std::size_t rows = last - first;
  const double t_min = s.schedule.t_min;
  const double span = s.schedule.T - t_min;
  const double rtol = s.options.rtol, atol = s.options.atol;
  const double min_step = min_step_fraction * span;

  std::vector<double> t(rows, s.schedule.T);
  std::vector<std::size_t> attempt(rows, 0);
  std::vector<char> active(rows, 1);
  BrownianPaths path(s.noise, s.stride, first, rows, d);
  std::vector<std::size_t> index;
  std::vector<double> ta(rows), tb(rows), xa(rows * d), xb(rows * d), sa(rows * d), sb(rows * d), xpp(d);
  index.reserve(rows);

  auto fail = [&](std::size_t r, TrajectoryStatus status, double time) {
    auto& st = result.stats[first + r];
    st.status = status;
    st.failure_time = time;
    active[r] = 0;
  };

  for (std::size_t r = 0; r < rows; ++r) path.start(r, initial_step_fraction * span);

  for (;;) {
    check_interrupt();
    index.clear();
    for (std::size_t r = 0; r < rows; ++r) {
      if (!active[r]) continue;
      if (attempt[r] >= s.options.max_steps) {
        fail(r, TrajectoryStatus::max_steps, t[r]);
        continue;
      }
      index.push_back(r);
    }
    const std::size_t na = index.size();
    if (na == 0) break;

    for (std::size_t a = 0; a < na; ++a) {
      const std::size_t r = index[a];
      ta[a] = t[r];
      const double* x = result.samples.row(first + r).data();
      std::copy(x, x + d, xa.data() + a * d);
    }
    s.score({ta.data(), na}, MatrixView{xa.data(), na, d}, {sa.data(), na * d});

    // Stage 1: the Euler-Maruyama proposal x' (with its noise) into xb.
    std::size_t nb = 0;
    for (std::size_t a = 0; a < na; ++a) {
      const std::size_t r = index[a];
      ++result.stats[first + r].rhs_evaluations;
      if (!all_finite(sa.data() + a * d, d)) {
        fail(r, TrajectoryStatus::non_finite, t[r]);
        continue;
      }
      const double step = path.length(r);
      // Pieces of a step clipped to t_min sum to it only up to rounding: snap.
      const double next = t[r] - step - t_min <= min_step ? t_min : t[r] - step;
      const double f = s.schedule.drift(t[r]), g2 = s.schedule.diffusion_squared(t[r]), g = std::sqrt(g2);
      const double* x = xa.data() + a * d;
      const double* sc = sa.data() + a * d;
      const double* w = path.increment(r);
      double* xp = xb.data() + nb * d;
      for (std::size_t j = 0; j < d; ++j) xp[j] = sde::euler_maruyama_step(x[j], sc[j], f, g2, step, g * w[j]);
      if (!all_finite(xp, d)) {
        fail(r, TrajectoryStatus::non_finite, next);
        continue;
      }
      // Pack the healthy rows for stage 2.
      if (nb != a) {
        std::copy(xa.data() + a * d, xa.data() + (a + 1) * d, xa.data() + nb * d);
        std::copy(sa.data() + a * d, sa.data() + (a + 1) * d, sa.data() + nb * d);
        ta[nb] = ta[a];
        index[nb] = r;
      }
      tb[nb] = next;
      ++nb;
    }
    if (nb == 0) continue;
    s.score({tb.data(), nb}, MatrixView{xb.data(), nb, d}, {sb.data(), nb * d});

    // Stage 2: the improved-Euler step x'', the error of x' against it, the
    // decision and the next increment.
    for (std::size_t a = 0; a < nb; ++a) {
      const std::size_t r = index[a];
      const std::size_t i = first + r;
      auto& st = result.stats[i];
      ++st.rhs_evaluations;
      const std::size_t k = attempt[r]++;
      if (!all_finite(sb.data() + a * d, d)) {
        fail(r, TrajectoryStatus::non_finite, tb[a]);
        continue;
      }
      const double step = path.length(r);
      const double f0 = s.schedule.drift(ta[a]), g20 = s.schedule.diffusion_squared(ta[a]);
      const double f1 = s.schedule.drift(tb[a]), g21 = s.schedule.diffusion_squared(tb[a]);
      const double g_mean = 0.5 * (std::sqrt(g20) + std::sqrt(g21));
      const double* x = xa.data() + a * d;
      const double* xp = xb.data() + a * d;
      const double* s0 = sa.data() + a * d;
      const double* s1 = sb.data() + a * d;
      const double* w = path.increment(r);
      double error_sq = 0.0;
      bool finite = true;
      for (std::size_t j = 0; j < d; ++j) {
        xpp[j] = sde::stochastic_heun_step(x[j], s0[j], f0, g20, xp[j], s1[j], f1, g21, step, g_mean * w[j]);
        finite = finite && std::isfinite(xpp[j]);
        const double delta = std::max(atol, rtol * std::max(std::abs(xp[j]), std::abs(x[j])));
        const double e = (xp[j] - xpp[j]) / delta;
        error_sq += e * e;
      }
      if (!finite) {
        fail(r, TrajectoryStatus::non_finite, tb[a]);
        continue;
      }
      const double error = std::sqrt(error_sq / static_cast<double>(d));
      // E = 0 (e.g. a locally linear drift and no noise) lets the step run to t_min.
      const double proposal = error > 0.0 ? step * s.options.safety * std::pow(error, -step_exponent)
                                          : std::numeric_limits<double>::infinity();
      if (error > 1.0) {
        ++st.rejected;
        if (proposal < min_step) {
          fail(r, TrajectoryStatus::step_underflow, t[r]);
          continue;
        }
        path.shorten(r, proposal, k + 1);
        continue;
      }
      ++st.accepted;
      std::copy(xpp.begin(), xpp.end(), result.samples.row(i).data());
      t[r] = tb[a];
      if (t[r] == t_min) {
        active[r] = 0;
        continue;
      }
      if (!path.next(r, proposal, t[r] - t_min, min_step, k + 1)) fail(r, TrajectoryStatus::step_underflow, t[r]);
    }
  }
}

}  // namespace

constexpr EnumName<ReverseSdeMethod> reverse_sde_method_names[] = {
    {ReverseSdeMethod::euler_maruyama, "euler_maruyama"},
    {ReverseSdeMethod::stochastic_heun, "stochastic_heun"},
    {ReverseSdeMethod::adaptive, "adaptive"}};

const char* to_string(ReverseSdeMethod method) {
  return enum_name(method, reverse_sde_method_names, "method", "ReverseSdeMethod").data();
}

ReverseSdeMethod parse_reverse_sde_method(const std::string& name) {
  return parse_enum_name(name, reverse_sde_method_names, "method", "sampler method");
}

void ReverseSdeOptions::validate() const {
  require(steps >= 1, "steps", "must be at least 1, got 0");
  require(std::isfinite(rtol) && rtol > 0.0, "rtol", "must be positive and finite, got " + std::to_string(rtol));
  require(std::isfinite(atol) && atol > 0.0, "atol", "must be positive and finite, got " + std::to_string(atol));
  require(std::isfinite(safety) && safety > 0.0 && safety <= 1.0, "safety",
          "must be in (0, 1], got " + std::to_string(safety));
  require(max_steps >= 1, "max_steps", "must be at least 1, got 0");
  require(chunk >= 1, "chunk", "must be at least 1, got 0");
}

SampleResult sample_reverse_sde(const Schedule& schedule, const ScoreField& score, std::size_t n, std::size_t d,
                                const ReverseSdeOptions& options) {
  schedule.validate();
  options.validate();
  require(n >= 1, "n", "must be at least 1, got 0");
  require(d >= 1, "d", "must be at least 1, got 0");
  require(static_cast<bool>(score), "score", "is empty");
  const Method method = options.method;
  // adaptive: attempt k < max_steps may draw for attempt k + 1 <= max_steps.
  std::uint64_t stride = options.steps, count = 0;
  require((method != Method::adaptive || !__builtin_add_overflow(options.max_steps, std::uint64_t{1}, &stride)) &&
              !__builtin_mul_overflow(static_cast<std::uint64_t>(n), stride, &count) &&
              !__builtin_mul_overflow(count, static_cast<std::uint64_t>(d), &count),
          method == Method::adaptive ? "max_steps" : "steps",
          "noise index n * K * d overflows 64 bits (n = " + std::to_string(n) + ", d = " + std::to_string(d) + ")");

  SampleResult result;
  result.stats.assign(n, TrajectoryStats{});
  result.samples = prior_sample(schedule, n, d, options.seed);

  const Setup setup{schedule, score, d, method, options, stride, CounterRng(options.seed, streams::reverse_sde_noise)};
  const std::size_t chunks = (n + options.chunk - 1) / options.chunk;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks, 1), [&](const tbb::blocked_range<std::size_t>& range) {
    for (std::size_t c = range.begin(); c != range.end(); ++c) {
      const std::size_t first = c * options.chunk, last = std::min(n, (c + 1) * options.chunk);
      if (method == Method::adaptive)
        adaptive_chunk(setup, first, last, result);
      else
        fixed_step_chunk(setup, first, last, result);
    }
  });
  result.total_score_evaluations = total_rhs_evaluations(result.stats);
  return result;
}

}  // namespace gengap
