#include "gengap/kernels/blas_runtime.hpp"

#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace gengap {
namespace {

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// OpenBLAS core types in increasing capability for x86-64 double kernels.
int capability(const std::string& core) {
  const std::string c = lowercase(core);
  if (c.find("skylakex") != std::string::npos || c.find("cooperlake") != std::string::npos ||
      c.find("sapphirerapids") != std::string::npos)
    return 3;
  if (c.find("haswell") != std::string::npos || c.find("zen") != std::string::npos) return 2;
  if (c.find("sandybridge") != std::string::npos) return 1;
  return 0;
}

std::string recommended_core() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

}  // namespace

BlasInfo blas_info() {
  BlasInfo info;
  info.core_name = openblas_get_corename();
  info.recommended_core = recommended_core();
  info.slow_kernels = !info.recommended_core.empty() && capability(info.core_name) < capability(info.recommended_core);
  info.threads = openblas_get_num_threads();
  info.config = openblas_get_config();
  return info;
}

void reexec_with_fast_blas(int /*argc*/, char** argv) {
  // An inherited OPENBLAS_CORETYPE (often "Haswell" or nothing at all) is not
  // trusted: only GENGAP_ALLOW_SLOW_BLAS=1 keeps slower kernels on purpose.
  if (const char* allow = std::getenv("GENGAP_ALLOW_SLOW_BLAS"); allow != nullptr && std::string(allow) == "1") return;
  if (std::getenv("GENGAP_BLAS_REEXECUTED") != nullptr) return;  // at most once: no exec loop
  const BlasInfo info = blas_info();
  if (!info.slow_kernels) return;
  setenv("OPENBLAS_CORETYPE", info.recommended_core.c_str(), 1);
  setenv("GENGAP_BLAS_REEXECUTED", "1", 1);
  execv("/proc/self/exe", argv);
  // execv returns only on failure: carry on, but loudly.
  std::fprintf(stderr, "gengap: warning: could not re-execute with OPENBLAS_CORETYPE=%s; BLAS runs on slow %s kernels\n",
               info.recommended_core.c_str(), info.core_name.c_str());
}

void warn_if_slow_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    const BlasInfo info = blas_info();
    if (info.slow_kernels) {
      std::fprintf(stderr,
                   "gengap: warning: OpenBLAS runs %s kernels on a CPU that supports %s (several times slower); "
                   "set OPENBLAS_CORETYPE=%s before starting the program\n",
                   info.core_name.c_str(), info.recommended_core.c_str(), info.recommended_core.c_str());
    }
  });
}

namespace {
// Single-threaded scopes are reference-counted process-wide: OpenBLAS's thread
// count is global, so concurrent scopes (log_likelihood called from several TBB
// tasks) each saving and restoring it would race and leave a wrong value. The
// first single-threaded scope saves the count, the last one restores it.
std::mutex single_thread_mutex;
std::size_t single_thread_depth = 0;
int single_thread_saved = 0;
}  // namespace

ScopedBlasThreads::ScopedBlasThreads(int threads) : threads_(threads) {
  if (threads_ == 1) {
    const std::lock_guard lock(single_thread_mutex);
    if (single_thread_depth++ == 0) {
      single_thread_saved = openblas_get_num_threads();
      if (single_thread_saved != 1) openblas_set_num_threads(1);
    }
    return;
  }
  previous_ = openblas_get_num_threads();
  if (threads != previous_) openblas_set_num_threads(threads);
}
ScopedBlasThreads::~ScopedBlasThreads() {
  if (threads_ == 1) {
    const std::lock_guard lock(single_thread_mutex);
    if (--single_thread_depth == 0 && openblas_get_num_threads() != single_thread_saved) {
      openblas_set_num_threads(single_thread_saved);
    }
    return;
  }
  if (openblas_get_num_threads() != previous_) openblas_set_num_threads(previous_);
}

}  // namespace gengap
