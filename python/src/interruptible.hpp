#pragma once
// Long library calls from Python: run with the GIL released, interruptible by
// Ctrl-C.
//
// Python runs signal handlers only on its main thread and only while that
// thread holds the GIL, so a call that computes on the calling thread cannot
// see Ctrl-C until it returns. run_interruptible runs the call on a worker
// thread instead; the calling thread waits with the GIL released and every
// 50 ms takes it to run Python's signal handlers (PyErr_CheckSignals). When a
// handler raises (KeyboardInterrupt for Ctrl-C), it requests the library's
// cooperative interruption (kernels/interruption.hpp), waits for the worker
// to unwind at its next poll, clears the request and re-raises the Python
// exception. Exceptions of the call itself are re-raised on the calling
// thread (pybind11 translates them). A Python callback inside the call (a
// score given as a Python function) takes the GIL for itself.
// The call runs with OpenBLAS single-threaded, as the command line runs
// everything: all parallelism is TBB's, so no BLAS reduction (LAPACK's
// eigendecomposition) depends on a thread count, and results are the command
// line's bit for bit.
#include <pybind11/pybind11.h>

#include <chrono>
#include <exception>
#include <future>
#include <optional>
#include <type_traits>
#include <utility>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/interruption.hpp"

namespace gengap::python {

namespace py = pybind11;

template <class F>
auto run_interruptible(F&& fn) -> std::invoke_result_t<F&> {
  using Result = std::invoke_result_t<F&>;
  std::future<Result> done;
  {
    py::gil_scoped_release release;
    done = std::async(std::launch::async, [&fn] {
      const ScopedBlasThreads single_threaded_blas(1);
      return fn();
    });
  }
  for (;;) {
    std::future_status status;
    {
      py::gil_scoped_release release;
      status = done.wait_for(std::chrono::milliseconds(50));
    }
    if (status == std::future_status::ready) break;
    if (PyErr_CheckSignals() != 0) {
      // The handler raised: stop the worker, then re-raise what it raised.
      py::error_already_set raised;
      request_interrupt();
      {
        py::gil_scoped_release release;
        done.wait();
      }
      clear_interrupt();
      try {
        (void)done.get();
      } catch (...) {
        // Interrupted, or whatever the call met while unwinding: the signal wins.
      }
      throw raised;
    }
  }
  return done.get();
}

}  // namespace gengap::python
