// The library's aligned allocator: every allocation starts on a 64-byte
// boundary (the SIMD kernels' aligned loads rely on it for any GENGAP_ARCH),
// across sizes, element types and reallocation by growth.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "gengap/kernels/detail/aligned_allocator.hpp"

namespace gengap {
namespace {

template <class T>
bool aligned(const T* pointer) {
  return reinterpret_cast<std::uintptr_t>(pointer) % detail::simd_alignment == 0;
}

TEST(AlignedAllocator, EveryAllocationIsOn64Bytes) {
  for (std::size_t n = 1; n <= 257; ++n) {
    std::vector<double, detail::AlignedAllocator<double>> v(n, 1.0);
    EXPECT_TRUE(aligned(v.data())) << "n = " << n;
    std::vector<char, detail::AlignedAllocator<char>> c(n);
    EXPECT_TRUE(aligned(c.data())) << "n = " << n;
  }
}

TEST(AlignedAllocator, GrowthKeepsAlignmentAndValues) {
  std::vector<double, detail::AlignedAllocator<double>> v;
  for (int i = 0; i < 1000; ++i) {
    v.push_back(i);
    ASSERT_TRUE(aligned(v.data())) << "size " << v.size();
  }
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(v[static_cast<std::size_t>(i)], i);
}

TEST(AlignedAllocator, RefusesAnImpossibleSize) {
  detail::AlignedAllocator<double> allocator;
  EXPECT_THROW((void)allocator.allocate(static_cast<std::size_t>(-1) / 4), std::bad_array_new_length);
}

}  // namespace
}  // namespace gengap
