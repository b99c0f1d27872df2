// Early stopping on your own data and your own training times: study S1's
// pipeline (random features -> empirical DSM Gram matrix -> exact gradient
// flow -> held-out likelihoods by the probability-flow ODE along tau) run on a
// data matrix instead of S1's two-mode target. run_early_stopping(config)
// draws its training set from config.target, so this program calls the
// pieces it is built from (studies/model_setup.hpp) with the same config:
// its model, schedule, weighting, train_loss, tau and kl groups are used.
//
//   early_stopping_own_data [data.npy] [tau ...]
//
// data.npy: n x d float64 (or 1-d: n x 1); the first half of the rows trains,
// the second half is held out. Without it the program draws 200 training and
// 1000 held-out points of a known 1-d mixture, so that KL(p_0 || p_theta) =
// mean(log p_0 - log p_theta) over the held-out points can be printed; with
// your data p_0 is unknown and the held-out cross-entropy -mean log p_theta
// (KL + the data's entropy: the same argmin) is printed instead. tau*: the
// argmin over the grid (log-spaced over the flow's time scales, and your taus).
//
// Checks (exit code 1 on failure): every likelihood ODE succeeds; L_n(tau)
// does not increase along tau (gradient flow is a descent; 1e-12 relative
// slack for rounding); with the known mixture, KL >= -4 SE at every
// tau (a KL below zero beyond Monte Carlo noise means a wrong density) and
// early stopping pays: the model at tau* gives more than half of the held-out
// points a higher density than the last tau's does, by more than 4 binomial
// SE (measured: 632 of 1000, 8 SE; a sign test, because the memorising
// model's log p_theta is heavy-tailed: ~-1e6 at a held-out point 1 beyond the
// training set, converged in rtol, so its KL's SE is large). Your data need
// not overfit by the last tau, so this one is not asked of a .npy file.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>

#include <gengap/generalization/io/npy.hpp>
#include <gengap/generalization/kl.hpp>
#include <gengap/generalization/studies/model_setup.hpp>
#include <gengap/generalization/studies/s1/early_stopping.hpp>
#include <gengap/kernels/blas_runtime.hpp>
#include <gengap/solvers/gradient_flow.hpp>
#include <gengap/solvers/quadratic_loss.hpp>
#include <gengap/solvers/random_feature_likelihood.hpp>

int main(int argc, char** argv) {
  using namespace gengap;
  reexec_with_fast_blas(argc, argv);
  EarlyStoppingConfig config;  // S1's defaults (relu, linear e(t), OU T = 5), made small:
  config.model.m = 128;
  config.train_loss.draws_per_sample = 64;
  config.tau.points = 10;
  for (int a = 1; a < argc; ++a)
    if (!std::string(argv[a]).ends_with(".npy")) config.tau.include.push_back(std::stod(argv[a]));
  if (config.tau.include.empty()) config.tau.include = {20.0, 2000.0};

  Matrix train, test;
  std::optional<GaussianMixture> truth;
  if (argc > 1 && std::string(argv[1]).ends_with(".npy")) {
    const Matrix data = read_npy(argv[1]).to_matrix();
    const auto half = data.values().begin() + static_cast<std::ptrdiff_t>(data.rows() / 2 * data.cols());
    train = Matrix(data.rows() / 2, data.cols(), std::vector<double>(data.values().begin(), half));
    test = Matrix(data.rows() - train.rows(), data.cols(), std::vector<double>(half, data.values().end()));
  } else {
    truth = GaussianMixture::diagonal({0.5, 0.3, 0.2}, Matrix(3, 1, {-2.5, 0.5, 3.0}), Matrix(3, 1, {0.3, 0.2, 0.5}));
    train = truth->sample(200, config.seed, streams::training_data);
    test = truth->sample(1000, config.seed, streams::test_data);
  }
  const std::size_t n = train.rows(), d = train.cols();

  const DsmSetup setup = config.dsm_setup();
  const RandomFeatures rf = model_random_features(config, d);
  const GradientFlow flow(gram_matrices(rf, *model_training_design(config, train, setup)),
                          model_initial_weights(config, d), GradientFlowOptions{config.tau.eigen_floor});
  const auto [shortest, longest] = flow.timescale_range();
  std::vector<double> taus = log_spaced(shortest, longest, config.tau.points);
  taus.insert(taus.end(), config.tau.include.begin(), config.tau.include.end());
  std::sort(taus.begin(), taus.end());

  const LikelihoodOptions likelihood = config.kl_settings().likelihood;  // dopri5, rtol = atol = 1e-5
  // KL = mean(log p_0 - log p_theta); with log p_0 = 0 (p_0 unknown) it is the cross-entropy.
  const std::vector<double> log_p0 = truth ? truth->log_density(test) : std::vector<double>(test.rows(), 0.0);
  bool ok = true;
  double previous_Ln = INFINITY, best = INFINITY, tau_best = 0.0;
  std::vector<double> best_log_p, last_log_p;
  std::printf("n = %zu training, %zu held out, d = %zu, m = %zu\n%12s %12s %14s %10s\n", n, test.rows(), d,
              config.model.m, "tau", "L_n", truth ? "KL" : "cross-entropy", "+- SE");
  for (const double tau : taus) {
    const double Ln = flow.train_loss(tau);
    ok = ok && Ln <= previous_Ln + 1e-12 * std::abs(previous_Ln);
    previous_Ln = Ln;
    const LikelihoodResult r =
        log_likelihood_random_features(setup.schedule, rf, flow.weights(tau), setup, test, likelihood);
    ok = ok && r.all_succeeded();
    const MonteCarloKl kl = kl_monte_carlo(log_p0, r.log_p);
    if (truth) ok = ok && kl.kl >= -4.0 * kl.standard_error;
    if (kl.kl < best) best = kl.kl, tau_best = tau, best_log_p = r.log_p;
    last_log_p = r.log_p;
    const auto& yours = config.tau.include;
    std::printf("%12.4g %12.6f %14.4f %10.4f%s\n", tau, Ln, kl.kl, kl.standard_error,
                std::find(yours.begin(), yours.end(), tau) != yours.end() ? "  <- your tau" : "");
  }
  std::size_t wins = 0;  // held-out points more likely under A(tau*) than under A(last tau)
  for (std::size_t i = 0; i < best_log_p.size(); ++i) wins += best_log_p[i] > last_log_p[i];
  const double half = 0.5 * static_cast<double>(test.rows()), binomial_se = std::sqrt(half / 2.0);
  if (truth) ok = ok && static_cast<double>(wins) > half + 4.0 * binomial_se;
  std::printf("tau* = %.4g (%s %.4f), more likely than the last tau at %zu of %zu held-out points\n%s\n",
              tau_best, truth ? "KL" : "cross-entropy", best, wins, test.rows(), ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
