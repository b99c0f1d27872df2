#pragma once
// std::vector<T, AlignedAllocator<T>>: storage aligned to 64 bytes, one cache
// line and the widest x86 SIMD register (AVX-512), so the kernels' aligned
// loads are valid for every GENGAP_ARCH. gengap's own rather than xsimd's
// aligned_allocator, whose default alignment depends on the -march of the
// including file: installed headers must not depend on the library's flags.
#include <cstddef>
#include <new>

namespace gengap::detail {

inline constexpr std::size_t simd_alignment = 64;

template <class T>
struct AlignedAllocator {
  using value_type = T;

  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}

  T* allocate(std::size_t count) {
    if (count > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t{simd_alignment}));
  }
  void deallocate(T* pointer, std::size_t) noexcept {
    ::operator delete(pointer, std::align_val_t{simd_alignment});
  }

  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
};

}  // namespace gengap::detail
