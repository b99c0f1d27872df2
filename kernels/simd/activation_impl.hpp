#pragma once
// Definitions for gengap/kernels/simd/activation.hpp (included at its end).
// Every formula is written once, as a template over T = double or
// xsimd::batch<double>; the few operations whose spelling differs between the
// two (a lane-wise choice) get an overload pair in `detail`.
#include <cassert>
#include <utility>

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics
// (_mm512_undefined_pd, GCC bug 105593) wherever xsimd's exp is inlined; the
// warning is about the compiler's header, not gengap's code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace gengap {
namespace act::detail {

// z > 0 ? if_positive : otherwise, lane-wise for batches.
inline double positive_or(double z, double if_positive, double otherwise) {
  return z > 0.0 ? if_positive : otherwise;
}
template <class Arch>
xsimd::batch<double, Arch> positive_or(xsimd::batch<double, Arch> z, xsimd::batch<double, Arch> if_positive,
                                       xsimd::batch<double, Arch> otherwise) {
  return xsimd::select(z > xsimd::batch<double, Arch>(0.0), if_positive, otherwise);
}

// 1 / (1 + e^{-z}): for z -> -inf, e^{-z} overflows to +inf and the quotient is
// an exact 0 (never inf/inf), for z -> +inf e^{-z} underflows to 0 and gives 1.
template <class T>
T sigmoid(T z) {
  return T(1.0) / (T(1.0) + xsimd::exp(-z));
}

}  // namespace act::detail

namespace act {

template <class T>
T Relu::value(T z) {
  return xsimd::max(z, T(0.0));
}
// act'(0) is taken as 0 (the subgradient the theory uses for the kink).
template <class T>
T Relu::derivative(T z) {
  return detail::positive_or(z, T(1.0), T(0.0));
}

template <class T>
T Silu::value(T z) {
  return z * detail::sigmoid(z);
}
// At z = -800, sigmoid = 0 exactly and the product is -0 (not 0 * inf).
template <class T>
T Silu::derivative(T z) {
  const T s = detail::sigmoid(z);
  return s * (T(1.0) + z * (T(1.0) - s));
}

// max(z, 0) + log1p(e^{-|z|}): the exponent is never positive, so no overflow.
template <class T>
T Softplus::value(T z) {
  return xsimd::max(z, T(0.0)) + xsimd::log1p(xsimd::exp(-xsimd::abs(z)));
}
template <class T>
T Softplus::derivative(T z) {
  return detail::sigmoid(z);
}

template <class T>
T Tanh::value(T z) {
  return xsimd::tanh(z);
}
template <class T>
T Tanh::derivative(T z) {
  const T h = xsimd::tanh(z);
  return T(1.0) - h * h;
}

// value = act(z) and derivative = act'(z) in one evaluation that shares the
// expensive part (the exponential or tanh); the kernels use this, the
// per-function templates above remain the definitions.
template <class T>
void value_and_derivative(Relu, T z, T& value, T& derivative) {
  value = Relu::value(z);
  derivative = Relu::derivative(z);
}
template <class T>
void value_and_derivative(Silu, T z, T& value, T& derivative) {
  const T s = detail::sigmoid(z);
  value = z * s;
  derivative = s * (T(1.0) + z * (T(1.0) - s));
}
// With u = e^{-|z|} in (0, 1]: sigmoid(z) = 1/(1+u) for z > 0 and u/(1+u)
// otherwise, both free of overflow.
template <class T>
void value_and_derivative(Softplus, T z, T& value, T& derivative) {
  const T u = xsimd::exp(-xsimd::abs(z));
  value = xsimd::max(z, T(0.0)) + xsimd::log1p(u);
  derivative = detail::positive_or(z, T(1.0), u) / (T(1.0) + u);
}
template <class T>
void value_and_derivative(Tanh, T z, T& value, T& derivative) {
  const T h = xsimd::tanh(z);
  value = h;
  derivative = T(1.0) - h * h;
}

}  // namespace act

template <class F>
decltype(auto) with_activation(Activation activation, F&& f) {
  switch (activation) {
    case Activation::relu: return std::forward<F>(f)(act::Relu{});
    case Activation::silu: return std::forward<F>(f)(act::Silu{});
    case Activation::softplus: return std::forward<F>(f)(act::Softplus{});
    case Activation::tanh: break;
  }
  // Activation::tanh, and the fall-through for an out-of-range enum value is
  // unreachable once parse_activation/validate have run.
  return std::forward<F>(f)(act::Tanh{});
}

template <class Act>
void activate(std::span<const double> z, std::span<double> value) {
  assert(z.size() == value.size());
  using Batch = xsimd::batch<double>;
  constexpr std::size_t width = Batch::size;
  const std::size_t n = z.size();
  const std::size_t full = n - n % width;
  std::size_t i = 0;
  for (; i < full; i += width) {
    Act::value(Batch::load_unaligned(z.data() + i)).store_unaligned(value.data() + i);
  }
  for (; i < n; ++i) value[i] = Act::value(z[i]);
}

template <class Act>
void activate_with_derivative(std::span<const double> z, std::span<double> value, std::span<double> derivative) {
  assert(z.size() == value.size() && z.size() == derivative.size());
  using Batch = xsimd::batch<double>;
  constexpr std::size_t width = Batch::size;
  const std::size_t n = z.size();
  const std::size_t full = n - n % width;
  std::size_t i = 0;
  for (; i < full; i += width) {
    const Batch zi = Batch::load_unaligned(z.data() + i);
    // Both are computed before storing, so z may alias value or derivative.
    Batch v, dv;
    act::value_and_derivative(Act{}, zi, v, dv);
    v.store_unaligned(value.data() + i);
    dv.store_unaligned(derivative.data() + i);
  }
  for (; i < n; ++i) {
    double v, dv;
    act::value_and_derivative(Act{}, z[i], v, dv);
    value[i] = v;
    derivative[i] = dv;
  }
}

template <class Act>
void activate_scalar(std::span<const double> z, std::span<double> value) {
  assert(z.size() == value.size());
  for (std::size_t i = 0; i < z.size(); ++i) value[i] = Act::value(z[i]);
}

template <class Act>
void activate_with_derivative_scalar(std::span<const double> z, std::span<double> value,
                                     std::span<double> derivative) {
  assert(z.size() == value.size() && z.size() == derivative.size());
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double zi = z[i];
    value[i] = Act::value(zi);
    derivative[i] = Act::derivative(zi);
  }
}

}  // namespace gengap

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
