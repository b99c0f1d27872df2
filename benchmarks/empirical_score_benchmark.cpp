// The streaming empirical score (kernels/empirical_score.hpp, docs/math.md §8):
// score, log p_t^n and divergence of q queries against n training points,
// against its peer benchmarks/peers/empirical_score_torch.py (torch.cdist +
// logsumexp + weighted sums in float64, chunked to 256 MiB blocks) on the same
// workload, sizes and threads.
//
// Workload: n = 10^5 training points x_i ~ N(0, I_d), q = 10^5 queries
// x = mu_t z0 + sigma_t z (fresh normal z0, z: held-out points diffused to t)
// under the ou schedule at t = 0.1 (sigma_t = 0.43: in d = 64 a few points
// carry the weight of each query, in d = 2 all do) and t = 1 (sigma_t = 0.93,
// all points carry weight in both), d = 2 and 64. GENGAP_EMPIRICAL_QUERIES
// overrides q (the time per pair is independent of q: scale, and say so).
// Args: d, t in thousandths, screening (0 automatic, 1 off, 2 on), threads
// (TBB arena).
//
// Counters: pairs/s (items_per_second; one pair = one query x one training
// point), GFLOP/s-equivalent counting 6 d flops per pair (the distance and the
// two weighted sums of a dense implementation: the peer's count), the fraction
// of pairs whose exact distance was computed, whose weights were accumulated
// by the exact sweeps, and that went through the expanded form (the rest were
// screened out or skipped), the fraction of queries redone exactly (their
// output error bound exceeded the tolerance), peak_rss_MiB: the
// process's resident high-water mark during the timed run (reset through
// /proc/self/clear_refs; includes the inputs and outputs, 2 (q + n) d doubles),
// and model_MiB: the kernel's own working memory (packed training set and
// per-task scratch), independent of q.
//
// The kernel no longer calls BLAS (its tile kernels are its own), so the
// OpenBLAS core type matters only to the peer.
// Measured (AMD EPYC, 2 cores, avx512, OPENBLAS_CORETYPE=SkylakeX; no other
// process running: the 1-minute load average 1.3-1.7 was our own 2 threads;
// torch 1.13 from Debian, 5% of the queries scaled to all, run right after;
// full sizes on our side, one benchmark per process):
//   d = 2,  t = 0.1:  7.84 s (1.28e9 pairs/s), peak RSS 18 MB;  torch 126 s, 1038 MB  (16x)
//   d = 2,  t = 1:    7.95 s (1.26e9 pairs/s), 18 MB  (16x)
//   d = 64, t = 0.1:  21.9 s (4.6e8 pairs/s, 175 GFLOP/s-eq, screening: 3.2% of
//                     the pairs exact), 261 MB;  torch 154 s, 1138 MB  (7.0x)
//   d = 64, t = 1:    32.1 s (3.1e8 pairs/s, 120 GFLOP/s-eq, every query in the
//                     expanded form, none redone), 261 MB  (4.8x)
// (An earlier idle-machine torch run took 129 s at d = 64 (4.0x, 5.9x) and
// 113 s at d = 2. Before the tile kernels: 35.4 s and 87.3 s at d = 64.)
// (torch's time does not depend on t; its chunk size swept: 256 MiB blocks were
// fastest, 64 MiB ~1.5x and 1024 MiB ~1.2x slower.)
//
// Run one benchmark per process for the peak memory, e.g. (two commands, each
// on one line; no backslash here, which would continue this // comment)
//   OPENBLAS_CORETYPE=SkylakeX build/benchmarks/empirical_score_benchmark
//       --benchmark_filter='BM_EmpiricalScore/d:64/t_milli:1000/screen:0/threads:2'
//   OPENBLAS_CORETYPE=SkylakeX /usr/bin/time -v /usr/bin/python3
//       benchmarks/peers/empirical_score_torch.py --dim 64 --threads 2 --fraction 0.05
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_arena.h>
#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/random.hpp"

