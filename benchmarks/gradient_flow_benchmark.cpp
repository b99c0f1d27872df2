// The exact gradient flow's costs (solvers/gradient_flow.hpp, docs/math.md §6):
// one O(m^3) eigendecomposition of G_n, then per training time tau
//   - B(tau) in the eigenbasis: O(d m) (a few flops per entry),
//   - A(tau) = B(tau) Q^T: one d x m x m dgemm (2 d m^2 flops),
//   - another loss (e.g. the population one) at A(tau) through its projection
//     G~ = Q^T G Q: one d x m x m dgemm plus O(d m) (2 d m^2 flops); for d = 1
//     these are matrix-vector products bound by reading m^2 doubles per tau,
//     which GradientFlow::losses amortises over a grid of taus.
//
// Workload: G = X^T X / m with X (m x m) standard normal, a Wishart matrix
// (positive semidefinite like every Gram matrix, Marchenko-Pastur spectrum
// without the rapid decay of a random-feature Gram, so divide and conquer
// deflates little: close to dsyevd's worst case), C (m x d) normal, d = 1.
// BLAS/LAPACK run on 2 OpenBLAS threads (the flow does no TBB work). The
// eigendecomposition *is* LAPACK dsyevd, so it is its own peer (NumPy's
// eigh and SciPy's eigh(driver="evd") call the same routine).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/kronecker.hpp"

namespace {

using namespace gengap;

constexpr int threads = 2;
constexpr std::size_t d = 1;

Matrix wishart(std::size_t m, std::uint64_t seed) {
  Matrix X(m, m), G(m, m);
  CounterRng(seed, 0).fill_normal(X.flat());
  const ScopedBlasThreads blas(threads);
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, static_cast<int>(m), static_cast<int>(m),
              1.0 / static_cast<double>(m), X.data(), static_cast<int>(m), 0.0, G.data(), static_cast<int>(m));
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < i; ++j) G(j, i) = G(i, j);
  return G;
}

QuadraticLoss synthetic_loss(std::size_t m, std::uint64_t seed) {
  QuadraticLoss q{wishart(m, seed), Matrix(m, d), 0.5};
  CounterRng(seed, 1).fill_normal(q.C.flat());
  return q;
}

// One flow (and one projected "population" loss) per m, built once and shared
// by the per-tau benchmarks: the eigendecomposition is not what they time.
struct FlowFixture {
  std::unique_ptr<GradientFlow> flow;
  ProjectedLoss population;
  std::vector<double> taus;
};

const FlowFixture& flow_fixture(std::size_t m) {
  static std::map<std::size_t, FlowFixture> cache;
  auto [it, inserted] = cache.try_emplace(m);
  if (inserted) {
    const ScopedBlasThreads blas(threads);
    it->second.flow = std::make_unique<GradientFlow>(synthetic_loss(m, 1));
    it->second.population = it->second.flow->project(synthetic_loss(m, 2));
    const auto [shortest, longest] = it->second.flow->timescale_range();
    it->second.taus = log_spaced(shortest, longest, 64);
  }
  return it->second;
}

void BM_SymmetricEigen(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const Matrix G = wishart(m, 1);
  const ScopedBlasThreads blas(threads);
  for (auto _ : state) {
    const SymmetricEigen e = symmetric_eigen(G);
    benchmark::DoNotOptimize(e.values.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SymmetricEigen)->ArgName("m")->Arg(1024)->Iterations(3)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_SymmetricEigen)->ArgName("m")->Arg(2048)->Iterations(2)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_SymmetricEigen)->ArgName("m")->Arg(4096)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

// Items are training times tau; one iteration sweeps 64 of them.
void BM_FlowEigenWeightsPerTau(benchmark::State& state) {
  const FlowFixture& f = flow_fixture(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    for (double tau : f.taus) {
      const Matrix B = f.flow->eigen_weights(tau);
      benchmark::DoNotOptimize(B.data());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * f.taus.size()));
}
BENCHMARK(BM_FlowEigenWeightsPerTau)->ArgName("m")->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_FlowWeightsPerTau(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const FlowFixture& f = flow_fixture(m);
  const ScopedBlasThreads blas(threads);
  for (auto _ : state) {
    for (double tau : f.taus) {
      const Matrix A = f.flow->weights(tau);
      benchmark::DoNotOptimize(A.data());
    }
  }
  const double flops = 2.0 * d * static_cast<double>(m) * static_cast<double>(m) * static_cast<double>(f.taus.size());
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * f.taus.size()));
}
BENCHMARK(BM_FlowWeightsPerTau)->ArgName("m")->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_FlowPopulationLossPerTau(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const FlowFixture& f = flow_fixture(m);
  const ScopedBlasThreads blas(threads);
  for (auto _ : state) {
    for (double tau : f.taus) benchmark::DoNotOptimize(f.flow->loss(f.population, tau));
  }
  const double flops = 2.0 * d * static_cast<double>(m) * static_cast<double>(m) * static_cast<double>(f.taus.size());
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] = benchmark::Counter(
      8.0 * static_cast<double>(m) * static_cast<double>(m) * static_cast<double>(f.taus.size()),
      benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * f.taus.size()));
}
BENCHMARK(BM_FlowPopulationLossPerTau)->ArgName("m")->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

// The same 64 taus through GradientFlow::losses: one (64 d) x m x m dgemm reads
// G~ once instead of 64 times, turning the sweep compute-bound.
void BM_FlowPopulationLossBatched(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const FlowFixture& f = flow_fixture(m);
  const ScopedBlasThreads blas(threads);
  for (auto _ : state) {
    const std::vector<double> values = f.flow->losses(f.population, f.taus);
    benchmark::DoNotOptimize(values.data());
  }
  const double flops = 2.0 * d * static_cast<double>(m) * static_cast<double>(m) * static_cast<double>(f.taus.size());
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * f.taus.size()));
}
BENCHMARK(BM_FlowPopulationLossBatched)->ArgName("m")->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
