// Shared GoogleTest main: tests run on the fast OpenBLAS kernels (see
// kernels/blas_runtime.hpp), never silently on the slow ones.
#include <gtest/gtest.h>

#include "gengap/kernels/blas_runtime.hpp"

int main(int argc, char** argv) {
  gengap::reexec_with_fast_blas(argc, argv);
  gengap::warn_if_slow_blas();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
