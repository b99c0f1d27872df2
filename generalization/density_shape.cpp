#include "gengap/generalization/density_shape.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

// Linear interpolation of p on the grid (the end values outside it).
double at(std::span<const double> x, std::span<const double> p, double where) {
  if (where <= x.front()) return p.front();
  if (where >= x.back()) return p.back();
  const auto k = static_cast<std::size_t>(std::upper_bound(x.begin(), x.end(), where) - x.begin());
  const double w = (where - x[k - 1]) / (x[k] - x[k - 1]);
  return (1.0 - w) * p[k - 1] + w * p[k];
}

}  // namespace

bool DensityShape::resolves_modes() const {
  return valley_ratio <= 0.5 && left_mass >= 0.3 && left_mass <= 0.7;
}

nlohmann::ordered_json DensityShape::to_json() const {
  using detail::number_or_null;
  return {{"left_mass", number_or_null(left_mass)},
          {"valley_ratio", number_or_null(valley_ratio)},
          {"peaks", peaks},
          {"peak_ratio", number_or_null(peak_ratio)},
          {"resolves_modes", resolves_modes()}};
}

DensityShape density_shape(std::span<const double> x, std::span<const double> p0, std::span<const double> p_theta,
                           double mu) {
  require(x.size() >= 2, "x", "needs at least 2 nodes, got " + std::to_string(x.size()));
  require(p0.size() == x.size(), "p0", "must have one entry per node");
  require(p_theta.size() == x.size(), "p_theta", "must have one entry per node");
  require(std::is_sorted(x.begin(), x.end()), "x", "must be ascending");
  require(std::isfinite(mu) && mu > 0.0, "mu", "must be positive and finite");
  DensityShape s;
  double left = 0.0, total = 0.0;
  for (std::size_t k = 0; k + 1 < x.size(); ++k) {
    const double lo = x[k], hi = x[k + 1];
    const double area = 0.5 * (p_theta[k] + p_theta[k + 1]) * (hi - lo);
    total += area;
    if (hi <= 0.0) {
      left += area;
    } else if (lo < 0.0) {  // the panel across 0: its part left of 0
      left += 0.5 * (p_theta[k] + at(x, p_theta, 0.0)) * (0.0 - lo);
    }
  }
  s.left_mass = total > 0.0 ? left / total : std::numeric_limits<double>::quiet_NaN();
  const double lower_mode = std::min(at(x, p_theta, -mu), at(x, p_theta, mu));
  s.valley_ratio = lower_mode > 0.0 ? at(x, p_theta, 0.0) / lower_mode : std::numeric_limits<double>::infinity();
  const double top = *std::max_element(p_theta.begin(), p_theta.end());
  for (std::size_t k = 1; k + 1 < x.size(); ++k) {
    s.peaks += p_theta[k] > p_theta[k - 1] && p_theta[k] > p_theta[k + 1] && p_theta[k] > 0.01 * top ? 1 : 0;
  }
  const double top0 = *std::max_element(p0.begin(), p0.end());
  s.peak_ratio = top0 > 0.0 ? top / top0 : std::numeric_limits<double>::quiet_NaN();
  return s;
}

}  // namespace gengap
