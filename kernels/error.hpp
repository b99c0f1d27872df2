#pragma once
// Misuse at the API boundary throws gengap::InvalidArgument naming the field
// and the problem ("m: must be positive, got 0"); expected numerical failures
// come back as status values from the solvers instead.
#include <cmath>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gengap {

class InvalidArgument : public std::invalid_argument {
 public:
  InvalidArgument(std::string_view field, std::string_view problem)
      : std::invalid_argument(std::string(field) + ": " + std::string(problem)) {}
};

// Raised when a computation produced NaN/Inf where it must not (never silent).
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void require(bool condition, std::string_view field, std::string_view problem) {
  if (!condition) throw InvalidArgument(field, problem);
}

// Throws naming `field` and the first non-finite entry's index.
inline void require_finite(std::span<const double> values, std::string_view field) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw InvalidArgument(field, "non-finite value (" + std::to_string(values[i]) + ") at flat index " +
                                       std::to_string(i));
    }
  }
}

}  // namespace gengap
