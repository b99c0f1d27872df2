// KL(p_0 || p_theta) (generalization/kl.hpp): Monte Carlo and adaptive
// quadrature against closed forms (two Gaussians), a brute-force composite
// Gauss-Legendre reference (mixtures, spiky densities), each other, and the
// diagnostics (mass, failed points and nodes, bad options).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "gengap/generalization/kl.hpp"
#include "gengap/generalization/kl_trajectory.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/quadrature.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double gaussian_log_pdf(double x, double mean, double sd) {
  const double z = (x - mean) / sd;
  return -0.5 * z * z - std::log(sd) - 0.5 * std::log(2.0 * std::numbers::pi);
}

LogDensity1d gaussian(double mean, double sd) {
  return [=](std::span<const double> x, std::span<double> out) {
    for (std::size_t k = 0; k < x.size(); ++k) out[k] = gaussian_log_pdf(x[k], mean, sd);
  };
}

LogDensity1d mixture(const GaussianMixture& g) {
  return [g](std::span<const double> x, std::span<double> out) {
    g.log_density(MatrixView{x.data(), x.size(), 1}, out);
  };
}

// KL(N(m1, s1^2) || N(m2, s2^2)), closed form.
double gaussian_kl(double m1, double s1, double m2, double s2) {
  return std::log(s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2.0 * s2 * s2) - 0.5;
}

// Brute-force reference, independent of Simpson and of any adaptivity:
// 20-point Gauss-Legendre on `panels` equal panels of [lo, hi].
struct Reference {
  double kl = 0.0;
  double mass = 0.0;
};
Reference brute_force(const LogDensity1d& p0, const LogDensity1d& q, double lo, double hi, std::size_t panels) {
  const QuadratureRule rule = gauss_legendre(20, 0.0, 1.0);
  Reference r;
  const double h = (hi - lo) / static_cast<double>(panels);
  std::vector<double> x(rule.nodes.size()), l0(x.size()), lq(x.size());
  for (std::size_t p = 0; p < panels; ++p) {
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = lo + h * (static_cast<double>(p) + rule.nodes[k]);
    p0(x, l0);
    q(x, lq);
    for (std::size_t k = 0; k < x.size(); ++k) {
      r.kl += h * rule.weights[k] * std::exp(l0[k]) * (l0[k] - lq[k]);
      r.mass += h * rule.weights[k] * std::exp(lq[k]);
    }
  }
  return r;
}

TEST(KlMonteCarlo, MeanAndStandardErrorOfTheDifferences) {
  // Differences 1, 2, 3, 4 (and a failed point): mean 2.5, sd sqrt(5/3), SE sd / 2.
  const std::vector<double> log_p0 = {1.0, 2.0, 3.0, 4.0, 5.0};
  const std::vector<double> log_q = {0.0, 0.0, kNaN, 1.0, 1.0};
  const MonteCarloKl r = kl_monte_carlo(log_p0, log_q);
  EXPECT_EQ(r.used, 4u);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_DOUBLE_EQ(r.kl, 2.5);
  EXPECT_DOUBLE_EQ(r.standard_error, std::sqrt(5.0 / 3.0) / 2.0);
}

