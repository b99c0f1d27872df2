// Threads, BLAS facts, versions and the exception mapping.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/version.h>

#include <memory>
#include <mutex>

#include "bindings.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/simd_info.hpp"
#include "gengap/version.hpp"

namespace gengap::python {
namespace {

std::mutex thread_mutex;
std::unique_ptr<tbb::global_control> thread_limit;  // empty: TBB's default (every core)

void set_num_threads(int threads) {
  if (threads < 0) throw py::value_error("threads: must be >= 0 (0: every core), got " + std::to_string(threads));
  const std::lock_guard lock(thread_mutex);
  thread_limit.reset();
  if (threads > 0) {
    thread_limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                         static_cast<std::size_t>(threads));
  }
}

int get_num_threads() {
  return static_cast<int>(tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
}

}  // namespace

void bind_runtime(py::module_& m) {
  // Misuse names the field: ValueError; a NaN/Inf where none may be:
  // FloatingPointError; a Ctrl-C that reached a call: KeyboardInterrupt.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const NumericalError& e) {
      PyErr_SetString(PyExc_FloatingPointError, e.what());
    } catch (const Interrupted& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    }
  });

  m.attr("__version__") = kVersion;
  m.def("set_num_threads", &set_num_threads, py::arg("threads"),
        "Limits gengap's worker threads (TBB) for the whole process; 0 restores the default (every core).\n"
        "Results do not depend on it: every computation is bitwise independent of the thread count.");
  m.def("get_num_threads", &get_num_threads, "The number of threads gengap's parallel loops may use.");
  m.def(
      "build_info",
      [] {
        const BlasInfo blas = blas_info();
        py::dict d;
        d["version"] = kVersion;
        d["compiler"] = kCompiler;
        d["march"] = kArchFlag;
        d["simd"] = std::string(simd_architecture());
        d["xsimd_version"] = xsimd_version();
        d["tbb_version"] = std::to_string(TBB_VERSION_MAJOR) + "." + std::to_string(TBB_VERSION_MINOR);
        d["openblas_core"] = blas.core_name;
        d["openblas_recommended_core"] = blas.recommended_core;
        d["openblas_slow_kernels"] = blas.slow_kernels;
        d["openblas_threads"] = blas.threads;
        d["openblas_config"] = blas.config;
        return d;
      },
      "What gengap was built with and runs on: version, compiler, -march, SIMD instruction set, TBB,\n"
      "and the OpenBLAS core (openblas_slow_kernels is True when OpenBLAS runs slower kernels than the\n"
      "CPU supports: set OPENBLAS_CORETYPE before Python starts, see gengap's README).");
}

}  // namespace gengap::python
