// The PI controller and its per-chunk sharing (controller.hpp).
#include "gengap/solvers/ode/controller.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {

void PiController::validate() const {
  auto finite = [](double v, const char* field) {
    require(std::isfinite(v), field, "must be finite, got " + std::to_string(v));
  };
  finite(rtol, "rtol");
  finite(atol, "atol");
  finite(safety, "safety");
  finite(min_factor, "min_factor");
  finite(max_factor, "max_factor");
  finite(beta1, "beta1");
  finite(beta2, "beta2");
  require(rtol > 0.0, "rtol", "must be positive, got " + std::to_string(rtol));
  require(atol > 0.0, "atol", "must be positive, got " + std::to_string(atol));
  require(safety > 0.0 && safety <= 1.0, "safety", "must be in (0, 1], got " + std::to_string(safety));
  require(min_factor > 0.0 && min_factor <= 1.0, "min_factor", "must be in (0, 1], got " + std::to_string(min_factor));
  require(max_factor >= 1.0, "max_factor", "must be >= 1, got " + std::to_string(max_factor));
  require(beta1 > 0.0, "beta1", "must be positive, got " + std::to_string(beta1));
  require(beta2 >= 0.0, "beta2", "must be non-negative, got " + std::to_string(beta2));
}

double PiController::error_norm(std::span<const double> y0, std::span<const double> y1,
                                std::span<const double> err) const {
  double sum = 0.0;
  for (std::size_t i = 0; i < err.size(); ++i) {
    const double scale = atol + rtol * std::max(std::abs(y0[i]), std::abs(y1[i]));
    const double r = err[i] / scale;
    sum += r * r;
  }
  return err.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(err.size()));
}

double PiController::factor(double err, double err_prev, int error_order) const {
  constexpr double floor = 1e-10;
  const double k = static_cast<double>(error_order + 1);
  const double f = safety * std::pow(std::max(err, floor), -beta1 / k) * std::pow(std::max(err_prev, floor), beta2 / k);
  if (!std::isfinite(f)) return min_factor;
  return std::clamp(f, min_factor, max_factor);
}

constexpr EnumName<StepSharing> step_sharing_names[] = {{StepSharing::per_trajectory, "per_trajectory"},
                                                        {StepSharing::per_chunk, "per_chunk"}};

const char* to_string(StepSharing sharing) {
  return enum_name(sharing, step_sharing_names, "sharing", "StepSharing").data();
}

StepSharing parse_step_sharing(const std::string& name) {
  return parse_enum_name(name, step_sharing_names, "sharing", "step sharing");
}

void share_errors(StepSharing sharing, std::span<double> errors, std::span<const char> ok) {
  if (sharing != StepSharing::per_chunk) return;
  double worst = 0.0;
  for (std::size_t p = 0; p < errors.size(); ++p)
    if (ok[p]) worst = std::max(worst, errors[p]);
  for (double& e : errors) e = worst;
}

void share_steps(StepSharing sharing, std::span<double> steps, double direction) {
  if (sharing != StepSharing::per_chunk || steps.empty()) return;
  double h = steps[0];
  for (const double s : steps) h = direction * std::min(direction * h, direction * s);
  for (double& s : steps) s = h;
}

}  // namespace gengap
