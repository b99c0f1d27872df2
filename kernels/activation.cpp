#include "gengap/kernels/activation.hpp"

#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {

Activation parse_activation(std::string_view name) {
  if (name == "relu") return Activation::relu;
  if (name == "silu") return Activation::silu;
  if (name == "softplus") return Activation::softplus;
  if (name == "tanh") return Activation::tanh;
  throw InvalidArgument("activation",
                        "unknown activation '" + std::string(name) + "' (expected relu|silu|softplus|tanh)");
}

std::string_view to_string(Activation activation) {
  switch (activation) {
    case Activation::relu: return "relu";
    case Activation::silu: return "silu";
    case Activation::softplus: return "softplus";
    case Activation::tanh: return "tanh";
  }
  throw InvalidArgument("activation", "not a valid Activation value");
}

}  // namespace gengap