TEST(KlMonteCarlo, CountsEveryFailureAndNeverAveragesOverNone) {
  const std::vector<double> log_p0 = {0.0, 0.0};
  const MonteCarloKl none = kl_monte_carlo(log_p0, std::vector<double>{kNaN, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(none.failed, 2u);
  EXPECT_EQ(none.used, 0u);
  EXPECT_TRUE(std::isnan(none.kl));
  EXPECT_TRUE(std::isnan(none.standard_error));
  const MonteCarloKl one = kl_monte_carlo(log_p0, std::vector<double>{kNaN, -1.0});
  EXPECT_EQ(one.kl, 1.0);
  EXPECT_TRUE(std::isnan(one.standard_error));  // no spread from one point
  expect_invalid([] { kl_monte_carlo(std::vector<double>{0.0}, std::vector<double>{0.0, 1.0}); }, "log_p_theta");
  expect_invalid([] { kl_monte_carlo(std::vector<double>{}, std::vector<double>{}); }, "log_p0");
  expect_invalid([] { kl_monte_carlo(std::vector<double>{kNaN}, std::vector<double>{0.0}); }, "log_p0");
}

TEST(KlQuadrature, GaussiansMatchTheClosedForm) {
  // Simpson converges like h^4; the adaptive grid is asked for 1e-7 and its
  // error estimate must cover the true error (it is conservative by design).
  KlQuadratureOptions o;
  o.lower = -12.0;
  o.upper = 12.0;
  o.tolerance = 1e-7;
  const struct {
    double m1, s1, m2, s2;
  } cases[] = {{0.0, 1.0, 0.5, 1.5}, {1.0, 0.7, -1.0, 1.0}, {0.0, 1.0, 0.0, 1.0}, {2.0, 1.0, 0.0, 0.5}};
  for (const auto& c : cases) {
    const KlQuadratureResult r = kl_quadrature(gaussian(c.m1, c.s1), gaussian(c.m2, c.s2), o);
    const double exact = gaussian_kl(c.m1, c.s1, c.m2, c.s2);
    EXPECT_TRUE(r.converged);
    EXPECT_NEAR(r.kl, exact, std::max(r.kl_error, 1e-12)) << c.m2 << " " << c.s2;
    EXPECT_LE(r.kl_error, o.tolerance);
    EXPECT_NEAR(r.mass, 1.0, 1e-7);
    EXPECT_TRUE(r.mass_ok());
    EXPECT_EQ(r.failed_nodes, 0u);
    EXPECT_EQ(r.x.size(), r.log_p_theta.size());
    EXPECT_TRUE(std::is_sorted(r.x.begin(), r.x.end()));
  }
}

TEST(KlQuadrature, WindowGrowsUntilTheLearnedTailsAreIn) {
  // p_theta = N(0, 30^2) is far wider than the window [-8, 8] given for p_0 = N(0, 1):
  // the ends move out (doubling) until p_theta's tails are below tolerance / 4.
  KlQuadratureOptions o;
  o.lower = -8.0;
  o.upper = 8.0;
  o.tolerance = 1e-6;
  const KlQuadratureResult r = kl_quadrature(gaussian(0.0, 1.0), gaussian(0.0, 30.0), o);
  EXPECT_TRUE(r.window_complete);
  EXPECT_LT(r.lower, -5.0 * 30.0);
  EXPECT_GT(r.upper, 5.0 * 30.0);
  EXPECT_NEAR(r.mass, 1.0, 1e-5);
  EXPECT_NEAR(r.kl, gaussian_kl(0.0, 1.0, 0.0, 30.0), 1e-5);

  // With no extension allowed the mass is short, and the result says so.
  o.max_extensions = 0;
  const KlQuadratureResult cut = kl_quadrature(gaussian(0.0, 1.0), gaussian(0.0, 30.0), o);
  EXPECT_FALSE(cut.window_complete);
  EXPECT_FALSE(cut.mass_ok());
  EXPECT_NEAR(cut.mass, std::erf(8.0 / 30.0 / std::numbers::sqrt2), 1e-6);
}

TEST(KlQuadrature, MixturesMatchABruteForceReference) {
  // The S1 target against a learned-like three-component mixture. Reference:
  // 20-point Gauss-Legendre on 4000 panels of [-40, 40] (exact to ~1e-14 for
  // these smooth integrands).
  const GaussianMixture p0 = GaussianMixture::two_modes(3.0, 1.0);
  const GaussianMixture q = GaussianMixture::diagonal({0.3, 0.2, 0.5}, Matrix(3, 1, std::vector<double>{-3.2, 0.0, 2.9}),
                                                      Matrix(3, 1, std::vector<double>{0.8, 4.0, 1.1}));
  KlQuadratureOptions o;
  o.lower = -13.0;
  o.upper = 13.0;
  o.tolerance = 1e-6;
  const KlQuadratureResult r = kl_quadrature(mixture(p0), mixture(q), o);
  const Reference ref = brute_force(mixture(p0), mixture(q), -40.0, 40.0, 4000);
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(r.kl, ref.kl, std::max(r.kl_error, 1e-10));
  EXPECT_NEAR(r.mass, ref.mass, 1e-6);
  EXPECT_NEAR(ref.mass, 1.0, 1e-12);
}

TEST(KlQuadrature, RefinesWhereTheLearnedDensityIsSpiky) {
  // Memorisation-like p_theta: 40 narrow bumps (sd 0.01) on the training
  // points plus a broad part. A uniform Simpson grid would need spacing ~0.005
  // over [-13, 13] (~5000 nodes) to resolve them; the adaptive grid reaches
  // the tolerance with fewer nodes, and the answer matches the brute-force
  // reference (4000 panels of 20 Gauss points: spacing ~0.0003 inside each bump).
  const GaussianMixture p0 = GaussianMixture::two_modes(3.0, 1.0);
  const Matrix train = p0.sample(40, 1, streams::training_data);
  std::vector<double> weights(41, 0.5 / 40.0);
  weights[40] = 0.5;
  Matrix means(41, 1), variances(41, 1, 1e-4);
  for (std::size_t i = 0; i < 40; ++i) means(i, 0) = train(i, 0);
  variances(40, 0) = 10.0;
  const GaussianMixture q = GaussianMixture::diagonal(weights, means, variances);
  KlQuadratureOptions o;
  o.lower = -13.0;
  o.upper = 13.0;
  o.initial_nodes = 129;
  o.max_nodes = 4097;
  o.tolerance = 1e-4;
  const KlQuadratureResult r = kl_quadrature(mixture(p0), mixture(q), o);
  const Reference ref = brute_force(mixture(p0), mixture(q), -40.0, 40.0, 16000);
  EXPECT_TRUE(r.converged);
  EXPECT_LT(r.nodes(), 4097u);
  EXPECT_NEAR(r.kl, ref.kl, std::max(r.kl_error, 1e-6));
  EXPECT_NEAR(r.mass, ref.mass, 1e-4);
  EXPECT_TRUE(r.mass_ok());
}

TEST(KlQuadrature, MassDiagnosticFlagsAnUnnormalisedDensity) {
  // q = 0.9 N(0.5, 1.2^2): mass 0.9, KL(p0 || q) = KL(p0 || N) - log 0.9.
  KlQuadratureOptions o;
  o.lower = -12.0;
  o.upper = 12.0;
  o.tolerance = 1e-7;
  const LogDensity1d scaled = [](std::span<const double> x, std::span<double> out) {
    for (std::size_t k = 0; k < x.size(); ++k) out[k] = std::log(0.9) + gaussian_log_pdf(x[k], 0.5, 1.2);
  };
  const KlQuadratureResult r = kl_quadrature(gaussian(0.0, 1.0), scaled, o);
  EXPECT_NEAR(r.mass, 0.9, 1e-7);
  EXPECT_FALSE(r.mass_ok());
  EXPECT_NEAR(r.kl, gaussian_kl(0.0, 1.0, 0.5, 1.2) - std::log(0.9), 1e-7);
  // 1.0005 is within 1e-3; 1.002 is not.
  KlQuadratureResult s;
  s.mass = 1.0005;
  EXPECT_TRUE(s.mass_ok());
  s.mass = 1.002;
  EXPECT_FALSE(s.mass_ok());
}

TEST(KlQuadrature, FailedNodesAreCountedAndBridged) {
  // log p_theta fails (NaN) at every node in [0.5, 0.6]: those nodes are
  // counted and bridged linearly in log p_theta; the quadratic log-density of
  // a Gaussian is nearly linear over 0.1, so the KL moves by far less than 1e-3.
  std::size_t calls = 0, failures = 0;
  const LogDensity1d failing = [&](std::span<const double> x, std::span<double> out) {
    ++calls;
    for (std::size_t k = 0; k < x.size(); ++k) {
      const bool fail = x[k] >= 0.5 && x[k] <= 0.6;
      failures += fail ? 1 : 0;
      out[k] = fail ? kNaN : gaussian_log_pdf(x[k], 0.3, 1.1);
    }
  };
  KlQuadratureOptions o;
  o.lower = -12.0;
  o.upper = 12.0;
  o.tolerance = 1e-6;
  const KlQuadratureResult r = kl_quadrature(gaussian(0.0, 1.0), failing, o);
  EXPECT_GT(r.failed_nodes, 0u);
  EXPECT_EQ(r.failed_nodes, failures);
  EXPECT_EQ(r.rounds, calls);  // one call per round
  EXPECT_NEAR(r.kl, gaussian_kl(0.0, 1.0, 0.3, 1.1), 1e-3);
  for (const double v : r.log_p_theta) EXPECT_TRUE(std::isfinite(v));

  // Every node failing: NaN, never a number.
  const LogDensity1d dead = [](std::span<const double> x, std::span<double> out) {
    for (std::size_t k = 0; k < x.size(); ++k) out[k] = kNaN;
  };
  const KlQuadratureResult none = kl_quadrature(gaussian(0.0, 1.0), dead, o);
  EXPECT_TRUE(std::isnan(none.kl));
  EXPECT_TRUE(std::isnan(none.mass));
  EXPECT_EQ(none.failed_nodes, none.nodes());
}

TEST(KlQuadrature, NodeBudgetIsRespectedAndReported) {
  KlQuadratureOptions o;
  o.lower = -12.0;
  o.upper = 12.0;
  o.initial_nodes = 9;
  o.max_nodes = 41;
  o.tolerance = 1e-12;
  const KlQuadratureResult r = kl_quadrature(gaussian(0.0, 1.0), gaussian(1.0, 0.5), o);
  EXPECT_FALSE(r.converged);
  EXPECT_LE(r.nodes(), 41u);
  EXPECT_GT(r.kl_error, o.tolerance);
}

// A KL of ~250 (a learned density far narrower than p_0, as a memorising
// model's): with relative_tolerance the KL is resolved to its 4 digits, not
// to the absolute 1e-6, on fewer nodes; the mass keeps its absolute tolerance.
TEST(KlQuadrature, RelativeToleranceResolvesALargeKlToItsDigitsOnFewerNodes) {
  KlQuadratureOptions o;
  o.lower = -12.0;
  o.upper = 12.0;
  o.tolerance = 1e-6;
  o.max_nodes = 1u << 16;
  const double exact = gaussian_kl(0.0, 1.0, 0.5, 0.05);  // 246.5
  const KlQuadratureResult absolute = kl_quadrature(gaussian(0.0, 1.0), gaussian(0.5, 0.05), o);
  o.relative_tolerance = 1e-4;
  const KlQuadratureResult relative = kl_quadrature(gaussian(0.0, 1.0), gaussian(0.5, 0.05), o);
  ASSERT_TRUE(absolute.converged);
  ASSERT_TRUE(relative.converged);
  EXPECT_NEAR(absolute.kl, exact, std::max(absolute.kl_error, 1e-9));
  EXPECT_NEAR(relative.kl, exact, relative.kl_error + 1e-9);
  EXPECT_LE(relative.kl_error, 1e-4 * relative.kl);
  EXPECT_GT(relative.kl_error, o.tolerance);  // the relative tolerance did the work
  EXPECT_NEAR(relative.mass, 1.0, 1e-6);
  EXPECT_LT(relative.nodes(), absolute.nodes());
}

TEST(KlQuadrature, BadOptionsNameTheField) {
  const auto run = [](KlQuadratureOptions o) { kl_quadrature(gaussian(0, 1), gaussian(0, 1), o); };
  KlQuadratureOptions o;
  o.upper = o.lower;
  expect_invalid([&] { run(o); }, "upper");
  o = {};
  o.lower = kNaN;
  expect_invalid([&] { run(o); }, "lower");
  o = {};
  o.initial_nodes = 8;
  expect_invalid([&] { run(o); }, "initial_nodes");
  o = {};
  o.max_nodes = 5;
  expect_invalid([&] { run(o); }, "max_nodes");
  o = {};
  o.tolerance = 0.0;
  expect_invalid([&] { run(o); }, "tolerance");
  o = {};
  o.relative_tolerance = -1e-3;
  expect_invalid([&] { run(o); }, "relative_tolerance");
  const LogDensity1d bad_p0 = [](std::span<const double> x, std::span<double> out) {
    for (std::size_t k = 0; k < x.size(); ++k) out[k] = kNaN;
  };
  EXPECT_THROW(kl_quadrature(bad_p0, gaussian(0, 1), KlQuadratureOptions{}), NumericalError);
}

TEST(Kl, MonteCarloAndQuadratureAgreeWithinTheirErrors) {
  // Analytic densities: the two estimators share nothing but the formula.
  // 4000 test points x ~ p_0: |MC - quadrature| <= 4 SE (+ the quadrature's
  // own error), a ~6e-5 false-alarm event for a Gaussian mean.
  const GaussianMixture p0 = GaussianMixture::two_modes(3.0, 1.0);
  const GaussianMixture q = GaussianMixture::diagonal({0.4, 0.6}, Matrix(2, 1, std::vector<double>{-2.8, 3.1}),
                                                      Matrix(2, 1, std::vector<double>{1.3, 0.9}));
  const Matrix test = p0.sample(4000, 0, streams::test_data);
  const MonteCarloKl mc = kl_monte_carlo(p0.log_density(test), q.log_density(test));
  KlQuadratureOptions o;
  o.lower = -13.0;
  o.upper = 13.0;
  const KlQuadratureResult quad = kl_quadrature(mixture(p0), mixture(q), o);
  EXPECT_EQ(mc.failed, 0u);
  EXPECT_GT(quad.kl, 0.02);  // a real difference, not two zeros
  EXPECT_NEAR(mc.kl, quad.kl, 4.0 * mc.standard_error + quad.kl_error);
  EXPECT_LT(mc.standard_error, 0.2 * quad.kl);
}

// The likelihood ODE with the exact score of the S1 target, ended in the exact
// p_T (LikelihoodOptions::terminal_log_density), transports p_T to p_{t_min}
// exactly: its KL(p_0 || .) by quadrature must equal the analytic
// KL(p_0 || p_{t_min}) (brute force, no ODE), and the Monte Carlo KL over
// test points the quadrature KL. t_min = 0.05 makes the KL ~1e-2, well above
// both estimators' errors. Tolerances: the ODE at rtol = atol = 1e-9 errs by
// ~1e-7 in log p (likelihood_test); the quadrature's estimate covers its own part.
TEST(Kl, ExactScoreOdeDensityGivesTheAnalyticKlByBothEstimators) {
  const GaussianMixture p0 = GaussianMixture::two_modes(3.0, 1.0);
  const Schedule schedule = default_schedule(ScheduleKind::ou);
  const double t_min = 0.05;
  const GaussianMixture p_tmin = p0.diffused(schedule.mean_scale(t_min), schedule.std_dev(t_min));
  const GaussianMixture p_T = p0.diffused(schedule.mean_scale(schedule.T), schedule.std_dev(schedule.T));
  LikelihoodOptions o;
  o.t_min = t_min;
  o.ode.controller.rtol = o.ode.controller.atol = 1e-9;
  o.terminal_log_density = [p_T](MatrixView x, std::span<double> out) { p_T.log_density(x, out); };
  const ScoreDivergenceField field = mixture_score(p0, schedule);
  std::size_t calls = 0;
  const LogDensity1d ode = [&](std::span<const double> x, std::span<double> out) {
    ++calls;
    const LikelihoodResult l = log_likelihood(schedule, field, Matrix(x.size(), 1, std::vector<double>(x.begin(), x.end())), o);
    std::copy(l.log_p.begin(), l.log_p.end(), out.begin());
  };
  KlQuadratureOptions q;
  q.lower = -13.0;
  q.upper = 13.0;
  q.tolerance = 1e-6;
  const KlQuadratureResult quad = kl_quadrature(mixture(p0), ode, q);
  const Reference analytic = brute_force(mixture(p0), mixture(p_tmin), -40.0, 40.0, 4000);
  EXPECT_GT(analytic.kl, 1e-3);
  EXPECT_EQ(quad.rounds, calls);
  EXPECT_NEAR(quad.kl, analytic.kl, quad.kl_error + 1e-6);
  EXPECT_NEAR(quad.mass, 1.0, 1e-6);

  const Matrix test = p0.sample(2000, 0, streams::test_data);
  const LikelihoodResult l = log_likelihood(schedule, field, test, o);
  const MonteCarloKl mc = kl_monte_carlo(p0.log_density(test), l.log_p);
  EXPECT_EQ(mc.failed, 0u);
  EXPECT_NEAR(mc.kl, quad.kl, 4.0 * mc.standard_error + quad.kl_error);
}

// KlAlongTraining's floor is KL(p_0 || p_{t_min}) of the exact diffused
// target; its window covers p_0 to 10 sd and the training set.
TEST(KlAlongTraining, FloorIsTheExactScoresKlAtTmin) {
  const GaussianMixture p0 = GaussianMixture::two_modes(3.0, 1.0);
  DsmSetup setup;
  setup.schedule = default_schedule(ScheduleKind::ou);
  const RandomFeatures rf = draw_random_features(8, 1, linear_embedding(setup.schedule.T), Activation::relu,
                                                 FeatureInit::sphere, 0);
  Matrix train(3, 1, std::vector<double>{-20.0, 0.0, 1.0});
  KlSettings s;
  s.test_points = 10;
  s.likelihood.t_min = 0.02;
  const KlAlongTraining kl(p0, train, rf, setup, s, 0);
  EXPECT_EQ(kl.t_min(), 0.02);
  EXPECT_EQ(kl.lower(), -21.0);  // the training point at -20, one sd to spare
  EXPECT_EQ(kl.upper(), 13.0);
  const GaussianMixture p_t = p0.diffused(setup.schedule.mean_scale(0.02), setup.schedule.std_dev(0.02));
  const Reference ref = brute_force(mixture(p0), mixture(p_t), -40.0, 40.0, 4000);
  EXPECT_NEAR(kl.floor().kl, ref.kl, 1e-8);
  EXPECT_EQ(kl.test_points().rows(), 10u);
  EXPECT_EQ(kl.test_points(), p0.sample(10, 0, streams::test_data));

  KlSettings bad = s;
  bad.quadrature_nodes = 8;
  expect_invalid([&] { KlAlongTraining(p0, train, rf, setup, bad, 0); }, "quadrature_nodes");
  bad = s;
  bad.likelihood.ode.controller.rtol = 0.0;
  expect_invalid([&] { KlAlongTraining(p0, train, rf, setup, bad, 0); }, "rtol");
}

}  // namespace
}  // namespace gengap
