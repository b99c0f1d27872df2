// Reverse-SDE sampling throughput (solvers/sde/reverse_sde.hpp) with the
// random-feature score s = 1/m A silu(W x + U e(t) + b) (c(t) = 1, m = 1024,
// Fourier e(t), d_e = 16) under the ou schedule: Euler-Maruyama with 1000
// steps and the adaptive sampler (rtol = atol = 1e-2), n = 4096 samples.
// items = samples; the "evaluations/s" counter is score evaluations (rows).
// Arguments: BM_EulerMaruyama/d/threads, BM_Adaptive/d/threads.
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_arena.h>

#include <string>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/kernels/detail/random_feature_tiles.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"

namespace {

using namespace gengap;

constexpr std::size_t samples = 4096;
constexpr std::size_t features = 1024;

struct Model {
  RandomFeatures rf;
  Matrix A;
};

Model make_model(std::size_t d) {
  Model model{draw_random_features(features, d, fourier_embedding(16, 30.0, 2), Activation::silu,
                                   FeatureInit::sphere, 1),
              Matrix(d, features)};
  CounterRng(3, streams::test_data).fill_normal(model.A.flat());
  return model;
}

// The ScoreField: score_and_divergence without the divergence, c(t) = 1.
ScoreField random_feature_field(const Model& model) {
  return [&model](std::span<const double> t, MatrixView x, std::span<double> score) {
    const std::vector<double> c(t.size(), 1.0);
    detail::score_and_divergence_tiles(model.rf, model.A, x, t, c, score, {});
  };
}

void run(benchmark::State& state, const ReverseSdeOptions& options) {
  const auto d = static_cast<std::size_t>(state.range(0));
  const auto threads = static_cast<int>(state.range(1));
  const Model model = make_model(d);
  const ScoreField score = random_feature_field(model);
  const Schedule schedule = default_schedule(ScheduleKind::ou);
  tbb::task_arena arena(threads);
  std::size_t evaluations = 0;
  for (auto _ : state) {
    SampleResult r;
    arena.execute([&] { r = sample_reverse_sde(schedule, score, samples, d, options); });
    if (!r.all_succeeded()) state.SkipWithError(r.failure_summary().c_str());
    evaluations += r.total_score_evaluations;
    benchmark::DoNotOptimize(r.samples.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(samples));
  state.counters["evaluations/s"] = benchmark::Counter(static_cast<double>(evaluations), benchmark::Counter::kIsRate);
  state.counters["evaluations/sample"] =
      static_cast<double>(evaluations) / static_cast<double>(state.iterations() * samples);
  state.counters["threads"] = threads;
}

void BM_EulerMaruyama(benchmark::State& state) {
  ReverseSdeOptions o;
  o.method = ReverseSdeMethod::euler_maruyama;
  o.steps = 1000;
  run(state, o);
}
BENCHMARK(BM_EulerMaruyama)
    ->ArgNames({"d", "threads"})
    ->ArgsProduct({{1, 2}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

void BM_Adaptive(benchmark::State& state) {
  ReverseSdeOptions o;
  o.method = ReverseSdeMethod::adaptive;
  o.rtol = o.atol = 1e-2;
  run(state, o);
}
BENCHMARK(BM_Adaptive)
    ->ArgNames({"d", "threads"})
    ->ArgsProduct({{1, 2}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

}  // namespace
