#pragma once
// Power-law rates y ~ C x^slope fitted on a log-log scale, with a Student-t
// confidence interval on the slope (the studies' "KL ~ n^{-2/5}" claims,
// docs/studies.md S3/S4, docs/math.md §10, Theorem 1).
//
// fit_power_law: ordinary least squares of v_i = ln y_i on u_i = ln x_i over
// N points, centred first (u_i - mean(u)) so that large ln x does not cancel:
//   slope          = S_uv / S_uu,   log_prefactor = mean(v) - slope mean(u)
//   s^2            = sum_i r_i^2 / (N - 2),  r_i = v_i - log_prefactor - slope u_i
//   slope_se       = s / sqrt(S_uu)
//   log_prefactor_se = s sqrt(1/N + mean(u)^2 / S_uu)
//   [slope_low, slope_high] = slope -+ t_{(1+confidence)/2, N-2} slope_se
//   r_squared      = 1 - sum r_i^2 / S_vv   (1 when every y is equal)
// The interval is exact when ln y has independent Gaussian errors of equal
// variance; it is the same as scipy.stats.linregress's stderr with t.ppf.
#include <cstddef>
#include <limits>
#include <span>

#include <nlohmann/json.hpp>

namespace gengap {

struct PowerLawFit {
  std::size_t points = 0;
  double slope = std::numeric_limits<double>::quiet_NaN();
  double slope_se = std::numeric_limits<double>::quiet_NaN();
  double slope_low = std::numeric_limits<double>::quiet_NaN();   // confidence interval on the slope
  double slope_high = std::numeric_limits<double>::quiet_NaN();
  double confidence = std::numeric_limits<double>::quiet_NaN();  // e.g. 0.95
  double log_prefactor = std::numeric_limits<double>::quiet_NaN();  // ln C
  double log_prefactor_se = std::numeric_limits<double>::quiet_NaN();
  double r_squared = std::numeric_limits<double>::quiet_NaN();

  // C x^slope, evaluated as exp(ln C + slope ln x) (no overflow of C alone).
  double predict(double x) const;
  // {"points", "slope", "slope_se", "slope_low", "slope_high", "confidence",
  //  "log_prefactor", "log_prefactor_se", "prefactor", "r_squared"}
  nlohmann::ordered_json to_json() const;
};

// x, y: same length >= 3, every entry finite and > 0, ln x not all equal;
// 0 < confidence < 1. Otherwise InvalidArgument naming "x[i]" / "y[i]" (the
// first bad entry), "x" (too few points, no spread), "y" (length) or "confidence".
PowerLawFit fit_power_law(std::span<const double> x, std::span<const double> y, double confidence = 0.95);

// Student's t distribution with nu > 0 degrees of freedom (nu need not be an
// integer), from the regularized incomplete beta function:
//   P(T > t) = 1/2 I_{nu/(nu+t^2)}(nu/2, 1/2)  for t >= 0.
// Relative accuracy ~1e-14 for dof <~ 100, degrading to ~3e-12 at dof 1e5 (the
// continued fraction runs ~sqrt(dof) terms); the log-beta prefactor uses
// Stirling's series for large arguments, so no digits cancel there.
double student_t_cdf(double t, double degrees_of_freedom);
// The p-quantile (inverse of student_t_cdf), 0 < p < 1: safeguarded Newton
// on a log-log scale. Against 40-digit mpmath: within 4e-12 relative for dof
// up to 1e6, ~1e-14 for dof <= 100 (tested to 1e-10 against SciPy). A quantile
// beyond the largest double (p = 1e-300, dof < 1) is returned as +-infinity.
// InvalidArgument naming "probability" / "degrees_of_freedom".
double student_t_quantile(double probability, double degrees_of_freedom);

}  // namespace gengap
