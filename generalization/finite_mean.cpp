#include "gengap/generalization/finite_mean.hpp"

#include <cmath>

namespace gengap {

FiniteMean finite_mean(std::span<const double> values) {
  FiniteMean r;
  double sum = 0.0;
  std::size_t count = 0;
  for (const double x : values) {
    if (std::isfinite(x)) sum += x, ++count;
  }
  r.failed = values.size() - count;
  if (count == 0) return r;
  r.mean = sum / double(count);
  if (count < 2) return r;
  double squares = 0.0;  // two passes: no cancellation between sum x^2 and (sum x)^2
  for (const double x : values) {
    if (std::isfinite(x)) squares += (x - r.mean) * (x - r.mean);
  }
  r.se = std::sqrt(squares / double(count - 1) / double(count));
  return r;
}

}  // namespace gengap
