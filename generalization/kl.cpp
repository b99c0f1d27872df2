// KL(p_0 || p_theta) by Monte Carlo (see kl.hpp); the quadrature is in kl_quadrature.cpp.
#include "gengap/generalization/kl.hpp"

#include <cmath>
#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {

MonteCarloKl kl_monte_carlo(std::span<const double> log_p0, std::span<const double> log_p_theta) {
  require(!log_p0.empty(), "log_p0", "must not be empty");
  require(log_p_theta.size() == log_p0.size(), "log_p_theta",
          "has " + std::to_string(log_p_theta.size()) + " entries, log_p0 has " + std::to_string(log_p0.size()));
  require_finite(log_p0, "log_p0");
  MonteCarloKl r;
  // Two passes (mean, then centred squares): no cancellation when the
  // differences share a large offset. Serial, in index order: deterministic.
  double sum = 0.0;
  for (std::size_t i = 0; i < log_p0.size(); ++i) {
    if (!std::isfinite(log_p_theta[i])) {
      ++r.failed;
      continue;
    }
    sum += log_p0[i] - log_p_theta[i];
    ++r.used;
  }
  if (r.used == 0) return r;
  r.kl = sum / static_cast<double>(r.used);
  if (r.used < 2) return r;
  double squares = 0.0;
  for (std::size_t i = 0; i < log_p0.size(); ++i) {
    if (!std::isfinite(log_p_theta[i])) continue;
    const double centred = log_p0[i] - log_p_theta[i] - r.kl;
    squares += centred * centred;
  }
  const double n = static_cast<double>(r.used);
  r.standard_error = std::sqrt(squares / (n - 1.0) / n);
  return r;
}

}  // namespace gengap
