// Log-likelihood by the probability-flow ODE with the exact random-feature
// divergence (solvers/likelihood.hpp, MATH.md §9), against its peer
// benchmarks/peers/likelihood_scipy.py: SciPy solve_ivp(RK45) on the same
// augmented ODE with a NumPy exact divergence (score_sde's likelihood), on the
// same model and points.
//
// Workload: 10^4 points drawn from the target, d = 1 (1/2 N(-3, 1) + 1/2 N(3, 1),
// study S1's) and d = 2 (four unit-variance modes at (+-3, +-3)); a
// random-feature model as in S1 (m = 1024, relu, Fourier embedding d_e = 16 with
// scale 30, sphere init, ou schedule T = 5, t_min = 1e-3) trained by the exact
// gradient flow on n = 1000 samples x K = 64 DSM draws, taken at the geometric
// mean of its eigen-timescales (the middle of S1's tau grid); dopri5 with
// rtol = atol = 1e-5, 1 and 2 threads (TBB arena). Counters: evaluations per
// point (mean and max; one evaluation = one right-hand side of one point),
// point evaluations per second, failed points (items_per_second: points/s), and process_cpu_s: CPU seconds of all
// threads (getrusage), which on a shared machine shows whether 2 threads do
// the same work as 1 even when the wall time cannot.
//
// For the peer, the first run of each d writes into $GENGAP_LIKELIHOOD_PEER_DIR
// (default $TMPDIR/gengap_likelihood_peer, TMPDIR defaulting to /tmp):
// d<d>/model/ (saved-model format), d<d>/x.npy and gengap's answers
// d<d>/logp.npy, d<d>/evaluations.npy. Then
//   OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 benchmarks/peers/likelihood_scipy.py --threads 1
// (and --threads 2; run one benchmark at a time on an otherwise idle machine).
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_arena.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gengap/generalization/npy.hpp"
#include "gengap/generalization/saved_model.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/quadratic_loss.hpp"

namespace {

using namespace gengap;

constexpr std::size_t points = 10000;
constexpr std::size_t m = 1024;
constexpr std::uint64_t seed = 0;

GaussianMixture target(std::size_t d) {
  if (d == 1) return GaussianMixture::two_modes(3.0);
  Matrix means(4, 2);
  const double corners[4][2] = {{-3, -3}, {-3, 3}, {3, -3}, {3, 3}};
  for (std::size_t k = 0; k < 4; ++k) means(k, 0) = corners[k][0], means(k, 1) = corners[k][1];
  return GaussianMixture::diagonal({1, 1, 1, 1}, means, Matrix(4, 2, 1.0));
}

struct Workload {
  SavedModel model;
  Matrix x;              // points x d
  bool peer_written = false;
};

// Trains once per d (a few seconds, not timed).
Workload& workload(std::size_t d) {
  static std::map<std::size_t, Workload> cache;
  const auto found = cache.find(d);
  if (found != cache.end()) return found->second;
  Workload w;
  DsmSetup setup;
  setup.schedule = default_schedule(ScheduleKind::ou);
  const GaussianMixture p0 = target(d);
  RandomFeatures rf =
      draw_random_features(m, d, fourier_embedding(16, 30.0, seed), Activation::relu, FeatureInit::sphere, seed);
  const Matrix train = p0.sample(1000, seed, streams::training_data);
  const QuadraticLoss loss = gram_matrices(rf, *empirical_monte_carlo(train, 64, setup, seed));
  const GradientFlow flow(loss);
  const auto [shortest, longest] = flow.timescale_range();
  const double tau = std::sqrt(shortest * longest);
  w.model.features = std::move(rf);
  w.model.setup = setup;
  w.model.tau = {tau};
  w.model.weights = {flow.weights(tau)};
  w.x = p0.sample(points, seed, streams::test_data);
  return cache.emplace(d, std::move(w)).first->second;
}

std::filesystem::path peer_dir() {
  if (const char* dir = std::getenv("GENGAP_LIKELIHOOD_PEER_DIR")) return dir;
  const char* tmp = std::getenv("TMPDIR");
  return std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / "gengap_likelihood_peer";
}

void write_peer_files(std::size_t d, Workload& w, const LikelihoodResult& r) {
  const std::filesystem::path dir = peer_dir() / ("d" + std::to_string(d));
  std::filesystem::create_directories(dir);
  save_model(dir / "model", w.model);
  write_npy(dir / "x.npy", w.x);
  write_npy(dir / "logp.npy", r.log_p);
  std::vector<double> evaluations;
  for (const TrajectoryStats& s : r.stats) evaluations.push_back(static_cast<double>(s.rhs_evaluations));
  write_npy(dir / "evaluations.npy", evaluations);
  w.peer_written = true;
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void BM_LogLikelihood(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  Workload& w = workload(d);
  const ScoreDivergenceField score = random_feature_score(w.model.features, w.model.weights[0], w.model.setup);
  LikelihoodOptions options;
  options.method = "dopri5";
  options.rtol = 1e-5;
  options.atol = 1e-5;
  tbb::task_arena arena(threads);
  LikelihoodResult r;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    arena.execute([&] { r = log_likelihood(w.model.setup.schedule, score, w.x, options); });
    benchmark::DoNotOptimize(r.log_p.data());
  }
  state.counters["process_cpu_s"] = (process_cpu_seconds() - cpu_start) / static_cast<double>(state.iterations());
  std::size_t max_evaluations = 0, failed = 0;
  for (const TrajectoryStats& s : r.stats) {
    max_evaluations = std::max(max_evaluations, s.rhs_evaluations);
    failed += s.status != TrajectoryStatus::success;
  }
  state.counters["evals_per_point"] = r.mean_evaluations_per_point();
  state.counters["evals_max"] = static_cast<double>(max_evaluations);
  state.counters["failed"] = static_cast<double>(failed);
  state.counters["mean_log_p"] = r.mean_log_p();
  state.counters["point_evals/s"] = benchmark::Counter(static_cast<double>(r.total_rhs_evaluations),
                                                       benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * points));
  state.SetLabel("tau=" + std::to_string(w.model.tau[0]));
  if (!w.peer_written) write_peer_files(d, w, r);
}
BENCHMARK(BM_LogLikelihood)
    ->ArgNames({"d", "threads"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({2, 1})
    ->Args({2, 2})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

}  // namespace
