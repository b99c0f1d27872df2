// log p_{t_min} of the random-feature model with relu kinks handled exactly
// (see random_feature_likelihood.hpp).
#include "gengap/solvers/random_feature_likelihood.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cmath>
#include <string>
#include <vector>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/relu_kinks.hpp"
#include "gengap/solvers/detail/likelihood_support.hpp"
#include "gengap/solvers/sde/probability_flow_sampler.hpp"
#include "gengap/solvers/quadrature.hpp"

namespace gengap {
namespace {

// x_H(t) on an accepted step: the cubic Hermite interpolant of (y0, f0, y1, f1).
void hermite(const AcceptedStep& s, double t, std::span<double> x) {
  const double h = s.t1 - s.t0, u = (t - s.t0) / h, v = 1.0 - u;
  const double h00 = (1.0 + 2.0 * u) * v * v, h10 = u * v * v, h01 = u * u * (3.0 - 2.0 * u), h11 = -u * u * v;
  for (std::size_t k = 0; k < x.size(); ++k)
    x[k] = h00 * s.y0[k] + h10 * h * s.f0[k] + h01 * s.y1[k] + h11 * h * s.f1[k];
}

// The time in (a, b), inside the step, where feature j's pre-activation along
// x_H changes sign (za and zb of opposite signs): Illinois regula falsi.
double crossing_time(const ReluKinks& kinks, std::size_t j, const AcceptedStep& s, double a, double b, double za,
                     double zb, std::vector<double>& e, std::vector<double>& x) {
  int side = 0;
  // t* to 1e-13 of the step: the error it leaves in ell, kappa_j / m times
  // that, is far below the ODE's.
  const double resolution = 1e-13 * std::abs(b - a);
  for (int iteration = 0; iteration < 100 && std::abs(b - a) > resolution; ++iteration) {
    const double t = (a * zb - b * za) / (zb - za);
    if (!(t > std::min(a, b) && t < std::max(a, b))) break;  // the bracket is below rounding
    hermite(s, t, x);
    kinks.embedding().evaluate(t, e);
    const double z = kinks.pre_activation_at(j, x, e);
    if ((z > 0.0) == (zb > 0.0)) {
      b = t, zb = z;
      if (side == -1) za *= 0.5;
      side = -1;
    } else {
      a = t, za = z;
      if (side == 1) zb *= 0.5;
      side = 1;
    }
  }
  return 0.5 * (a + b);
}

// int_a^b of a smooth function of t: 8-point Gauss-Legendre.
template <class F>
double integral(const QuadratureRule& unit, double a, double b, F&& f) {
  double sum = 0.0;
  for (std::size_t k = 0; k < unit.nodes.size(); ++k) sum += unit.weights[k] * f(a + (b - a) * unit.nodes[k]);
  return sum * (b - a);
}

// max_k |omega_k| of a sin/cos embedding (0 for the others).
double fastest_frequency(const TimeEmbedding& embedding) {
  double fastest = 0.0;
  if (embedding.is_trigonometric())
    for (const double omega : embedding.frequencies) fastest = std::max(fastest, std::abs(omega));
  return fastest;
}

}  // namespace

bool kink_pass_pays_off(const RandomFeatures& rf, const Schedule& schedule, const LikelihoodOptions& options) {
  return rf.activation == Activation::relu &&
         fastest_frequency(rf.embedding) * (schedule.T - options.t_min.value_or(schedule.t_min)) <= 2.0;
}

LikelihoodResult log_likelihood_random_features(const Schedule& schedule, const RandomFeatures& rf, const Matrix& A,
                                                const DsmSetup& setup, const Matrix& data,
                                                const LikelihoodOptions& options) {
  const ScoreDivergenceField score = random_feature_score(rf, A, setup);  // validates rf, A and setup
  if (!kink_pass_pays_off(rf, schedule, options)) return log_likelihood(schedule, score, data, options);
  options.validate(schedule);
  detail::require_data(data);
  const std::size_t N = data.rows(), d = data.cols();
  require(d == rf.dim(), "data",
          "the model has d = " + std::to_string(rf.dim()) + ", the points d = " + std::to_string(d));
  const ReluKinks kinks(rf, A);
  const QuadratureRule unit = gauss_legendre(8, 0.0, 1.0);
  const double inv_m = 1.0 / static_cast<double>(kinks.features());
  const auto g2c = [&](double t) { return schedule.diffusion_squared(t) * setup.c(t); };
  // The denoiser's skip term adds k(t) d to the divergence: its integral is smooth.
  const auto g2k = [&](double t) { return schedule.diffusion_squared(t) * setup.skip(t); };
  const bool skips = setup.output_scale == OutputScale::denoiser;
  const auto drift = [&](double t) { return schedule.drift(t); };

  // dx/dt = f x - 1/2 g^2 s_A (the score alone: no divergence in the state).
  const VectorField velocity = probability_flow_velocity(schedule, score_only(score));
  std::vector<double> ell(N, 0.0);
  IntegrateOptions io = detail::driver_options(schedule, options, 1.0);
  // A sin/cos embedding turns z_j(t) into a sum of (at most two per horizon)
  // oscillations: steps of at most a quarter period of the fastest keep at
  // most one crossing per half step, which is what the kink pass assumes.
  if (const double fastest = fastest_frequency(rf.embedding); fastest > 0.0) io.max_step = 0.25 / fastest;
  // Rows stepping together (StepSharing::per_chunk) share t0 and t1: the
  // time parts of z and the step's integrals are computed once per step and
  // thread, keyed by this solve and the two times (bitwise).
  static std::atomic<std::uint64_t> solves{0};
  const std::uint64_t solve = ++solves;
  struct StepTimes {
    std::uint64_t solve = 0;
    double t0 = 0.0, t1 = 0.0;
    std::vector<double> c0, cm, c1;
    double drift = 0.0, g2c = 0.0, g2k = 0.0;  // int f, int g^2 c and int g^2 k over [t0, t1]
  };
  io.on_step = [&, solve](const AcceptedStep& s) {
    thread_local StepTimes cache;
    thread_local std::vector<double> x, e, scratch;
    thread_local std::vector<std::size_t> changed;
    x.resize(d);
    scratch.resize(d);
    e.resize(kinks.embedding().dim());
    const double tm = 0.5 * (s.t0 + s.t1);
    if (cache.solve != solve || std::bit_cast<std::uint64_t>(cache.t0) != std::bit_cast<std::uint64_t>(s.t0) ||
        std::bit_cast<std::uint64_t>(cache.t1) != std::bit_cast<std::uint64_t>(s.t1)) {
      cache.solve = solve;
      cache.t0 = s.t0;
      cache.t1 = s.t1;
      kinks.time_part(s.t0, cache.c0);
      kinks.time_part(tm, cache.cm);
      kinks.time_part(s.t1, cache.c1);
      cache.drift = integral(unit, s.t0, s.t1, drift);
      cache.g2c = integral(unit, s.t0, s.t1, g2c);
      cache.g2k = skips ? integral(unit, s.t0, s.t1, g2k) : 0.0;
    }
    hermite(s, tm, x);
    const double whole = kinks.step(s.y0, x, s.y1, cache.c0, cache.cm, cache.c1, changed);
    // Features whose sign changes on a half step: on over the parts of each
    // half where they are positive (a crossing in each half is two crossings).
    double partial = 0.0;
    for (const std::size_t j : changed) {
      const double z0 = kinks.pre_activation(j, s.y0, cache.c0), zm = kinks.pre_activation(j, x, cache.cm),
                   z1 = kinks.pre_activation(j, s.y1, cache.c1);
      const auto half = [&](double a, double b, double za, double zb) {
        if ((za > 0.0) == (zb > 0.0)) return za > 0.0 ? integral(unit, a, b, g2c) : 0.0;
        const double t_star = crossing_time(kinks, j, s, a, b, za, zb, e, scratch);
        return za > 0.0 ? integral(unit, a, t_star, g2c) : integral(unit, t_star, b, g2c);
      };
      partial += kinks.kappa(j) * (half(s.t0, tm, z0, zm) + half(tm, s.t1, zm, z1));
    }
    ell[s.row] += static_cast<double>(d) * (cache.drift - 0.5 * cache.g2k) - 0.5 * inv_m * (whole * cache.g2c + partial);
  };
  const ScopedBlasThreads single_threaded_blas(1);
  IntegrateResult solved = integrate(velocity, data, io);
  LikelihoodResult result = detail::start_result(schedule, options, data, std::move(solved));
  for (std::size_t i = 0; i < N; ++i) {
    if (result.stats[i].status != TrajectoryStatus::success) continue;
    result.delta_log_p[i] = ell[i];
    result.log_p[i] = result.log_prior[i] + ell[i];
    result.log_p_se[i] = 0.0;
  }
  return result;
}

}  // namespace gengap