namespace {

using namespace gengap;

constexpr std::size_t training_points = 100000;

std::size_t query_count() {
  if (const char* q = std::getenv("GENGAP_EMPIRICAL_QUERIES")) return std::max<std::size_t>(1, std::stoul(q));
  return 100000;
}

struct Workload {
  EmpiricalScore empirical;
  Matrix x;
};

const Workload& workload(std::size_t d, double t) {
  static std::map<std::pair<std::size_t, double>, Workload> cache;
  const auto key = std::make_pair(d, t);
  if (const auto found = cache.find(key); found != cache.end()) return found->second;
  Matrix train(training_points, d);
  CounterRng(0, streams::training_data).fill_normal(train.flat());
  const std::size_t q = query_count();
  Matrix x(q, d), noise(q, d);
  CounterRng(0, streams::test_data).fill_normal(x.flat());
  CounterRng(1, streams::test_data).fill_normal(noise.flat());
  const double mu = std::exp(-t), sigma = std::sqrt(-std::expm1(-2 * t));
  for (std::size_t i = 0; i < x.size(); ++i) x.flat()[i] = mu * x.flat()[i] + sigma * noise.flat()[i];
  return cache.emplace(key, Workload{EmpiricalScore(train.view()), std::move(x)}).first->second;
}

// Resident-set high-water mark in MiB (VmHWM), and its reset (Linux >= 4.0).
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

void BM_EmpiricalScore(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  const double t = static_cast<double>(state.range(1)) / 1000.0;
  EmpiricalScoreOptions options;
  options.screening = state.range(2) == 0   ? DistanceScreening::automatic
                      : state.range(2) == 1 ? DistanceScreening::off
                                            : DistanceScreening::on;
  const int threads = static_cast<int>(state.range(3));
  const Workload& w = workload(d, t);
  const std::size_t q = w.x.rows();
  const double mu[1] = {std::exp(-t)}, sigma[1] = {std::sqrt(-std::expm1(-2 * t))};
  std::vector<double> score(q * d), log_density(q), divergence(q);
  tbb::task_arena arena(threads);
  EmpiricalScoreStats stats;
  reset_peak_rss();
  for (auto _ : state) {
    arena.execute(
        [&] { stats = w.empirical.evaluate(w.x.view(), mu, sigma, score, log_density, divergence, options); });
    benchmark::DoNotOptimize(score.data());
    benchmark::ClobberMemory();
  }
  const double pairs = stats.pairs();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * pairs));
  state.counters["GFLOP/s_equiv"] =
      benchmark::Counter(6.0 * static_cast<double>(d) * pairs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["distance_frac"] = static_cast<double>(stats.distance_pairs) / pairs;
  state.counters["weighted_frac"] = static_cast<double>(stats.weighted_pairs) / pairs;
  state.counters["expanded_frac"] = static_cast<double>(stats.expanded_pairs) / pairs;
  state.counters["screened_blocks"] = static_cast<double>(stats.screened_blocks);
  state.counters["redone_frac"] = static_cast<double>(stats.expanded_redone) / static_cast<double>(q);
  state.counters["peak_rss_MiB"] = peak_rss_mib();
  // Working memory: the as-given copy n x d, the panels (n rounded up to 32) x d
  // and |x_i|^2, for d <= 4 the coordinate-major copy d x n_padded, for d > 4
  // the padded rows n_padded x d_row; per task: the tile's query state
  // (~d + 8 per query), a block's log-weights and, with tile kernels,
  // l~/weights of the tile's block (tile B) and its moments (tile d_row).
  const double W = static_cast<double>(xsimd::batch<double>::size);
  const double n = static_cast<double>(training_points), dd = static_cast<double>(d);
  const double n_padded = std::ceil(n / W) * W, n_panels = std::ceil(n / 32.0) * 32.0;
  const double d_row = d > 4 ? std::ceil(dd / W) * W : 0.0;
  const double B = static_cast<double>(stats.block_points), T = static_cast<double>(options.tile);
  const bool gemm = stats.screened_blocks > 0;
  const double per_task = T * (dd + 8.0) + B + (gemm ? T * B + T * d_row : 0.0);
  const double model = n * dd + n_panels * (dd + 1.0) + (d <= 4 ? dd * n_padded : n_padded * d_row);
  state.counters["model_MiB"] = (model + threads * per_task) * sizeof(double) / (1024.0 * 1024.0);
  state.counters["queries"] = static_cast<double>(q);
  state.SetLabel(std::string(stats.simd));
}

BENCHMARK(BM_EmpiricalScore)
    ->ArgNames({"d", "t_milli", "screen", "threads"})
    ->Args({2, 100, 0, 2})
    ->Args({2, 1000, 0, 2})
    ->Args({64, 100, 0, 2})
    ->Args({64, 1000, 0, 2})
    ->Args({64, 100, 1, 2})
    ->Args({64, 1000, 1, 2})
    ->Args({2, 100, 0, 1})
    ->Args({64, 100, 0, 1})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

// Where screening starts to pay (the automatic mode's threshold): d = 4..64,
// screening off and on, t = 0.01 and 0.1 (run with GENGAP_EMPIRICAL_QUERIES = 2000).
BENCHMARK(BM_EmpiricalScore)
    ->Name("BM_EmpiricalScoreScreeningThreshold")
    ->ArgNames({"d", "t_milli", "screen", "threads"})
    ->ArgsProduct({{4, 8, 16, 32, 64}, {10, 100}, {1, 2}, {2}})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
