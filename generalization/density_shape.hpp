#pragma once
// What a learned 1-D density looks like next to the two-mode target
// (docs/studies.md S1: "the learned density resolving both modes at tau*", then
// "spikes at training points" once it memorises), read off a density
// snapshot on the quadrature grid (x ascending, p_0 and p_theta at x):
//
//   left_mass    = int_{x<0} p_theta / int p_theta (trapezoid; the target's 1/2)
//   valley_ratio = p_theta(0) / min(p_theta(-mu), p_theta(mu)) (linear
//                  interpolation on the grid; the target's
//                  2 e^{-mu^2 / (2 v)} / (1 + e^{-2 mu^2 / v}), 0.022 at mu = 3, v = 1):
//                  well below 1 when the density has a valley between the modes
//   peaks        = local maxima of p_theta on the grid above 1% of its maximum
//                  (the target has 2; a memorising density one per isolated
//                  training point, hundreds at n = 1000)
//   peak_ratio   = max p_theta / max p_0 (1 for the target; spikes of width
//                  sigma_{t_min} around single points reach far above)
#include <cstddef>
#include <limits>
#include <span>

#include <nlohmann/json.hpp>

namespace gengap {

struct DensityShape {
  double left_mass = std::numeric_limits<double>::quiet_NaN();
  double valley_ratio = std::numeric_limits<double>::quiet_NaN();
  std::size_t peaks = 0;
  double peak_ratio = std::numeric_limits<double>::quiet_NaN();

  // Both modes present: a valley of at most half the lower mode's height and
  // each side holding between 30% and 70% of the mass.
  bool resolves_modes() const;
  nlohmann::ordered_json to_json() const;
};

// x ascending with at least 2 nodes, p0 and p_theta of the same length, mu > 0
// (the modes at -mu and +mu); InvalidArgument naming the field otherwise.
DensityShape density_shape(std::span<const double> x, std::span<const double> p0, std::span<const double> p_theta,
                           double mu);

}  // namespace gengap
