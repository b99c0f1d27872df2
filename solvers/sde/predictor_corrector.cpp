#include "gengap/solvers/sde/predictor_corrector.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/sde/steppers.hpp"
#include "gengap/solvers/detail/finite_rows.hpp"

namespace gengap {
namespace {

using detail::all_finite;

// The batch state shared by the phases of one step. Every phase is a parallel
// loop over chunks of rows; a chunk touches only its own rows.
struct Batch {
  const ScoreField& score;
  std::size_t n, d, chunk;
  Matrix& x;                            // n x d, always finite
  std::vector<TrajectoryStats>& stats;
  std::vector<char> active;
  std::vector<double> t, s, z;          // per-row time; n x d score and noise
  std::vector<double> s_norm, z_norm;   // per-row norms (corrector)

  template <class RowFn>
  void for_chunks(RowFn&& fn) {
    const std::size_t chunks = (n + chunk - 1) / chunk;
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks, 1), [&](const tbb::blocked_range<std::size_t>& r) {
      for (std::size_t c = r.begin(); c != r.end(); ++c) fn(c * chunk, std::min(n, (c + 1) * chunk));
    });
  }

  // s <- score(x, time) on rows [first, last). Rows that already failed keep
  // a finite state, so the call is made on the whole chunk (no packing) and
  // their results are ignored. A row with a non-finite score fails here.
  void evaluate(std::size_t first, std::size_t last, double time) {
    std::fill(t.begin() + first, t.begin() + last, time);
    score({t.data() + first, last - first}, MatrixView{x.row(first).data(), last - first, d},
          {s.data() + first * d, (last - first) * d});
    for (std::size_t i = first; i < last; ++i) {
      if (!active[i]) continue;
      ++stats[i].rhs_evaluations;
      if (!all_finite(s.data() + i * d, d)) fail(i, time);
    }
  }

  void fail(std::size_t i, double time) {
    active[i] = 0;
    stats[i].status = TrajectoryStatus::non_finite;
    stats[i].failure_time = time;
  }
};

}  // namespace

constexpr EnumName<Predictor> predictor_names[] = {{Predictor::reverse_diffusion, "reverse_diffusion"},
                                                   {Predictor::euler_maruyama, "euler_maruyama"}};

const char* to_string(Predictor predictor) {
  return enum_name(predictor, predictor_names, "predictor", "Predictor").data();
}

Predictor parse_predictor(const std::string& name) {
  return parse_enum_name(name, predictor_names, "predictor", "predictor");
}

void PredictorCorrectorOptions::validate() const {
  require(steps >= 1, "steps", "must be at least 1, got 0");
  require(std::isfinite(snr) && snr > 0.0, "snr", "must be positive and finite, got " + std::to_string(snr));
  require(chunk >= 1, "chunk", "must be at least 1, got 0");
}

