#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/activation.hpp"

#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {

constexpr EnumName<Activation> activation_names[] = {{Activation::relu, "relu"},
                                                     {Activation::silu, "silu"},
                                                     {Activation::softplus, "softplus"},
                                                     {Activation::tanh, "tanh"}};

Activation parse_activation(std::string_view name) {
  return parse_enum_name(name, activation_names, "activation", "activation");
}

std::string_view to_string(Activation activation) {
  return enum_name(activation, activation_names, "activation", "Activation");
}

}  // namespace gengap
