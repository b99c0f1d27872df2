#pragma once
// What the library's SIMD kernels were compiled for, for run records and
// benchmark contexts: the xsimd architecture chosen at the library's build
// (GENGAP_ARCH), known only inside the library since xsimd is not part of its
// installed interface.
#include <string>
#include <string_view>

namespace gengap {

// xsimd's name for the instruction set of the library's kernels ("avx512bw", "avx2", "sse2", ...).
std::string_view simd_architecture();
// The xsimd release the kernels were compiled against, "major.minor.patch".
std::string xsimd_version();

}  // namespace gengap