SampleResult sample_predictor_corrector(const Schedule& schedule, const ScoreField& score, std::size_t n,
                                        std::size_t d, const PredictorCorrectorOptions& options) {
  schedule.validate();
  options.validate();
  require(n >= 1, "n", "must be at least 1, got 0");
  require(d >= 1, "d", "must be at least 1, got 0");
  require(static_cast<bool>(score), "score", "is empty");
  const Predictor predictor = options.predictor;
  const std::uint64_t N = options.steps, C = options.corrector_steps;
  std::uint64_t count = 0;
  require(!__builtin_mul_overflow(static_cast<std::uint64_t>(n), N, &count) &&
              !__builtin_mul_overflow(count, static_cast<std::uint64_t>(d), &count),
          "steps", "noise index n * N * d overflows 64 bits");
  require(!__builtin_mul_overflow(count, std::max<std::uint64_t>(C, 1), &count), "corrector_steps",
          "noise index n * N * C * d overflows 64 bits");

  SampleResult result;
  result.samples = prior_sample(schedule, n, d, options.seed);
  result.stats.assign(n, TrajectoryStats{});
  Batch b{score, n, d, options.chunk, result.samples, result.stats, std::vector<char>(n, 1),
          std::vector<double>(n), std::vector<double>(n * d), std::vector<double>(n * d),
          std::vector<double>(n), std::vector<double>(n)};
  const CounterRng predictor_rng(options.seed, streams::predictor_noise);
  const CounterRng langevin_rng(options.seed, streams::langevin_noise);
  const double h = (schedule.T - schedule.t_min) / static_cast<double>(N);

  for (std::uint64_t k = 0; k < N; ++k) {
    check_interrupt();
    const double t = schedule.T - static_cast<double>(k) * h;
    const bool last = k + 1 == N;
    const double t_next = last ? schedule.t_min : schedule.T - static_cast<double>(k + 1) * h;  // lands on t_min
    const double step = t - t_next;
    const double a = schedule.mean_scale(t) / schedule.mean_scale(t_next);
    const double alpha = a * a;

    for (std::uint64_t c = 0; c < C; ++c) {
      b.for_chunks([&](std::size_t first, std::size_t last_row) {
        b.evaluate(first, last_row, t);
        for (std::size_t i = first; i < last_row; ++i) {
          if (!b.active[i]) continue;
          const std::uint64_t base = ((i * N + k) * C + c) * d;
          double ss = 0.0, zz = 0.0;
          for (std::size_t j = 0; j < d; ++j) {
            const double zj = langevin_rng.normal(base + j);
            b.z[i * d + j] = zj;
            zz += zj * zj;
            ss += b.s[i * d + j] * b.s[i * d + j];
          }
          b.s_norm[i] = std::sqrt(ss);
          b.z_norm[i] = std::sqrt(zz);
        }
      });
      // Batch means in row order: independent of threads and chunks.
      double s_sum = 0.0, z_sum = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!b.active[i]) continue;
        s_sum += b.s_norm[i];
        z_sum += b.z_norm[i];
      }
      if (!(s_sum > 0.0)) continue;  // no active row, or every score is zero: eps undefined
      const double ratio = options.snr * z_sum / s_sum;  // the row counts cancel in mean/mean
      const double eps = 2.0 * alpha * ratio * ratio;
      const double noise = std::sqrt(2.0 * eps);
      b.for_chunks([&](std::size_t first, std::size_t last_row) {
        std::vector<double> next(d);
        for (std::size_t i = first; i < last_row; ++i) {
          if (!b.active[i]) continue;
          double* xi = result.samples.row(i).data();
          for (std::size_t j = 0; j < d; ++j) next[j] = sde::langevin_step(xi[j], b.s[i * d + j], eps, noise * b.z[i * d + j]);
          if (!all_finite(next.data(), d)) {
            b.fail(i, t);
            continue;
          }
          std::copy(next.begin(), next.end(), xi);
        }
      });
    }

    const double f = schedule.drift(t), g2 = schedule.diffusion_squared(t);
    // reverse_diffusion: G^2 = sigma_t^2 - a^2 sigma_{t-h}^2 (>= 0 up to rounding).
    const double G2 = std::max(0.0, schedule.variance(t) - alpha * schedule.variance(t_next));
    const bool quiet = last && options.denoise_last_step;
    const double noise_scale = quiet ? 0.0 : std::sqrt(predictor == Predictor::reverse_diffusion ? G2 : g2 * step);
    b.for_chunks([&](std::size_t first, std::size_t last_row) {
      b.evaluate(first, last_row, t);
      std::vector<double> next(d);
      for (std::size_t i = first; i < last_row; ++i) {
        if (!b.active[i]) continue;
        double* xi = result.samples.row(i).data();
        const double* si = b.s.data() + i * d;
        const std::uint64_t base = (i * N + k) * d;
        for (std::size_t j = 0; j < d; ++j) {
          const double zj = quiet ? 0.0 : predictor_rng.normal(base + j);
          next[j] = predictor == Predictor::reverse_diffusion
                        ? sde::reverse_diffusion_step(xi[j], si[j], a, G2, noise_scale * zj)
                        : sde::euler_maruyama_step(xi[j], si[j], f, g2, step, noise_scale * zj);
        }
        if (!all_finite(next.data(), d)) {
          b.fail(i, t);
          continue;
        }
        std::copy(next.begin(), next.end(), xi);
        ++result.stats[i].accepted;
      }
    });
  }

  result.total_score_evaluations = total_rhs_evaluations(result.stats);
  return result;
}

}  // namespace gengap
