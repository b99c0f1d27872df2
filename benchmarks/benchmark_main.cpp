// Shared Google Benchmark main: benchmarks run on the fast OpenBLAS kernels,
// and the context printed with every run says which core type, TBB threads and
// SIMD instruction set were used.
#include <benchmark/benchmark.h>
#include <string>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/simd_info.hpp"

int main(int argc, char** argv) {
  gengap::reexec_with_fast_blas(argc, argv);
  gengap::warn_if_slow_blas();
  const auto blas = gengap::blas_info();
  benchmark::AddCustomContext("openblas_core", blas.core_name);
  benchmark::AddCustomContext("simd", std::string(gengap::simd_architecture()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
