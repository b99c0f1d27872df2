// fit_power_law: least squares on a log-log scale (see rate_fit.hpp).
#include "gengap/generalization/rate_fit.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

void require_positive_entries(std::span<const double> values, const char* name) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]) || !(values[i] > 0.0)) {
      throw InvalidArgument(std::string(name) + "[" + std::to_string(i) + "]",
                            "must be finite and positive (a power law is fitted to logarithms), got " +
                                std::to_string(values[i]));
    }
  }
}

// Mean as v[0] + mean(v - v[0]): exact for constant input (a plain sum / n
// of N equal values is not), so constant y gives residuals of exactly 0.
double mean(const std::vector<double>& v) {
  double sum = 0.0;
  for (const double e : v) sum += e - v[0];
  return v[0] + sum / static_cast<double>(v.size());
}

}  // namespace

double PowerLawFit::predict(double x) const { return std::exp(log_prefactor + slope * std::log(x)); }

nlohmann::ordered_json PowerLawFit::to_json() const {
  nlohmann::ordered_json j;
  j["points"] = points;
  j["slope"] = slope;
  j["slope_se"] = slope_se;
  j["slope_low"] = slope_low;
  j["slope_high"] = slope_high;
  j["confidence"] = confidence;
  j["log_prefactor"] = log_prefactor;
  j["log_prefactor_se"] = log_prefactor_se;
  j["prefactor"] = std::exp(log_prefactor);
  j["r_squared"] = r_squared;
  return j;
}

PowerLawFit fit_power_law(std::span<const double> x, std::span<const double> y, double confidence) {
  if (x.size() < 3) {
    throw InvalidArgument("x", "need at least 3 points for a slope with a confidence interval, got " +
                                   std::to_string(x.size()));
  }
  if (y.size() != x.size()) {
    throw InvalidArgument("y", "must have as many entries as x (" + std::to_string(x.size()) + "), got " +
                                   std::to_string(y.size()));
  }
  require_positive_entries(x, "x");
  require_positive_entries(y, "y");
  if (!(confidence > 0.0 && confidence < 1.0)) {
    throw InvalidArgument("confidence", "must be in (0, 1), got " + std::to_string(confidence));
  }
  const std::size_t n = x.size();
  std::vector<double> u(n), v(n);
  for (std::size_t i = 0; i < n; ++i) {
    u[i] = std::log(x[i]);
    v[i] = std::log(y[i]);
  }
  // Two passes: means first, then sums of centred products (the one-pass
  // sum u^2 - n mean^2 cancels catastrophically when ln x ~ 10 and spreads ~0.1).
  const double u_mean = mean(u), v_mean = mean(v);
  double s_uu = 0.0, s_uv = 0.0, s_vv = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double du = u[i] - u_mean, dv = v[i] - v_mean;
    s_uu += du * du;
    s_uv += du * dv;
    s_vv += dv * dv;
  }
  if (!(s_uu > 0.0)) throw InvalidArgument("x", "all values are equal: no spread to fit a slope on");

  PowerLawFit fit;
  fit.points = n;
  fit.confidence = confidence;
  fit.slope = s_uv / s_uu;
  fit.log_prefactor = v_mean - fit.slope * u_mean;
  // Residuals from the centred form (v - v_mean) - slope (u - u_mean): the same
  // numbers as v - log_prefactor - slope u without the large intercept.
  double rss = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r = (v[i] - v_mean) - fit.slope * (u[i] - u_mean);
    rss += r * r;
  }
  const double dof = static_cast<double>(n - 2);
  const double s2 = rss / dof;
  fit.slope_se = std::sqrt(s2 / s_uu);
  fit.log_prefactor_se = std::sqrt(s2 * (1.0 / static_cast<double>(n) + u_mean * u_mean / s_uu));
  fit.r_squared = s_vv > 0.0 ? 1.0 - rss / s_vv : 1.0;
  const double t = student_t_quantile(0.5 + 0.5 * confidence, dof);
  fit.slope_low = fit.slope - t * fit.slope_se;
  fit.slope_high = fit.slope + t * fit.slope_se;
  return fit;
}

}  // namespace gengap
