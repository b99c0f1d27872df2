// The cost that sizes a study on the handwritten digits (d = 64): held-out
// log-likelihoods by the probability-flow ODE with the exact divergence of the
// random-feature score (log_likelihood_random_features: relu kinks integrated
// exactly, points in chunks over the TBB threads; here 2 threads, OpenBLAS
// single-threaded as in every gengap run).
//
// Workload: 512 digits (Debian's python3-sklearn file, grey levels scaled to
// [-1, 1]) train the default model (relu, linear e(t), OU T = 5, t_min =
// 1e-3, K = 8 draws per digit) with m = 1024 and 4096 features by the exact
// flow; 256 held-out digits are scored at three training times spread over the
// flow's timescales (log-spaced: early, middle, late), at the study's ODE
// tolerance (rtol = atol = 1e-5). The late tau of m = 4096 is the memorising
// model (measured: ~43 000 evaluations and ~14 s per point, held-out
// bits/dim ~1e57): run it with --benchmark_filter=.*m:4096/tau:2 alone. Counters: right-hand-side evaluations per
// point, milliseconds per point, and the held-out negative log-likelihood in
// bits per dimension (of the scaled data). The limit is the evaluation
// itself: each costs a d x m and an m x d matrix product per point plus the
// divergence's O(m d), ~4 m d flops (1 Mflop at m = 4096).
#include <benchmark/benchmark.h>
#include <oneapi/tbb/global_control.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "gengap/generalization/io/digits.hpp"
#include "gengap/generalization/studies/model_config.hpp"
#include "gengap/generalization/studies/model_setup.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"

namespace {

using namespace gengap;

constexpr std::size_t training_digits = 512, held_out_digits = 256;  // 4 chunks of 64: both threads busy

struct DigitsModel {
  RandomFeatureModelConfig config;
  RandomFeatures features;
  DsmSetup setup;
  Matrix held_out;
  std::vector<Matrix> weights;  // A at the early, middle and late tau
  std::vector<double> tau;
};

const DigitsModel& digits_model(std::size_t m) {
  static std::map<std::size_t, std::unique_ptr<DigitsModel>> models;
  std::unique_ptr<DigitsModel>& model = models[m];
  if (model) return *model;
  model = std::make_unique<DigitsModel>();
  const ScopedBlasThreads single_threaded_blas(1);
  const Matrix all = scaled_digits(read_digits(), -1.0, 1.0);
  const std::size_t d = all.cols();
  Matrix training(training_digits, d), held_out(held_out_digits, d);
  for (std::size_t i = 0; i < training_digits; ++i) std::copy_n(all.row(i).begin(), d, training.row(i).begin());
  for (std::size_t i = 0; i < held_out_digits; ++i) {
    std::copy_n(all.row(all.rows() - 1 - i).begin(), d, held_out.row(i).begin());
  }
  RandomFeatureModelConfig& c = model->config;
  c.model.m = m;
  c.train_loss.draws_per_sample = 8;
  model->setup = c.dsm_setup();
  model->features = model_random_features(c, d);
  const QuadraticLoss loss = gram_matrices(model->features, *model_training_design(c, training, model->setup));
  const GradientFlow flow(loss, model_initial_weights(c, d), GradientFlowOptions{});
  const auto [shortest, longest] = flow.timescale_range();
  model->tau = log_spaced(shortest, longest, 3);
  for (const double tau : model->tau) model->weights.push_back(flow.weights(tau));
  model->held_out = std::move(held_out);
  return *model;
}

void BM_DigitsHeldOutLikelihood(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const auto which = static_cast<std::size_t>(state.range(1));
  const tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 2);
  const ScopedBlasThreads single_threaded_blas(1);
  const DigitsModel& model = digits_model(m);
  LikelihoodOptions options;
  options.ode.controller.rtol = options.ode.controller.atol = 1e-5;
  LikelihoodResult last;
  double seconds = 0.0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    last = log_likelihood_random_features(model.setup.schedule, model.features, model.weights[which], model.setup,
                                          model.held_out, options);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(last.log_p.data());
  }
  const double points = static_cast<double>(held_out_digits) * static_cast<double>(state.iterations());
  state.counters["tau"] = model.tau[which];
  state.counters["evals_per_point"] = last.mean_evaluations_per_point();
  state.counters["ms_per_point"] = 1e3 * seconds / points;
  // Against the limit: ~4 m d flops per evaluation and point.
  state.counters["GFlops"] = 4.0 * static_cast<double>(m * 64) * last.mean_evaluations_per_point() * points / seconds / 1e9;
  state.counters["bits_per_dim"] = last.mean_bits_per_dim();
  std::size_t failed = 0;
  for (const double v : last.log_p) failed += std::isfinite(v) ? 0 : 1;
  state.counters["failed_points"] = static_cast<double>(failed);
}
BENCHMARK(BM_DigitsHeldOutLikelihood)
    ->ArgsProduct({{1024, 4096}, {0, 1, 2}})
    ->ArgNames({"m", "tau"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace
