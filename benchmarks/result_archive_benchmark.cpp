// What a distributed study sends per setting (distributed_study.hpp): one S1
// result as bytes (generalization/io/result_archive.hpp), archived on the rank
// that computed it and unarchived on rank 0. Workload: S1 at its defaults
// (n = 1000, m = 1024, K = 256, 60 taus, 8 saved weights, density snapshots
// on the quadrature grids), the KL's Monte Carlo part reduced to 100 test
// points (it adds no bytes, only time to the fixture). Counters: the message
// size and the copy rate, against memcpy of the same bytes (the limit: the
// archive is a few memcpys of contiguous arrays plus the config's JSON).
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "gengap/generalization/io/result_archive.hpp"
#include "gengap/generalization/studies/s1/early_stopping.hpp"

namespace {

using namespace gengap;

const EarlyStoppingResult& default_result() {
  static const EarlyStoppingResult result = [] {
    EarlyStoppingConfig c;
    c.kl.test_points = 100;
    return run_early_stopping(c);
  }();
  return result;
}

void BM_ArchiveResult(benchmark::State& state) {
  const EarlyStoppingResult& r = default_result();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string message = archive_result(r);
    bytes = message.size();
    benchmark::DoNotOptimize(message.data());
  }
  state.counters["message_bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_ArchiveResult)->Unit(benchmark::kMillisecond);

void BM_UnarchiveResult(benchmark::State& state) {
  const std::string message = archive_result(default_result());
  for (auto _ : state) {
    EarlyStoppingResult r = unarchive_result(message);
    benchmark::DoNotOptimize(r.tau.data());
  }
  state.counters["message_bytes"] = static_cast<double>(message.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
}
BENCHMARK(BM_UnarchiveResult)->Unit(benchmark::kMillisecond);

// The limit: copying the message's bytes once.
void BM_CopyMessageBytes(benchmark::State& state) {
  const std::string message = archive_result(default_result());
  std::string copy(message.size(), '\0');
  for (auto _ : state) {
    std::memcpy(copy.data(), message.data(), message.size());
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
}
BENCHMARK(BM_CopyMessageBytes)->Unit(benchmark::kMillisecond);

}  // namespace
