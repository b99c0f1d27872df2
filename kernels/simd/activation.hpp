#pragma once
// The activations' formulas and their SIMD kernels (docs/math.md §3). Each
// activation is a struct of two static function templates that work on both
// double and xsimd::batch<double>, so one kernel templated on the activation
// serves every activation (no per-activation copies), and the scalar reference
// beside it is the same formula evaluated on doubles.
// Internal: kernels/simd/ holds every header that includes xsimd; they are
// compiled with GENGAP_ARCH into the library (and its own tests and
// benchmarks) and never installed.
#include <cstddef>
#include <span>

#include <xsimd/xsimd.hpp>

#include "gengap/kernels/activation.hpp"

namespace gengap {

namespace act {
// Each: value(z) = act(z), derivative(z) = act'(z). T is double or xsimd::batch<double>.
struct Relu {
  template <class T> static T value(T z);
  template <class T> static T derivative(T z);
};
struct Silu {  // z * sigmoid(z);  derivative sigmoid(z) * (1 + z (1 - sigmoid(z)))
  template <class T> static T value(T z);
  template <class T> static T derivative(T z);
};
struct Softplus {  // log(1 + e^z) = max(z, 0) + log1p(e^{-|z|});  derivative sigmoid(z)
  template <class T> static T value(T z);
  template <class T> static T derivative(T z);
};
struct Tanh {  // derivative 1 - tanh^2
  template <class T> static T value(T z);
  template <class T> static T derivative(T z);
};
}  // namespace act

// Calls f(act::Relu{}) / f(act::Silu{}) / ... : the one place an Activation
// value turns into a kernel's template argument (dispatch high, never in a loop).
template <class F>
decltype(auto) with_activation(Activation activation, F&& f);

// value[i] = act(z[i]); SIMD main loop over full batches, scalar remainder.
// Spans must have equal length (asserted); unaligned loads; never reads past the end.
template <class Act>
void activate(std::span<const double> z, std::span<double> value);
// value[i] = act(z[i]), derivative[i] = act'(z[i]).
template <class Act>
void activate_with_derivative(std::span<const double> z, std::span<double> value, std::span<double> derivative);

// Scalar references (what the tests compare the SIMD kernels against).
template <class Act>
void activate_scalar(std::span<const double> z, std::span<double> value);
template <class Act>
void activate_with_derivative_scalar(std::span<const double> z, std::span<double> value,
                                     std::span<double> derivative);

}  // namespace gengap

#include "gengap/kernels/simd/activation_impl.hpp"
