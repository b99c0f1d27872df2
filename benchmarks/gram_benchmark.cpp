// Gram matrices of the DSM loss (solvers/quadratic_loss.hpp) against their
// peer, OpenBLAS dsyrk on the same N x m feature matrix precomputed in memory.
//
// Workload: empirical Monte Carlo design, d = 1, n = 64 samples x K = 1024
// draws (N = 65536 points), m in {512, 1024, 2048}, Fourier time embedding
// (d_e = 16, scale 30, the paper's code). Both run on 2 threads: gengap in a
// 2-thread TBB arena (single-threaded BLAS per task), the peer with OpenBLAS's
// own 2 threads. Both count N m^2 flops (the symmetric rank-N update), so
// GFLOP/s compare directly; gengap's time also includes drawing the design
// points and computing the features, which the peer gets for free.
//
// Memory: peak_heap_MiB is the largest growth of live heap bytes (operator
// new/delete are counted in this executable; OpenBLAS's fixed internal buffers
// are not) during the timed loop; for the peer it includes building the
// features it consumes. model_MiB is the allocation-size model: gengap holds
// two m x m accumulators and two tiles of weighted features (2 m^2 +
// 2 tile_rows m doubles, independent of N); the peer needs the N x m features
// plus G.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <oneapi/tbb/task_arena.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "gengap/kernels/random.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace {

using namespace gengap;

constexpr std::size_t samples = 64;
constexpr std::size_t draws = 1024;
constexpr std::size_t N = samples * draws;
constexpr int threads = 2;

struct Workload {
  RandomFeatures rf;
  std::unique_ptr<DesignPoints> points;
};

Workload make_workload(std::size_t m, Activation activation) {
  Matrix data(samples, 1);
  CounterRng(1, streams::training_data).fill_normal(data.flat());
  DsmSetup setup;
  setup.schedule = default_schedule(ScheduleKind::ou);
  return {draw_random_features(m, 1, fourier_embedding(16, 30.0, 2), activation, FeatureInit::sphere, 3),
          empirical_monte_carlo(data, draws, setup, 4)};
}

// Live heap bytes and their high-water mark, counted by the global operator
// new/delete replacements at the end of this file.
std::atomic<long long> live_bytes{0};
std::atomic<long long> peak_bytes{0};

void reset_peak() { peak_bytes.store(live_bytes.load()); }
// Peak growth since the last reset_peak(), in MiB.
double peak_growth_mib(long long start) { return static_cast<double>(peak_bytes.load() - start) / (1024.0 * 1024.0); }

double mib(double doubles) { return doubles * sizeof(double) / (1024.0 * 1024.0); }

void BM_GramMatrices(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const Activation activation = state.range(1) == 0 ? Activation::relu : Activation::silu;
  const Workload work = make_workload(m, activation);
  tbb::task_arena arena(threads);
  const GramOptions options;
  const long long start = live_bytes.load();
  reset_peak();
  for (auto _ : state) {
    QuadraticLoss loss;
    arena.execute([&] { loss = gram_matrices(work.rf, *work.points, options); });
    benchmark::DoNotOptimize(loss.G.data());
    benchmark::ClobberMemory();
  }
  const double flops = static_cast<double>(N) * static_cast<double>(m) * static_cast<double>(m);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_heap_MiB"] = peak_growth_mib(start);
  state.counters["model_MiB"] = mib(static_cast<double>(2 * m * m + 2 * options.tile_rows * m));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * N));
  state.SetLabel(std::string(to_string(activation)));
}
BENCHMARK(BM_GramMatrices)
    ->ArgNames({"m", "silu"})
    ->Args({512, 0})
    ->Args({1024, 0})
    ->Args({2048, 0})
    ->Args({512, 1})
    ->Args({1024, 1})
    ->Args({2048, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The peer: G = Phi^T Phi by one OpenBLAS dsyrk call on 2 OpenBLAS threads,
// Phi (N x m) precomputed (not timed).
void BM_OpenBlasDsyrk(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const long long start = live_bytes.load();
  reset_peak();
  const Workload work = make_workload(m, Activation::relu);
  DesignTile tile;
  work.points->fill(0, N, tile);
  const Matrix phi = features(work.rf, tile.x, tile.t);
  Matrix G(m, m);
  const int previous = openblas_get_num_threads();
  openblas_set_num_threads(threads);
  for (auto _ : state) {
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, static_cast<int>(m), static_cast<int>(N), 1.0, phi.data(),
                static_cast<int>(m), 0.0, G.data(), static_cast<int>(m));
    benchmark::DoNotOptimize(G.data());
    benchmark::ClobberMemory();
  }
  openblas_set_num_threads(previous);
  const double flops = static_cast<double>(N) * static_cast<double>(m) * static_cast<double>(m);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_heap_MiB"] = peak_growth_mib(start);
  state.counters["model_MiB"] = mib(static_cast<double>(N * m + m * m));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * N));
}
BENCHMARK(BM_OpenBlasDsyrk)
    ->ArgName("m")
    ->Arg(512)
    ->Arg(1024)
    ->Arg(2048)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

// Counting replacements of the global allocation functions (this executable
// only). malloc_usable_size gives the size being freed without a header.
// Where GCC inlines this operator delete into a caller of new, it sees
// std::free on memory from operator new and warns (-Wmismatched-new-delete);
// here new is malloc, so the pair matches.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  const long long now = live_bytes.fetch_add(static_cast<long long>(malloc_usable_size(p))) +
                        static_cast<long long>(malloc_usable_size(p));
  long long peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
  return p;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(static_cast<long long>(malloc_usable_size(p)));
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
