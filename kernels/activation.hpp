#pragma once
// Activations act (docs/math.md §3): relu, silu, softplus, tanh, named by an
// enum. Their formulas and SIMD kernels are internal to the library
// (kernels/simd/activation.hpp), so this header, like every installed one,
// needs neither xsimd nor the library's -march flag.
#include <string_view>

namespace gengap {

enum class Activation { relu, silu, softplus, tanh };

// "relu" | "silu" | "softplus" | "tanh"; anything else throws InvalidArgument("activation", ...).
Activation parse_activation(std::string_view name);
std::string_view to_string(Activation activation);

}  // namespace gengap
