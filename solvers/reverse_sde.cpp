#include "gengap/solvers/reverse_sde.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {
namespace {

enum class Method { euler_maruyama, stochastic_heun, adaptive };

Method parse_method(const std::string& name) {
  if (name == "euler_maruyama") return Method::euler_maruyama;
  if (name == "stochastic_heun") return Method::stochastic_heun;
  if (name == "adaptive") return Method::adaptive;
  throw InvalidArgument("method", "expected euler_maruyama | stochastic_heun | adaptive, got '" + name + "'");
}

// Gotta Go Fast's step-size exponent (their r = 0.9, between the 1/2 of an
// order-1/2 local error and the 1 of an order-1 one).
constexpr double step_exponent = 0.9;
// Their default initial step 0.01 for T = 1, taken relative to T - t_min.
constexpr double initial_step_fraction = 0.01;
// An adaptive step below this fraction of T - t_min cannot make progress in
// double precision on t ~ T.
constexpr double min_step_fraction = 1e-12;

bool all_finite(const double* v, std::size_t count) {
  for (std::size_t j = 0; j < count; ++j)
    if (!std::isfinite(v[j])) return false;
  return true;
}

struct Setup {
  const Schedule& schedule;
  const ScoreField& score;
  std::size_t d;
  Method method;
  const ReverseSdeOptions& options;
  std::uint64_t stride;  // K of the noise index (i K + k) d + j
  CounterRng noise;
};

// One chunk of rows [first, last): every row carries its own time and step;
// each iteration evaluates the score on the chunk's active rows in one call
// per stage. Buffers are allocated once per chunk.
void sample_chunk(const Setup& s, std::size_t first, std::size_t last, SampleResult& result) {
  const std::size_t d = s.d;
  const std::size_t rows = last - first;
  const double t_min = s.schedule.t_min;
  const double span = s.schedule.T - t_min;
  const bool fixed = s.method != Method::adaptive;
  const bool two_stage = s.method != Method::euler_maruyama;
  const std::size_t steps = s.options.steps;
  // Only the fixed grids end on a short step; adaptive's last step can be
  // long, and dropping its g^2 h of noise would bias the law (see header).
  const bool denoise = fixed && s.options.denoise_last_step;
  const double fixed_h = span / static_cast<double>(steps);

  std::vector<double> t(rows, s.schedule.T), h(rows, fixed ? fixed_h : initial_step_fraction * span);
  std::vector<std::size_t> attempt(rows, 0);
  std::vector<char> active(rows, 1);
  std::vector<std::size_t> index;                  // chunk-local row of each packed active row
  std::vector<double> ta(rows), tb(rows);          // stage times of the packed rows
  std::vector<double> xa(rows * d), xb(rows * d);  // stage states (x, x')
  std::vector<double> sa(rows * d), sb(rows * d);  // scores at them
  std::vector<double> xpp(d);  // the Heun state x'' of one row
  index.reserve(rows);

  auto fail = [&](std::size_t r, SampleStatus status, double time) {
    auto& st = result.stats[first + r];
    st.status = status;
    st.failure_time = time;
    active[r] = 0;
  };

  for (;;) {
    index.clear();
    for (std::size_t r = 0; r < rows; ++r) {
      if (!active[r]) continue;
      if (attempt[r] >= (fixed ? steps : s.options.max_steps)) {
        // Only the adaptive loop can get here with t > t_min (fixed ones land exactly).
        fail(r, SampleStatus::max_steps, t[r]);
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
    for (std::size_t a = 0; a < na; ++a) ++result.stats[first + index[a]].score_evaluations;

    // Stage 1: the Euler-Maruyama proposal x' into xb (its noise kept for stage 2).
    for (std::size_t a = 0; a < na; ++a) {
      const std::size_t r = index[a];
      const std::size_t i = first + r;
      if (!all_finite(sa.data() + a * d, d)) {
        fail(r, SampleStatus::non_finite, t[r]);
        continue;
      }
      // The fixed grid's last step lands exactly on t_min (no rounding drift).
      double step = fixed ? (attempt[r] + 1 == steps ? t[r] - t_min : fixed_h) : std::min(h[r], t[r] - t_min);
      h[r] = step;
      tb[a] = (fixed && attempt[r] + 1 == steps) || step == t[r] - t_min ? t_min : t[r] - step;
      const bool last_step = tb[a] == t_min;
      const double f = s.schedule.drift(t[r]);
      const double g2 = s.schedule.diffusion_squared(t[r]);
      // Adaptive evaluates its second stage at the noise-free predictor (see header).
      const double noise_scale =
          (last_step && denoise) || s.method == Method::adaptive ? 0.0 : std::sqrt(g2 * step);
      const std::uint64_t base = (static_cast<std::uint64_t>(i) * s.stride + attempt[r]) * d;
      const double* x = xa.data() + a * d;
      const double* sc = sa.data() + a * d;
      double* xp = xb.data() + a * d;
      for (std::size_t j = 0; j < d; ++j) {
        const double zj = noise_scale == 0.0 ? 0.0 : s.noise.normal(base + j);
        xp[j] = x[j] - (f * x[j] - g2 * sc[j]) * step + noise_scale * zj;
      }
      if (!all_finite(xp, d)) fail(r, SampleStatus::non_finite, tb[a]);
    }

    if (!two_stage) {
      for (std::size_t a = 0; a < na; ++a) {
        const std::size_t r = index[a];
        if (!active[r]) continue;
        std::copy(xb.data() + a * d, xb.data() + (a + 1) * d, result.samples.row(first + r).data());
        t[r] = tb[a];
        ++attempt[r];
        ++result.stats[first + r].accepted;
        if (t[r] == t_min) active[r] = 0;
      }
      continue;
    }

    // Stage 2: the score at (x', t - h) for rows still healthy; packed again so
    // the call sees only finite states.
    std::size_t nb = 0;
    for (std::size_t a = 0; a < na; ++a) {
      if (!active[index[a]]) continue;
      if (nb != a) {
        std::copy(xb.data() + a * d, xb.data() + (a + 1) * d, xb.data() + nb * d);
        std::copy(xa.data() + a * d, xa.data() + (a + 1) * d, xa.data() + nb * d);
        std::copy(sa.data() + a * d, sa.data() + (a + 1) * d, sa.data() + nb * d);
        tb[nb] = tb[a];
        ta[nb] = ta[a];
        index[nb] = index[a];
      }
      ++nb;
    }
    if (nb == 0) continue;
    s.score({tb.data(), nb}, MatrixView{xb.data(), nb, d}, {sb.data(), nb * d});

    for (std::size_t a = 0; a < nb; ++a) {
      const std::size_t r = index[a];
      const std::size_t i = first + r;
      auto& st = result.stats[i];
      ++st.score_evaluations;
      if (!all_finite(sb.data() + a * d, d)) {
        fail(r, SampleStatus::non_finite, tb[a]);
        continue;
      }
      const double step = h[r];
      const bool last_step = tb[a] == t_min;
      const double f0 = s.schedule.drift(ta[a]), g20 = s.schedule.diffusion_squared(ta[a]);
      const double f1 = s.schedule.drift(tb[a]), g21 = s.schedule.diffusion_squared(tb[a]);
      const double noise_scale = (last_step && denoise)
                                     ? 0.0
                                     : 0.5 * (std::sqrt(g20) + std::sqrt(g21)) * std::sqrt(step);
      const std::uint64_t base = (static_cast<std::uint64_t>(i) * s.stride + attempt[r]) * d;
      const double* x = xa.data() + a * d;
      const double* xp = xb.data() + a * d;
      const double* s0 = sa.data() + a * d;
      const double* s1 = sb.data() + a * d;
      double* out = result.samples.row(i).data();
      // x'' goes to scratch first: a rejected adaptive step must keep x.
      double error_sq = 0.0;
      bool finite = true;
      for (std::size_t j = 0; j < d; ++j) {
        const double zj = noise_scale == 0.0 ? 0.0 : s.noise.normal(base + j);
        const double drift0 = f0 * x[j] - g20 * s0[j];
        const double drift1 = f1 * xp[j] - g21 * s1[j];
        xpp[j] = x[j] - 0.5 * (drift0 + drift1) * step + noise_scale * zj;
        finite = finite && std::isfinite(xpp[j]);
        if (s.method == Method::adaptive) {
          // x' = EM step with the same noise as x''; xp holds its noise-free
          // part, which also scales delta so that acceptance never sees z.
          const double x_em = xp[j] + noise_scale * zj;
          const double delta = std::max(s.options.atol, s.options.rtol * std::max(std::abs(xp[j]), std::abs(x[j])));
          const double e = (x_em - xpp[j]) / delta;
          error_sq += e * e;
        }
      }
      if (!finite) {
        fail(r, SampleStatus::non_finite, tb[a]);
        continue;
      }
      ++attempt[r];
      if (s.method == Method::stochastic_heun) {
        std::copy(xpp.begin(), xpp.end(), out);
        t[r] = tb[a];
        ++st.accepted;
        if (t[r] == t_min) active[r] = 0;
        continue;
      }
      const double error = std::sqrt(error_sq / static_cast<double>(d));
      const bool accept = error <= 1.0;
      if (accept) {
        std::copy(xpp.begin(), xpp.end(), out);
        t[r] = tb[a];
        ++st.accepted;
        if (t[r] == t_min) {
          active[r] = 0;
          continue;
        }
      } else {
        ++st.rejected;
      }
      // E = 0 (e.g. a locally linear drift) lets the step run to t_min.
      const double factor = error > 0.0 ? s.options.safety * std::pow(error, -step_exponent)
                                        : std::numeric_limits<double>::infinity();
      h[r] = std::min(t[r] - t_min, step * factor);
      if (h[r] < min_step_fraction * span) fail(r, SampleStatus::step_underflow, t[r]);
    }
  }
}

}  // namespace

void ReverseSdeOptions::validate() const {
  parse_method(method);
  require(steps >= 1, "steps", "must be at least 1, got 0");
  require(std::isfinite(rtol) && rtol > 0.0, "rtol", "must be positive and finite, got " + std::to_string(rtol));
  require(std::isfinite(atol) && atol > 0.0, "atol", "must be positive and finite, got " + std::to_string(atol));
  require(std::isfinite(safety) && safety > 0.0 && safety <= 1.0, "safety",
          "must be in (0, 1], got " + std::to_string(safety));
  require(max_steps >= 1, "max_steps", "must be at least 1, got 0");
  require(chunk >= 1, "chunk", "must be at least 1, got 0");
}

const char* to_string(SampleStatus status) {
  switch (status) {
    case SampleStatus::success: return "success";
    case SampleStatus::max_steps: return "max_steps";
    case SampleStatus::step_underflow: return "step_underflow";
    case SampleStatus::non_finite: return "non_finite";
  }
  return "unknown";
}

bool SampleResult::all_succeeded() const {
  return std::all_of(stats.begin(), stats.end(), [](const auto& s) { return s.status == SampleStatus::success; });
}

std::string SampleResult::failure_summary() const {
  std::size_t failures = 0, first = stats.size();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    if (stats[i].status == SampleStatus::success) continue;
    if (failures++ == 0) first = i;
  }
  if (failures == 0) return "";
  return std::to_string(failures) + " of " + std::to_string(stats.size()) + " trajectories failed; first: trajectory " +
         std::to_string(first) + " (" + to_string(stats[first].status) + " at t = " +
         std::to_string(stats[first].failure_time) + ")";
}

SampleResult sample_reverse_sde(const Schedule& schedule, const ScoreField& score, std::size_t n, std::size_t d,
                                const ReverseSdeOptions& options) {
  schedule.validate();
  options.validate();
  require(n >= 1, "n", "must be at least 1, got 0");
  require(d >= 1, "d", "must be at least 1, got 0");
  require(static_cast<bool>(score), "score", "is empty");
  const Method method = parse_method(options.method);
  const std::uint64_t stride = method == Method::adaptive ? options.max_steps : options.steps;
  std::uint64_t count = 0;
  require(!__builtin_mul_overflow(static_cast<std::uint64_t>(n), stride, &count) &&
              !__builtin_mul_overflow(count, static_cast<std::uint64_t>(d), &count),
          method == Method::adaptive ? "max_steps" : "steps",
          "noise index n * K * d overflows 64 bits (n = " + std::to_string(n) + ", d = " + std::to_string(d) + ")");

  SampleResult result;
  result.samples = Matrix(n, d);
  result.stats.assign(n, SampleTrajectoryStats{});
  const double prior_sd = std::sqrt(schedule.prior_variance());
  const CounterRng prior(options.seed, streams::reverse_sde_prior);
  for (std::size_t k = 0; k < result.samples.size(); ++k) result.samples.flat()[k] = prior_sd * prior.normal(k);

  const Setup setup{schedule, score, d, method, options, stride, CounterRng(options.seed, streams::reverse_sde_noise)};
  const std::size_t chunks = (n + options.chunk - 1) / options.chunk;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks, 1), [&](const tbb::blocked_range<std::size_t>& range) {
    for (std::size_t c = range.begin(); c != range.end(); ++c)
      sample_chunk(setup, c * options.chunk, std::min(n, (c + 1) * options.chunk), result);
  });
  for (const auto& st : result.stats) result.total_score_evaluations += st.score_evaluations;
  return result;
}

}  // namespace gengap
