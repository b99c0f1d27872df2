#include "gengap/kernels/simd_info.hpp"

#include <xsimd/xsimd.hpp>

namespace gengap {

std::string_view simd_architecture() { return xsimd::default_arch::name(); }

std::string xsimd_version() {
  return std::to_string(XSIMD_VERSION_MAJOR) + "." + std::to_string(XSIMD_VERSION_MINOR) + "." +
         std::to_string(XSIMD_VERSION_PATCH);
}

}  // namespace gengap
