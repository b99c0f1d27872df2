#pragma once
// OpenBLAS runtime facts and the core-type trap: Debian's OpenBLAS 0.3.21 may
// detect a modern CPU as "Prescott" and run SSE3 kernels (5x slower dgemm).
// OPENBLAS_CORETYPE must be set before the process starts, so programs call
// reexec_with_fast_blas() first thing in main(); the library itself warns
// (once, on stderr) whenever it does BLAS work on slow kernels.
#include <string>

namespace gengap {

struct BlasInfo {
  std::string core_name;         // what OpenBLAS runs (openblas_get_corename)
  std::string recommended_core;  // what this CPU supports ("SkylakeX", "Haswell", or "" if nothing better)
  bool slow_kernels = false;     // core_name is slower than recommended_core
  int threads = 1;               // openblas_get_num_threads()
  std::string config;            // openblas_get_config()
};

BlasInfo blas_info();

// If the loaded OpenBLAS runs slower kernels than the CPU supports, re-executes
// this program (same argv) once with OPENBLAS_CORETYPE set to the recommended
// core, also when a slower OPENBLAS_CORETYPE was inherited. Returns if nothing
// to do, or if GENGAP_ALLOW_SLOW_BLAS=1 asks to keep the kernels as they are.
void reexec_with_fast_blas(int argc, char** argv);

// Prints one warning to stderr (once per process) if blas_info().slow_kernels.
void warn_if_slow_blas();

// Sets OpenBLAS's thread count for this scope and restores it afterwards.
// Used around BLAS calls made inside TBB tasks (one BLAS thread per task:
// nested oversubscription is the classic slow-down). Single-threaded scopes may
// overlap across threads: they are reference-counted, the outermost restores.
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int threads);
  ~ScopedBlasThreads();
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  int threads_;
  int previous_ = 0;
};

}  // namespace gengap
