// Hairer's starting step (initial_step.hpp).
#include "gengap/solvers/ode/initial_step.hpp"

#include <algorithm>
#include <cmath>

namespace gengap {

InitialStepProbe initial_step_probe(std::span<const double> y, std::span<const double> f, const PiController& c,
                                    double span, double direction, std::span<double> y_probe) {
  const std::size_t dim = y.size();
  double s0 = 0.0, s1 = 0.0;
  for (std::size_t j = 0; j < dim; ++j) {
    const double sc = c.atol + c.rtol * std::abs(y[j]);
    s0 += (y[j] / sc) * (y[j] / sc);
    s1 += (f[j] / sc) * (f[j] / sc);
  }
  const double d0 = std::sqrt(s0 / static_cast<double>(dim));
  InitialStepProbe probe;
  probe.d1 = std::sqrt(s1 / static_cast<double>(dim));
  probe.h0 = std::min((d0 < 1e-5 || probe.d1 < 1e-5) ? 1e-6 : 0.01 * d0 / probe.d1, span);
  for (std::size_t j = 0; j < dim; ++j) y_probe[j] = y[j] + direction * probe.h0 * f[j];
  return probe;
}

double initial_step(const InitialStepProbe& probe, std::span<const double> y, std::span<const double> f,
                    std::span<const double> f_probe, const PiController& c, int order, double span,
                    double direction) {
  const std::size_t dim = y.size();
  double s2 = 0.0;
  for (std::size_t j = 0; j < dim; ++j) {
    const double sc = c.atol + c.rtol * std::abs(y[j]);
    const double d = (f_probe[j] - f[j]) / sc;
    s2 += d * d;
  }
  const double d2 = std::sqrt(s2 / static_cast<double>(dim)) / probe.h0;
  const double dmax = std::max(probe.d1, d2);
  double h = probe.h0;
  if (std::isfinite(dmax)) {
    const double h1 = dmax <= 1e-15 ? std::max(1e-6, probe.h0 * 1e-3)
                                    : std::pow(0.01 / dmax, 1.0 / static_cast<double>(order + 1));
    h = std::min(100.0 * probe.h0, h1);
  }
  return direction * std::min(h, span);
}

}  // namespace gengap
