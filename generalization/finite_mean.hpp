#pragma once
// The mean of per-point results and its standard error over the finite
// entries (a failed ODE trajectory or sample is NaN and is counted, not
// averaged): the studies' likelihood columns.
#include <cstddef>
#include <limits>
#include <span>

namespace gengap {

struct FiniteMean {
  double mean = std::numeric_limits<double>::quiet_NaN();  // NaN without finite entries
  double se = std::numeric_limits<double>::quiet_NaN();    // sample sd / sqrt(count); NaN below 2 entries
  std::size_t failed = 0;                                  // non-finite entries
};

FiniteMean finite_mean(std::span<const double> values);

}  // namespace gengap
