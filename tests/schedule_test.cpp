// Forward-process schedules (docs/math.md §1): the closed forms of mu_t and
// sigma_t^2 against numerical integration of their defining integrals, the
// variance ODE by finite differences, small-t accuracy, the prior, the DSM
// weighting/output scale, and argument checks naming the field.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {
namespace {

// Adaptive Simpson with Richardson correction: integrates to |error| <~ tol.
double adaptive_simpson(const std::function<double(double)>& f, double a, double b, double fa, double fm,
                        double fb, double whole, double tol, int depth) {
  const double m = 0.5 * (a + b);
  const double lm = 0.5 * (a + m), rm = 0.5 * (m + b);
  const double flm = f(lm), frm = f(rm);
  const double left = (m - a) / 6.0 * (fa + 4.0 * flm + fm);
  const double right = (b - m) / 6.0 * (fm + 4.0 * frm + fb);
  const double delta = left + right - whole;
  // The rounding floor stops refinement where delta is pure rounding noise
  // (halving tol would otherwise recurse to the depth limit).
  const double floor = 64.0 * 2.2e-16 * (std::abs(left) + std::abs(right));
  if (depth <= 0 || std::abs(delta) <= std::max(15.0 * tol, floor)) return left + right + delta / 15.0;
  return adaptive_simpson(f, a, m, fa, flm, fm, left, 0.5 * tol, depth - 1) +
         adaptive_simpson(f, m, b, fm, frm, fb, right, 0.5 * tol, depth - 1);
}

double integrate(const std::function<double(double)>& f, double a, double b, double tol) {
  if (b == a) return 0.0;
  const double fa = f(a), fb = f(b), fm = f(0.5 * (a + b));
  return adaptive_simpson(f, a, b, fa, fm, fb, (b - a) / 6.0 * (fa + 4.0 * fm + fb), tol, 30);
}

// f(t) and g(t)^2 written out from the docs/math.md §1 table (not through Schedule).
double table_f(const Schedule& s, double t) {
  switch (s.kind) {
    case ScheduleKind::ou: return -1.0;
    case ScheduleKind::vp: return -0.5 * (s.beta_min + t * (s.beta_max - s.beta_min));
    case ScheduleKind::ve: return 0.0;
  }
  return 0.0;
}
double table_g2(const Schedule& s, double t) {
  switch (s.kind) {
    case ScheduleKind::ou: return 2.0;
    case ScheduleKind::vp: return s.beta_min + t * (s.beta_max - s.beta_min);
    case ScheduleKind::ve: return std::pow(s.sigma_max, 2.0 * t);
  }
  return 0.0;
}

// mu_t = exp(int_0^t f). f is at most linear, so one Simpson panel is already
// exact; the adaptive routine confirms it at the first level.
double reference_mu(const Schedule& s, double t) {
  return std::exp(integrate([&](double u) { return table_f(s, u); }, 0.0, t, 1e-14));
}

// sigma_t^2 = mu_t^2 int_0^t g(s)^2 / mu_s^2 ds, with mu_s itself integrated.
double reference_variance(const Schedule& s, double t) {
  const double mu_t = reference_mu(s, t);
  const double inner = integrate(
      [&](double u) {
        const double mu_u = reference_mu(s, u);
        return table_g2(s, u) / (mu_u * mu_u);
      },
      0.0, t, 1e-13);
  return mu_t * mu_t * inner;
}

class ScheduleKinds : public testing::TestWithParam<ScheduleKind> {};

INSTANTIATE_TEST_SUITE_P(Schedule, ScheduleKinds,
                         testing::Values(ScheduleKind::ou, ScheduleKind::vp, ScheduleKind::ve),
                         [](const testing::TestParamInfo<ScheduleKind>& info) {
                           return std::string(to_string(info.param));
                         });

TEST_P(ScheduleKinds, ClosedFormsMatchDefiningIntegrals) {
  const Schedule s = default_schedule(GetParam());
  for (const double frac : {0.002, 0.05, 0.3, 0.7, 1.0}) {
    const double t = frac * s.T;
    // mu: exp of an exact integral, so only rounding (a few eps) remains.
    EXPECT_NEAR(s.mean_scale(t), reference_mu(s, t), 1e-14 * reference_mu(s, t)) << "t = " << t;
    // sigma^2: adaptive Simpson at absolute tolerance 1e-13 on an inner integral
    // that is O(1) to O(1e3) (ve: sigma^{2t} / (2 ln sigma) <= 625 / 6.4), then
    // multiplied by mu_t^2 <= 1: relative 1e-10 is above that error and far
    // below any formula mistake (which would be O(1) relative).
    const double ref = reference_variance(s, t);
    EXPECT_NEAR(s.variance(t), ref, 1e-10 * ref) << "t = " << t;
    EXPECT_NEAR(s.std_dev(t), std::sqrt(ref), 1e-10 * std::sqrt(ref)) << "t = " << t;
    EXPECT_NEAR(s.drift(t), table_f(s, t), 1e-15 * std::abs(table_f(s, t)));
    EXPECT_NEAR(s.diffusion_squared(t), table_g2(s, t), 1e-13 * table_g2(s, t));
  }
}

TEST_P(ScheduleKinds, VarianceSatisfiesItsOde) {
  // d/dt sigma_t^2 = 2 f(t) sigma_t^2 + g(t)^2 (Ito on the linear SDE).
  const Schedule s = default_schedule(GetParam());
  const double h = 1e-5;
  for (const double frac : {0.05, 0.3, 0.7, 0.95}) {
    const double t = frac * s.T;
    const double fd = (s.variance(t + h) - s.variance(t - h)) / (2.0 * h);
    const double ode = 2.0 * table_f(s, t) * s.variance(t) + table_g2(s, t);
    // Central difference: truncation h^2/6 |(sigma^2)'''| <= 1e-10/6 * 20^3 (vp)
    // or 625 * (2 ln 25)^3 (ve), rounding eps |sigma^2| / h ~ 1e-9: relative 1e-6
    // of the derivative (>= 0.1) covers both with margin.
    EXPECT_NEAR(fd, ode, 1e-6 * std::max(1.0, std::abs(ode))) << "t = " << t;
  }
}

TEST_P(ScheduleKinds, SmallTimeVarianceHasFullRelativeAccuracy) {
  // Two-term series sigma_t^2 = g(0)^2 t + c2 t^2 + O(t^3) from the closed
  // forms: ou 2t - 2t^2; vp B - B^2/2 with B = beta_min t + (beta_max - beta_min) t^2/2;
  // ve t + t^2 ln sigma. At t = 1e-10 the O(t^3) remainder is 1e-20 relative,
  // so the library must agree to a few ulps; 1 - exp(-x) without expm1 would
  // be off by ~eps / (2t) = 5e-7 relative.
  const Schedule s = default_schedule(GetParam());
  const double t = 1e-10;
  double series = 0.0;
  switch (s.kind) {
    case ScheduleKind::ou: series = 2.0 * t - 2.0 * t * t; break;
    case ScheduleKind::vp: {
      const double B = s.beta_min * t + 0.5 * (s.beta_max - s.beta_min) * t * t;
      series = B - 0.5 * B * B;
      break;
    }
    case ScheduleKind::ve: series = t + t * t * std::log(s.sigma_max); break;
  }
  EXPECT_NEAR(s.variance(t), series, 4e-16 * series);
  // And the leading term alone, the "sigma^2 ~ g(0)^2 t" statement: relative
  // gap is |c2| t / g(0)^2 <= 1e-10 * 10 (vp: (beta_max - beta_min)/2 / beta_min ~ 100 -> 1e-8).
  EXPECT_NEAR(s.variance(t), table_g2(s, 0.0) * t, 1e-7 * series);
}

TEST_P(ScheduleKinds, LogPriorMatchesNormalDensity) {
  const Schedule s = default_schedule(GetParam());
  // Prior variance: 1 for ou/vp, sigma_T^2 = (sigma^{2T} - 1) / (2 ln sigma) for ve.
  const double v = s.kind == ScheduleKind::ve
                       ? (std::pow(s.sigma_max, 2.0 * s.T) - 1.0) / (2.0 * std::log(s.sigma_max))
                       : 1.0;
  EXPECT_NEAR(s.prior_variance(), v, 1e-14 * v);
  const std::vector<double> x{0.3, -1.7, 2.5};
  double ref = 0.0;  // product of 1-d normal densities, summed in log space
  for (const double xi : x) ref += std::log(std::exp(-xi * xi / (2.0 * v)) / std::sqrt(2.0 * std::numbers::pi * v));
  // Both are O(1)-O(10) sums of a few terms: rounding is ~1e-15 relative.
  EXPECT_NEAR(s.log_prior(x), ref, 1e-13 * std::abs(ref));
}

TEST(Schedule, DefaultsFollowMathTable) {
  const Schedule ou = default_schedule(ScheduleKind::ou);
  EXPECT_EQ(ou.T, 5.0);
  EXPECT_EQ(ou.t_min, 1e-3);
  const Schedule vp = default_schedule(ScheduleKind::vp);
  EXPECT_EQ(vp.T, 1.0);
  EXPECT_EQ(vp.t_min, 1e-3);
  EXPECT_EQ(vp.beta_min, 0.1);
  EXPECT_EQ(vp.beta_max, 20.0);
  const Schedule ve = default_schedule(ScheduleKind::ve);
  EXPECT_EQ(ve.T, 1.0);
  EXPECT_EQ(ve.t_min, 1e-5);
  EXPECT_EQ(ve.sigma_max, 25.0);
  EXPECT_NO_THROW(ou.validate());
  EXPECT_NO_THROW(vp.validate());
  EXPECT_NO_THROW(ve.validate());
  // The vp closed form at T = 1: B(1) = (0.1 + 20) / 2, mu_1 = exp(-B/2).
  EXPECT_NEAR(vp.mean_scale(1.0), std::exp(-0.25 * 20.1), 1e-15);
}

TEST(DsmSetup, LambdaAndOutputScale) {
  DsmSetup setup;
  setup.schedule = default_schedule(ScheduleKind::vp);
  const double t = 0.37;
  const double B = 0.1 * t + 0.5 * 19.9 * t * t;  // docs/math.md §1 vp, by hand
  const double var = 1.0 - std::exp(-B), g2 = 0.1 + 19.9 * t;
  // Everything below is one or two roundings away from the hand formulas.
  const double tol = 1e-14;
  setup.weighting = Weighting::sigma2;
  EXPECT_NEAR(setup.lambda(t), var, tol);
  setup.weighting = Weighting::likelihood;
  EXPECT_NEAR(setup.lambda(t), g2, tol * g2);
  setup.weighting = Weighting::none;
  EXPECT_EQ(setup.lambda(t), 1.0);
  setup.output_scale = OutputScale::one;
  EXPECT_EQ(setup.c(t), 1.0);
  setup.output_scale = OutputScale::inv_sigma;
  EXPECT_NEAR(setup.c(t), 1.0 / std::sqrt(var), tol * 10);
  // The paper's code pairing (sigma2, inv_sigma) has Gram weight exactly 1.
  setup.weighting = Weighting::sigma2;
  EXPECT_NEAR(setup.gram_weight(t), 1.0, tol);
  setup.weighting = Weighting::likelihood;
  EXPECT_NEAR(setup.gram_weight(t), g2 / var, tol * g2 / var * 10);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The denoiser's s = (mu D - x) / sigma^2: c = mu / sigma^2, k = -1 / sigma^2;
// its loss constant |x_0|^2 / 2 E_t[w] with, for OU, w = lambda mu^2 / sigma^4:
// sigma2: w = 1 / (e^{2t} - 1), int = 1/2 log(1 - e^{-2t});
// none:   w = e^{-2t} / (1 - e^{-2t})^2, int = -1 / (2 (1 - e^{-2t})).
// The integrands grow like 1/t and 1/t^2 at t_min: 1e-12 is ~100x rounding.
TEST(DsmSetup, DenoiserScaleSkipAndLossConstant) {
  DsmSetup setup;
  setup.schedule = default_schedule(ScheduleKind::ou);
  setup.output_scale = OutputScale::denoiser;
  const double t = 0.3, mu = std::exp(-t), var = -std::expm1(-2.0 * t);
  EXPECT_NEAR(setup.c(t), mu / var, 1e-14 * mu / var);
  EXPECT_NEAR(setup.skip(t), -1.0 / var, 1e-14 / var);
  EXPECT_TRUE(setup.regresses_data());
  EXPECT_EQ(parse_output_scale("denoiser"), OutputScale::denoiser);
  EXPECT_EQ(to_string(OutputScale::denoiser), "denoiser");
  const double a = setup.schedule.t_min, b = setup.schedule.T;
  const auto sigma2 = [](double u) { return 0.5 * std::log(-std::expm1(-2.0 * u)); };
  const auto none = [](double u) { return -0.5 / -std::expm1(-2.0 * u); };
  setup.weighting = Weighting::sigma2;
  const double expected_sigma2 = (sigma2(b) - sigma2(a)) / (b - a);
  EXPECT_NEAR(setup.mean_gram_weight(), expected_sigma2, 1e-12 * expected_sigma2);
  EXPECT_NEAR(setup.loss_constant(3, 2.5), 1.25 * expected_sigma2, 1e-12 * expected_sigma2);
  setup.weighting = Weighting::none;
  const double expected_none = (none(b) - none(a)) / (b - a);
  EXPECT_NEAR(setup.mean_gram_weight(), expected_none, 1e-12 * expected_none);
  // The data-free constant does not exist for the denoiser: refused, naming the field.
  expect_invalid([&] { (void)setup.loss_constant(3); }, "output_scale");
  setup.output_scale = OutputScale::one;
  EXPECT_EQ(setup.skip(t), 0.0);
  EXPECT_EQ(setup.loss_constant(3, 99.0), setup.loss_constant(3));  // noise targets: x_0 does not enter
}


// E_t[lambda / sigma_t^2] against closed forms: for OU see test_support.hpp;
// for VE, lambda = g^2 = s^{2t} and sigma^2 = (s^{2t} - 1)/(2 ln s), so
// lambda/sigma^2 = d/dt log(s^{2t} - 1); for VP, g^2/sigma^2 = beta/(1 - e^{-B})
// = d/dt log(e^{B} - 1). The integrand grows like 1/t at t_min = 1e-3..1e-5,
// which the graded panels must resolve: 1e-12 relative is ~100x rounding.
TEST(DsmSetup, MeanLambdaOverVarianceMatchesClosedForms) {
  for (const Weighting w : {Weighting::sigma2, Weighting::likelihood, Weighting::none}) {
    DsmSetup ou;
    ou.schedule = default_schedule(ScheduleKind::ou);
    ou.weighting = w;
    const double expected = ou_mean_lambda_over_variance(w, ou.schedule.t_min, ou.schedule.T);
    EXPECT_NEAR(ou.mean_lambda_over_variance(), expected, 1e-12 * expected) << to_string(w);
    EXPECT_NEAR(ou.loss_constant(3), 1.5 * expected, 1e-12 * expected);
  }
  DsmSetup ve;
  ve.schedule = default_schedule(ScheduleKind::ve);
  ve.weighting = Weighting::likelihood;
  const double log_s = std::log(ve.schedule.sigma_max), a = ve.schedule.t_min, b = ve.schedule.T;
  const double ve_expected =
      (std::log(std::expm1(2.0 * b * log_s)) - std::log(std::expm1(2.0 * a * log_s))) / (b - a);
  EXPECT_NEAR(ve.mean_lambda_over_variance(), ve_expected, 1e-12 * ve_expected);
  DsmSetup vp;
  vp.schedule = default_schedule(ScheduleKind::vp);
  vp.weighting = Weighting::likelihood;
  const auto B = [&](double t) {
    return vp.schedule.beta_min * t + 0.5 * (vp.schedule.beta_max - vp.schedule.beta_min) * t * t;
  };
  const double ta = vp.schedule.t_min, tb = vp.schedule.T;
  const double vp_expected = (std::log(std::expm1(B(tb))) - std::log(std::expm1(B(ta)))) / (tb - ta);
  EXPECT_NEAR(vp.mean_lambda_over_variance(), vp_expected, 1e-12 * vp_expected);
}

TEST(Schedule, ValidateNamesEveryBadField) {
  struct Case {
    const char* field;
    std::function<void(Schedule&)> spoil;
  };
  const std::vector<Case> cases{
      {"T", [](Schedule& s) { s.T = s.t_min; }},
      {"T", [](Schedule& s) { s.T = -1.0; }},
      {"T", [](Schedule& s) { s.T = std::nan(""); }},
      {"t_min", [](Schedule& s) { s.t_min = 0.0; }},
      {"t_min", [](Schedule& s) { s.t_min = -1e-3; }},
      {"t_min", [](Schedule& s) { s.t_min = INFINITY; }},
      {"beta_min", [](Schedule& s) { s.beta_min = -0.1; }},
      {"beta_min", [](Schedule& s) { s.beta_min = std::nan(""); }},
      {"beta_max", [](Schedule& s) { s.beta_max = 0.05; }},
      {"beta_max", [](Schedule& s) { s.beta_min = 0.0; s.beta_max = 0.0; }},
      {"beta_max", [](Schedule& s) { s.beta_max = INFINITY; }},
      {"sigma_max", [](Schedule& s) { s.sigma_max = 1.0; }},
      {"sigma_max", [](Schedule& s) { s.sigma_max = 0.5; }},
      {"sigma_max", [](Schedule& s) { s.sigma_max = std::nan(""); }},
  };
  for (const ScheduleKind kind : {ScheduleKind::ou, ScheduleKind::vp, ScheduleKind::ve}) {
    for (const Case& c : cases) {
      Schedule s = default_schedule(kind);
      c.spoil(s);
      const std::string msg = message_of([&] { s.validate(); });
      EXPECT_TRUE(starts_with(msg, std::string(c.field) + ": ")) << msg;
      // DsmSetup::validate forwards to the schedule.
      DsmSetup setup;
      setup.schedule = s;
      EXPECT_TRUE(starts_with(message_of([&] { setup.validate(); }), std::string(c.field) + ": "));
    }
  }
  Schedule s = default_schedule(ScheduleKind::ou);
  s.T = 1e-4;
  EXPECT_NE(message_of([&] { s.validate(); }).find("must exceed t_min"), std::string::npos);
}

TEST(Schedule, ParseRoundTripsAndRejectsUnknownNames) {
  for (const ScheduleKind k : {ScheduleKind::ou, ScheduleKind::vp, ScheduleKind::ve}) {
    EXPECT_EQ(parse_schedule(to_string(k)), k);
  }
  for (const Weighting w : {Weighting::sigma2, Weighting::likelihood, Weighting::none}) {
    EXPECT_EQ(parse_weighting(to_string(w)), w);
  }
  for (const OutputScale c : {OutputScale::one, OutputScale::inv_sigma}) {
    EXPECT_EQ(parse_output_scale(to_string(c)), c);
  }
  const std::string a = message_of([] { parse_schedule("vpsde"); });
  EXPECT_TRUE(starts_with(a, "schedule: ")) << a;
  EXPECT_NE(a.find("'vpsde'"), std::string::npos);
  EXPECT_NE(a.find("ou"), std::string::npos);
  const std::string b = message_of([] { parse_weighting("Sigma2"); });
  EXPECT_TRUE(starts_with(b, "weighting: ")) << b;
  EXPECT_NE(b.find("'Sigma2'"), std::string::npos);
  const std::string c = message_of([] { parse_output_scale(""); });
  EXPECT_TRUE(starts_with(c, "output_scale: ")) << c;
  EXPECT_NE(c.find("inv_sigma"), std::string::npos);
}

}  // namespace
}  // namespace gengap
