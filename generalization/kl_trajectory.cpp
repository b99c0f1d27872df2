// KL of the random-feature model along training (see kl_trajectory.hpp).
#include "gengap/generalization/kl_trajectory.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "gengap/solvers/score_integral_density.hpp"

namespace gengap {
namespace {

// p_0's support to 10 standard deviations (density below e^{-50} of a mode
// beyond) and every training point with one standard deviation to spare.
KlQuadratureOptions window(const GaussianMixture& target, MatrixView training_set, const KlSettings& s) {
  double lo = 0.0, hi = 0.0, widest = 0.0;
  for (std::size_t k = 0; k < target.components(); ++k) {
    const double sd = std::sqrt(target.covariance(k)(0, 0));
    const double mean = target.means()(k, 0);
    lo = k == 0 ? mean - 10.0 * sd : std::min(lo, mean - 10.0 * sd);
    hi = k == 0 ? mean + 10.0 * sd : std::max(hi, mean + 10.0 * sd);
    widest = std::max(widest, sd);
  }
  for (std::size_t i = 0; i < training_set.rows; ++i) {
    lo = std::min(lo, training_set(i, 0) - widest);
    hi = std::max(hi, training_set(i, 0) + widest);
  }
  KlQuadratureOptions o;
  o.lower = lo;
  o.upper = hi;
  o.initial_nodes = s.quadrature_nodes;
  o.max_nodes = s.quadrature_max_nodes;
  o.tolerance = s.quadrature_tolerance;
  o.relative_tolerance = s.quadrature_relative_tolerance;
  return o;
}

LogDensity1d mixture_log_density(const GaussianMixture& g) {
  return [&g](std::span<const double> x, std::span<double> out) { g.log_density(MatrixView{x.data(), x.size(), 1}, out); };
}

}  // namespace

KlAlongTraining::KlAlongTraining(const GaussianMixture& target, MatrixView training_set,
                                 const RandomFeatures& features, const DsmSetup& setup, const KlSettings& settings,
                                 std::uint64_t seed)
    : target_(target), features_(features), setup_(setup), settings_(settings) {
  setup_.validate();
  settings_.likelihood.validate(setup_.schedule);
  settings_.quadrature_likelihood.t_min = settings_.likelihood.t_min;
  settings_.quadrature_likelihood.validate(setup_.schedule);
  require(std::isfinite(settings.mass_tolerance) && settings.mass_tolerance > 0.0, "mass_tolerance",
          "must be positive and finite");
  require(std::isfinite(settings.score_integral_panel_width) && settings.score_integral_panel_width > 0.0,
          "score_integral_panel_width", "must be positive and finite");
  require(features.dim() == target.dim(), "features", "dimension differs from the target's");
  t_min_ = settings_.likelihood.t_min.value_or(setup_.schedule.t_min);
  if (settings_.test_points > 0) {
    test_points_ = target_.sample(settings_.test_points, seed, streams::test_data);
    test_log_p0_ = target_.log_density(test_points_);
  }
  if (settings_.quadrature) {
    require(target.dim() == 1, "quadrature", "needs d = 1, got d = " + std::to_string(target.dim()));
    window_ = window(target_, training_set, settings_);
    // Bad node counts or tolerance are reported under the settings' names.
    try {
      window_.validate();
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      const std::string field = what.substr(0, what.find(':'));
      throw InvalidArgument(field == "tolerance"            ? "quadrature_tolerance"
                            : field == "relative_tolerance" ? "quadrature_relative_tolerance"
                            : field == "max_nodes" ? "quadrature_max_nodes"
                            : field == "initial_nodes" ? "quadrature_nodes"
                                                       : field,
                            what.substr(what.find(':') + 2));
    }
    const Schedule& s = setup_.schedule;
    const GaussianMixture diffused = target_.diffused(s.mean_scale(t_min_), s.std_dev(t_min_));
    // The floor is analytic and cheap: resolve it far below the model's tolerance.
    KlQuadratureOptions tight = window_;
    tight.tolerance = std::min(1e-9, window_.tolerance);
    tight.max_nodes = std::max<std::size_t>(window_.max_nodes, 1u << 16);
    floor_ = kl_quadrature(mixture_log_density(target_), mixture_log_density(diffused), tight);
  }
}

KlMonteCarloAtTau KlAlongTraining::monte_carlo(const Matrix& A) const {
  KlMonteCarloAtTau r;
  if (settings_.test_points == 0) return r;
  const LikelihoodResult l =
      log_likelihood_random_features(setup_.schedule, features_, A, setup_, test_points_, settings_.likelihood);
  r.kl = kl_monte_carlo(test_log_p0_, l.log_p);
  r.evaluations_per_point = l.mean_evaluations_per_point();
  for (const TrajectoryStats& s : l.stats) r.max_evaluations = std::max(r.max_evaluations, s.rhs_evaluations);
  if (r.kl.failed > 0) r.flags |= kl_flags::ode_failed_points;
  return r;
}

KlQuadratureAtTau KlAlongTraining::quadrature(const Matrix& A) const {
  require(settings_.quadrature, "quadrature", "is disabled in these settings");
  KlQuadratureAtTau r;
  std::size_t evaluations = 0, nodes = 0;
  // kl_quadrature calls this once per round, serially: the tallies need no lock.
  const LogDensity1d model = [&](std::span<const double> x, std::span<double> out) {
    const Matrix points(x.size(), 1, std::vector<double>(x.begin(), x.end()));
    const LikelihoodResult l =
        log_likelihood_random_features(setup_.schedule, features_, A, setup_, points, settings_.quadrature_likelihood);
    std::copy(l.log_p.begin(), l.log_p.end(), out.begin());
    evaluations += l.total_rhs_evaluations;
    nodes += x.size();
  };
  r.kl = kl_quadrature(mixture_log_density(target_), model, window_);
  r.evaluations_per_node = nodes == 0 ? 0.0 : static_cast<double>(evaluations) / static_cast<double>(nodes);
  if (!(std::abs(r.kl.mass - 1.0) <= settings_.mass_tolerance)) r.flags |= kl_flags::mass;
  if (!r.kl.converged) r.flags |= kl_flags::quadrature_unconverged;
  if (r.kl.failed_nodes > 0) r.flags |= kl_flags::quadrature_failed_nodes;
  if (!r.kl.window_complete) r.flags |= kl_flags::window_incomplete;
  return r;
}

KlQuadratureResult KlAlongTraining::score_integral(const Matrix& A) const {
  require(settings_.quadrature, "quadrature", "is disabled in these settings");
  ScoreIntegralOptions options;
  options.lower = window_.lower;
  options.upper = window_.upper;
  options.panels = static_cast<std::size_t>(
      std::ceil((window_.upper - window_.lower) / settings_.score_integral_panel_width));
  const ScoreIntegralDensity density(score_only(random_feature_score(features_, A, setup_)), t_min_, options);
  const LogDensity1d model = [&](std::span<const double> x, std::span<double> out) {
    const std::vector<double> log_p = density.log_density(x);
    std::copy(log_p.begin(), log_p.end(), out.begin());
  };
  // The density is normalised on the window and defined there: no widening
  // (p_0 has mass below e^{-50} outside it).
  KlQuadratureOptions fixed_window = window_;
  fixed_window.max_extensions = 0;
  return kl_quadrature(mixture_log_density(target_), model, fixed_window);
}

}  // namespace gengap
