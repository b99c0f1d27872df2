// The relu model's likelihood with its kinks integrated exactly along each
// step (solvers/random_feature_likelihood.hpp) against the same ODE with the
// divergence as a state component (solvers/likelihood.hpp, the previous
// method), at matched accuracy: a work-precision comparison on study S1's
// default model.
//
// Workload: S1's default features (m = 1024, relu, linear e(t) = t/T, sphere
// rows, ou T = 5, t_min = 1e-3) trained by the exact flow on n = 1000 samples x
// K = 256 draws of 1/2 N(-3, 1) + 1/2 N(3, 1) (seed 0); A at two training
// times: the early-stopping regime (tau = 3.3e9, S1's tau*) and the last tau
// of S1's grid (the smallest kept eigen-timescale, a memorising, spiky
// density); 200 points evenly spaced on [-6, 6], per-chunk steps (the
// likelihood's default), 2 threads. err_max / err_median: |log p - reference|,
// the reference the ODE-state method at rtol = atol = 1e-10 (minutes at the
// last tau: cached in $TMPDIR/gengap_relu_likelihood/, keyed by the points).
// Counters: evaluations per point (field evaluations; the kink pass after each
// accepted step costs about one more), and the errors.
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gengap/generalization/io/npy.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"

namespace {

using namespace gengap;

struct Workload {
  RandomFeatures rf;
  DsmSetup setup;
  std::vector<Matrix> A;                        // [0]: tau*, [1]: the last tau
  Matrix x;                                     // 200 x 1
  std::vector<std::vector<double>> reference;  // per A
};

std::filesystem::path cache_dir() {
  const char* tmp = std::getenv("TMPDIR");
  return std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / "gengap_relu_likelihood";
}

Workload& workload() {
  static Workload w = [] {
    Workload w;
    w.setup.schedule = default_schedule(ScheduleKind::ou);
    w.rf = draw_random_features(1024, 1, linear_embedding(5.0), Activation::relu, FeatureInit::sphere, 0);
    const GaussianMixture p0 = GaussianMixture::two_modes(3.0);
    const Matrix train = p0.sample(1000, 0, streams::training_data);
    const GradientFlow flow(gram_matrices(w.rf, *empirical_monte_carlo(train, 256, w.setup, 0)));
    const auto [shortest, longest] = flow.timescale_range();
    w.A = {flow.weights(3.3e9), flow.weights(longest)};
    w.x = Matrix(200, 1);
    for (std::size_t i = 0; i < 200; ++i) w.x(i, 0) = -6.0 + 12.0 * static_cast<double>(i) / 199.0;
    std::filesystem::create_directories(cache_dir());
    for (std::size_t k = 0; k < w.A.size(); ++k) {
      const std::filesystem::path file = cache_dir() / ("reference_" + std::to_string(k) + ".npy");
      const std::filesystem::path weights = cache_dir() / ("A_" + std::to_string(k) + ".npy");
      if (std::filesystem::exists(file) && std::filesystem::exists(weights) &&
          read_npy(weights).values == std::vector<double>(w.A[k].flat().begin(), w.A[k].flat().end())) {
        w.reference.push_back(read_npy(file).values);
        continue;
      }
      LikelihoodOptions tight;
      tight.ode.controller.rtol = tight.ode.controller.atol = 1e-10;
      tight.ode.max_steps = 100000000;
      w.reference.push_back(
          log_likelihood(w.setup.schedule, random_feature_score(w.rf, w.A[k], w.setup), w.x, tight).log_p);
      write_npy(file, w.reference.back());
      write_npy(weights, w.A[k]);
    }
    return w;
  }();
  return w;
}

// Arguments: which A (0: tau*, 1: last tau), method (0: kinks exact, 1: the
// divergence in the ODE state), tolerance as 10^(-range(2) / 2) (e.g. 13: 3.2e-7).
void BM_ReluLikelihood(benchmark::State& state) {
  Workload& w = workload();
  const Matrix& A = w.A[static_cast<std::size_t>(state.range(0))];
  const bool kinks = state.range(1) == 0;
  LikelihoodOptions options;
  options.ode.controller.rtol = options.ode.controller.atol = std::pow(10.0, -static_cast<double>(state.range(2)) / 2.0);
  options.ode.max_steps = 10000000;
  const ScoreDivergenceField score = random_feature_score(w.rf, A, w.setup);
  tbb::task_arena arena(2);
  LikelihoodResult r;
  for (auto _ : state) {
    arena.execute([&] {
      r = kinks ? log_likelihood_random_features(w.setup.schedule, w.rf, A, w.setup, w.x, options)
                : log_likelihood(w.setup.schedule, score, w.x, options);
    });
    benchmark::DoNotOptimize(r.log_p.data());
  }
  const std::vector<double>& ref = w.reference[static_cast<std::size_t>(state.range(0))];
  std::vector<double> errors;
  for (std::size_t i = 0; i < ref.size(); ++i) errors.push_back(std::abs(r.log_p[i] - ref[i]));
  std::sort(errors.begin(), errors.end());
  state.counters["err_max"] = errors.back();
  state.counters["err_median"] = errors[errors.size() / 2];
  state.counters["evals_per_point"] = r.mean_evaluations_per_point();
  state.SetLabel(std::string(kinks ? "kinks exact" : "divergence in state") + ", rtol " +
                 std::to_string(options.ode.controller.rtol) + (state.range(0) == 0 ? ", tau*" : ", last tau"));
}

// S1's settings: kinks at 1e-5 (Monte Carlo KL) and 3e-7 (quadrature); the
// state at 1e-4 and 3e-6 (the previous S1 settings) and tighter.
BENCHMARK(BM_ReluLikelihood)
    ->ArgsProduct({{0, 1}, {0}, {10, 12, 13, 14}})
    ->ArgsProduct({{0, 1}, {1}, {8, 10, 11, 12}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
