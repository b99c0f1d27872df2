#include "gengap/solvers/schedule.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/solvers/quadrature.hpp"

namespace gengap {

namespace {

void require_finite_field(double value, std::string_view field) {
  if (!std::isfinite(value)) throw InvalidArgument(field, "must be finite, got " + std::to_string(value));
}

}  // namespace

constexpr EnumName<ScheduleKind> schedule_names[] = {
    {ScheduleKind::ou, "ou"}, {ScheduleKind::vp, "vp"}, {ScheduleKind::ve, "ve"}};
constexpr EnumName<Weighting> weighting_names[] = {
    {Weighting::sigma2, "sigma2"}, {Weighting::likelihood, "likelihood"}, {Weighting::none, "none"}};
constexpr EnumName<OutputScale> output_scale_names[] = {{OutputScale::one, "one"},
                                                        {OutputScale::inv_sigma, "inv_sigma"},
                                                        {OutputScale::denoiser, "denoiser"}};

ScheduleKind parse_schedule(std::string_view name) {
  return parse_enum_name(name, schedule_names, "schedule", "schedule");
}

std::string_view to_string(ScheduleKind kind) { return enum_name(kind, schedule_names, "schedule", "ScheduleKind"); }

void Schedule::validate() const {
  require_finite_field(T, "T");
  require_finite_field(t_min, "t_min");
  require_finite_field(beta_min, "beta_min");
  require_finite_field(beta_max, "beta_max");
  require_finite_field(sigma_max, "sigma_max");
  if (!(t_min > 0.0)) throw InvalidArgument("t_min", "must be positive, got " + std::to_string(t_min));
  if (!(T > t_min)) {
    throw InvalidArgument("T", "must exceed t_min (" + std::to_string(t_min) + "), got " + std::to_string(T));
  }
  if (beta_min < 0.0) throw InvalidArgument("beta_min", "must be non-negative, got " + std::to_string(beta_min));
  if (beta_max < beta_min) {
    throw InvalidArgument("beta_max", "must be at least beta_min (" + std::to_string(beta_min) + "), got " +
                                          std::to_string(beta_max));
  }
  // beta == 0 everywhere would freeze the vp process (sigma_t = 0 for all t).
  if (!(beta_max > 0.0)) throw InvalidArgument("beta_max", "must be positive, got " + std::to_string(beta_max));
  // ln(sigma_max) divides the ve variance; sigma_max <= 1 makes it vanish or flip sign.
  if (!(sigma_max > 1.0)) throw InvalidArgument("sigma_max", "must exceed 1, got " + std::to_string(sigma_max));
}

namespace {
// B(t) = int_0^t beta(s) ds for beta(s) = beta_min + s (beta_max - beta_min).
double integrated_beta(const Schedule& s, double t) {
  return t * (s.beta_min + 0.5 * t * (s.beta_max - s.beta_min));
}
}  // namespace

double Schedule::mean_scale(double t) const {
  switch (kind) {
    case ScheduleKind::ou: return std::exp(-t);
    case ScheduleKind::vp: return std::exp(-0.5 * integrated_beta(*this, t));
    case ScheduleKind::ve: return 1.0;
  }
  return 1.0;
}

double Schedule::variance(double t) const {
  // expm1 keeps full relative accuracy as t -> 0, where 1 - e^{-x} would cancel.
  switch (kind) {
    case ScheduleKind::ou: return -std::expm1(-2.0 * t);
    case ScheduleKind::vp: return -std::expm1(-integrated_beta(*this, t));
    case ScheduleKind::ve: {
      const double log_sigma = std::log(sigma_max);
      return std::expm1(2.0 * t * log_sigma) / (2.0 * log_sigma);
    }
  }
  return 0.0;
}

double Schedule::std_dev(double t) const { return std::sqrt(variance(t)); }

double Schedule::drift(double t) const {
  switch (kind) {
    case ScheduleKind::ou: return -1.0;
    case ScheduleKind::vp: return -0.5 * (beta_min + t * (beta_max - beta_min));
    case ScheduleKind::ve: return 0.0;
  }
  return 0.0;
}

double Schedule::diffusion_squared(double t) const {
  switch (kind) {
    case ScheduleKind::ou: return 2.0;
    case ScheduleKind::vp: return beta_min + t * (beta_max - beta_min);
    case ScheduleKind::ve: return std::exp(2.0 * t * std::log(sigma_max));
  }
  return 0.0;
}

double Schedule::prior_variance() const {
  switch (kind) {
    case ScheduleKind::ou:
    case ScheduleKind::vp: return 1.0;
    case ScheduleKind::ve: return variance(T);
  }
  return 1.0;
}

double Schedule::log_prior(std::span<const double> x) const {
  const double v = prior_variance();
  double sq = 0.0;
  for (const double xi : x) sq += xi * xi;
  return -sq / (2.0 * v) - 0.5 * static_cast<double>(x.size()) * std::log(2.0 * std::numbers::pi * v);
}

Schedule default_schedule(ScheduleKind kind) {
  Schedule s;
  s.kind = kind;
  switch (kind) {
    case ScheduleKind::ou:
      s.T = 5.0;
      s.t_min = 1e-3;
      break;
    case ScheduleKind::vp:
      s.T = 1.0;
      s.t_min = 1e-3;
      break;
    case ScheduleKind::ve:
      s.T = 1.0;
      s.t_min = 1e-5;
      break;
  }
  s.beta_min = 0.1;
  s.beta_max = 20.0;
  s.sigma_max = 25.0;
  return s;
}

Weighting parse_weighting(std::string_view name) {
  return parse_enum_name(name, weighting_names, "weighting", "weighting");
}

std::string_view to_string(Weighting weighting) {
  return enum_name(weighting, weighting_names, "weighting", "Weighting");
}

OutputScale parse_output_scale(std::string_view name) {
  return parse_enum_name(name, output_scale_names, "output_scale", "output scale");
}

std::string_view to_string(OutputScale scale) {
  return enum_name(scale, output_scale_names, "output_scale", "OutputScale");
}

double DsmSetup::lambda(double t) const {
  switch (weighting) {
    case Weighting::sigma2: return schedule.variance(t);
    case Weighting::likelihood: return schedule.diffusion_squared(t);
    case Weighting::none: return 1.0;
  }
  return 1.0;
}

double DsmSetup::c(double t) const {
  switch (output_scale) {
    case OutputScale::one: return 1.0;
    case OutputScale::inv_sigma: return 1.0 / schedule.std_dev(t);
    case OutputScale::denoiser: return schedule.mean_scale(t) / schedule.variance(t);
  }
  return 1.0;
}

double DsmSetup::skip(double t) const {
  return output_scale == OutputScale::denoiser ? -1.0 / schedule.variance(t) : 0.0;
}

double DsmSetup::loss_constant(std::size_t d, double x0_squared_norm) const {
  if (regresses_data()) return 0.5 * x0_squared_norm * mean_gram_weight();
  return 0.5 * static_cast<double>(d) * mean_lambda_over_variance();
}

double DsmSetup::loss_constant(std::size_t d) const {
  require(!regresses_data(), "output_scale",
          "the denoiser's loss constant depends on the data: pass the squared norm of x_0");
  return loss_constant(d, 0.0);
}

namespace {

// E_{t ~ U[a, b]}[f(t)] on geometrically graded panels.
template <class F>
double mean_over_time(const Schedule& schedule, F f) {
  schedule.validate();
  const double a = schedule.t_min, b = schedule.T;
  // Panels [a r^k, a r^{k+1}] with r = (b/a)^{1/P}: each spans a fixed ratio,
  // so a 1/t-like integrand is equally smooth on every panel and 16 nodes per
  // panel reach rounding level.
  constexpr std::size_t panels = 48, nodes = 16;
  const QuadratureRule unit = gauss_legendre(nodes, 0.0, 1.0);
  const double ratio = std::pow(b / a, 1.0 / static_cast<double>(panels));
  double total = 0.0, lo = a;
  for (std::size_t k = 0; k < panels; ++k) {
    const double hi = k + 1 == panels ? b : lo * ratio;
    double panel = 0.0;
    for (std::size_t i = 0; i < nodes; ++i) {
      const double t = lo + (hi - lo) * unit.nodes[i];
      panel += unit.weights[i] * f(t);
    }
    total += (hi - lo) * panel;
    lo = hi;
  }
  return total / (b - a);
}

}  // namespace

double DsmSetup::mean_lambda_over_variance() const {
  return mean_over_time(schedule, [this](double t) { return lambda(t) / schedule.variance(t); });
}

double DsmSetup::mean_gram_weight() const {
  return mean_over_time(schedule, [this](double t) { return gram_weight(t); });
}

}  // namespace gengap
