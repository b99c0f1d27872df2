// Random-feature score kernels (docs/math.md §3, §9): the fused score + divergence
// that the likelihood ODE evaluates at every stage, and the serial feature tile
// that the Gram/loss kernels consume. items = points x features.
// Arguments: BM_ScoreAndDivergence/m/d/threads, BM_FeatureTile/m/d/tile.
// Issue target: 2 threads >= 1.8x the throughput of 1 thread.
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_arena.h>

#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/kernels/detail/random_feature_tiles.hpp"
#include "gengap/kernels/random_features.hpp"

namespace {

using namespace gengap;

constexpr std::size_t points = 16384;
constexpr std::size_t embedding_dim = 16;

struct Workload {
  RandomFeatures rf;
  Matrix A, X;
  std::vector<double> t, c;
};

Workload make_workload(std::size_t m, std::size_t d, std::size_t n) {
  Workload w{draw_random_features(m, d, fourier_embedding(embedding_dim, 30.0, 2), Activation::silu,
                                  FeatureInit::sphere, 1),
             Matrix(d, m), Matrix(n, d), std::vector<double>(n), std::vector<double>(n, 1.0)};
  const CounterRng rng(3, streams::test_data);
  rng.fill_normal(w.A.flat());
  rng.fill_normal(w.X.flat(), 1u << 30);
  rng.fill_uniform(w.t, 1u << 31);
  return w;
}

void BM_ScoreAndDivergence(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const auto threads = static_cast<int>(state.range(2));
  const Workload w = make_workload(m, d, points);
  std::vector<double> score(points * d), divergence(points);
  tbb::task_arena arena(threads);
  for (auto _ : state) {
    arena.execute([&] { detail::score_and_divergence_tiles(w.rf, w.A, w.X, w.t, w.c, score, divergence); });
    benchmark::DoNotOptimize(score.data());
    benchmark::DoNotOptimize(divergence.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(points * m));
  state.counters["threads"] = threads;
}
BENCHMARK(BM_ScoreAndDivergence)
    ->ArgNames({"m", "d", "threads"})
    ->ArgsProduct({{512, 1024, 4096}, {1, 2, 64}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_FeatureTile(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const auto tile = static_cast<std::size_t>(state.range(2));
  const Workload w = make_workload(m, d, tile);
  std::vector<double> phi(tile * m);
  for (auto _ : state) {
    feature_tile(w.rf, w.X, w.t, {}, phi);
    benchmark::DoNotOptimize(phi.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tile * m));
}
BENCHMARK(BM_FeatureTile)
    ->ArgNames({"m", "d", "tile"})
    ->ArgsProduct({{512, 4096}, {1, 64}, {64, 256}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
