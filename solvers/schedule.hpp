#pragma once
// Forward SDE schedules dx = f(t) x dt + g(t) dW (docs/math.md §1), their transition
// kernel x_t | x_0 ~ N(mu_t x_0, sigma_t^2 I), the prior pi at t = T, and the
// DSM loss's weighting lambda(t) and output scale c(t) (docs/math.md §3, §4).
//
// | kind | f        | g          | mu_t               | sigma_t^2                      | prior           |
// | ou   | -1       | sqrt 2     | e^{-t}             | 1 - e^{-2t} (= -expm1(-2t))    | N(0, I)         |
// | vp   | -beta/2  | sqrt beta  | exp(-B(t)/2)       | 1 - mu_t^2  (= -expm1(-B(t)))  | N(0, I)         |
// | ve   | 0        | sigma^t    | 1                  | (sigma^{2t} - 1) / (2 ln sigma)| N(0, sigma_T^2 I)|
// with beta(t) = beta_min + t (beta_max - beta_min), B(t) = int_0^t beta.
#include <cstddef>
#include <span>
#include <string_view>

namespace gengap {

enum class ScheduleKind { ou, vp, ve };
ScheduleKind parse_schedule(std::string_view name);  // "ou" | "vp" | "ve"; else InvalidArgument("schedule", ...)
std::string_view to_string(ScheduleKind kind);

struct Schedule {
  ScheduleKind kind = ScheduleKind::ou;
  double T = 5.0;            // horizon
  double t_min = 1e-3;       // training/sampling start
  double beta_min = 0.1;     // vp
  double beta_max = 20.0;    // vp
  double sigma_max = 25.0;   // ve: the "sigma" of g(t) = sigma^t

  // Throws InvalidArgument naming the field: T <= t_min, t_min <= 0, beta_min < 0,
  // beta_max < beta_min, sigma_max <= 1, non-finite values.
  void validate() const;

  double mean_scale(double t) const;      // mu_t
  double variance(double t) const;        // sigma_t^2 (accurate for small t: expm1)
  double std_dev(double t) const;         // sigma_t
  double drift(double t) const;           // f(t)
  double diffusion_squared(double t) const;  // g(t)^2
  double prior_variance() const;          // variance of pi per coordinate
  // log pi(x) = -|x|^2/(2 v) - d/2 log(2 pi v), v = prior_variance().
  double log_prior(std::span<const double> x) const;
};

// Defaults per kind (docs/math.md §1): ou T = 5, t_min = 1e-3; vp T = 1, t_min = 1e-3;
// ve T = 1, t_min = 1e-5, sigma = 25.
Schedule default_schedule(ScheduleKind kind);

// lambda(t): sigma2 = sigma_t^2 (default), likelihood = g(t)^2, none = 1.
enum class Weighting { sigma2, likelihood, none };
Weighting parse_weighting(std::string_view name);  // "sigma2" | "likelihood" | "none"
std::string_view to_string(Weighting weighting);

// How the model's output becomes a score, s = c(t) out + k(t) x with out =
// A act(...) / m:
//   one        c = 1, k = 0 (the paper, default)
//   inv_sigma  c = 1 / sigma_t, k = 0 (the paper's code)
//   denoiser   c = mu_t / sigma_t^2, k = -1 / sigma_t^2: out is a denoiser
//              D(x, t) ~ E[x_0 | x_t = x] and s = (mu_t D - x) / sigma_t^2
//              (Tweedie), the x_0-prediction of image models. The regression
//              target is then x_0 itself (y = x_0, docs/math.md §4): a model
//              whose features vary on the data's scale can hold the empirical
//              score's small-t part -x / sigma^2, which the two others must
//              build from the features (measured on the digits, d = 64: the
//              others' samples never came within the training points'
//              spacing, the denoiser's did).
enum class OutputScale { one, inv_sigma, denoiser };
OutputScale parse_output_scale(std::string_view name);  // "one" | "inv_sigma" | "denoiser"
std::string_view to_string(OutputScale scale);

// Everything about the DSM loss that is not the model: schedule, lambda, c.
struct DsmSetup {
  Schedule schedule;
  Weighting weighting = Weighting::sigma2;
  OutputScale output_scale = OutputScale::one;

  void validate() const { schedule.validate(); }
  double lambda(double t) const;  // weighting lambda(t)
  double c(double t) const;       // output scale c(t)
  double skip(double t) const;    // k(t): -1/sigma_t^2 for the denoiser, else 0
  bool regresses_data() const { return output_scale == OutputScale::denoiser; }  // y = x_0
  // w(z) = lambda(t) c(t)^2, the Gram weight of docs/math.md §5.
  double gram_weight(double t) const { const double ct = c(t); return lambda(t) * ct * ct; }
  // E_{t ~ U[t_min, T]}[lambda(t) / sigma_t^2], by composite Gauss-Legendre on
  // geometrically graded panels (the integrand grows like 1/t as t -> 0 for
  // the likelihood and none weightings); relative error ~1e-14.
  double mean_lambda_over_variance() const;
  // E_{t ~ U[t_min, T]}[w(t)] = E_t[lambda c^2], the same quadrature.
  double mean_gram_weight() const;
  // The DSM loss's A-independent constant L_0 = 1/2 E[w |y|^2] for one data
  // point x_0 of squared norm x0_squared_norm:
  //   noise targets (one, inv_sigma): d/2 E_t[lambda / sigma_t^2] (E|eps|^2 = d;
  //                                   c cancels; x_0 does not enter)
  //   denoiser (y = x_0):             |x_0|^2 / 2 E_t[w]
  double loss_constant(std::size_t d, double x0_squared_norm) const;
  // The noise targets' constant; InvalidArgument("output_scale") for the
  // denoiser, whose constant depends on the data.
  double loss_constant(std::size_t d) const;
};

}  // namespace gengap
