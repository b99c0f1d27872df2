#pragma once
// Dense output between the ends of an accepted step: cubic Hermite
// interpolation from the states and slopes at both ends. Local error O(h^4)
// (order 3), whatever the tableau's order.
#include <cstddef>

namespace gengap {

// y(t) for t in [t0, t0 + h] from (y0, f0) at t0 and (y1, f1) at t0 + h, into out (dim entries).
inline void hermite_interpolate(double t, double t0, double h, const double* y0, const double* f0, const double* y1,
                                const double* f1, std::size_t dim, double* out) {
  const double s = (t - t0) / h;
  const double s2 = s * s, s3 = s2 * s;
  const double h00 = 2 * s3 - 3 * s2 + 1, h10 = s3 - 2 * s2 + s, h01 = -2 * s3 + 3 * s2, h11 = s3 - s2;
  for (std::size_t j = 0; j < dim; ++j) out[j] = h00 * y0[j] + h10 * h * f0[j] + h01 * y1[j] + h11 * h * f1[j];
}

}  // namespace gengap
